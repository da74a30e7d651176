"""hwgen: parameterized, verified RTL for transformer-accelerator blocks."""

__all__ = ["__version__"]

__version__ = "0.1.0"
