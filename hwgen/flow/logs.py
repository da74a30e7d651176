"""Reading tool logs: the one line that says what went wrong."""

from collections.abc import Callable
from pathlib import Path

__all__ = ["error_line"]


def error_line(log: Path, is_error: Callable[[str], bool] = lambda line: "ERROR" in line,
               *, missing: str = "(no log)") -> str:
    """The first line of ``log`` that ``is_error`` accepts, else its last non-empty line
    (``missing`` if the log cannot be read or is empty) — for one-line error messages."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return missing
    for line in lines:
        if is_error(line):
            return line.strip()
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return missing
