"""The package version (a module of its own, so any floor may read it)."""

__version__ = "0.1.0"
