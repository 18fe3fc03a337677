"""recordcheck engine: read, validate and check a force's crime-recording extracts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recordcheck")
except PackageNotFoundError:  # run from a tree that was never installed
    __version__ = "0+unknown"
