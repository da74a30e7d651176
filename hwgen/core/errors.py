"""The one exception type for user-facing errors (bad config, bad input, tool failure)."""

__all__ = ["HwgenError"]


class HwgenError(Exception):
    """An error the user can fix; the CLI prints its message as one line and exits 1."""
