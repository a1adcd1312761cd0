"""The package version, kept in code so that a vendored copy without metadata knows it."""

__version__ = "0.1.0"
