"""recordcheck engine: read, validate and check a force's crime-recording extracts."""

__version__ = "0.1.0"
