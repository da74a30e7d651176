"""The files under sim/ are cocotb benches run inside a simulator, not pytest tests."""

__all__ = ["collect_ignore_glob"]

# pytest must not import them (they need the simulator); tests/test_*_cocotb.py runs them.
collect_ignore_glob = ["*.py"]
