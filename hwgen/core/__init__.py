"""Block-independent core: config registry, number formats, stream helpers."""
