"""The package version, in a module of its own that imports nothing: setup.py reads it as text, and
the exports record it."""
__version__ = "0.1.0"
