"""``python -m hwgen``: the command line (same as the ``hwgen`` script)."""

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
