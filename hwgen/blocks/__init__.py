"""The blocks; importing this package registers every one of them."""

from . import mxu  # noqa: F401

__all__ = ["mxu"]
