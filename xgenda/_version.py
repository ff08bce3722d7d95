"""The version of xgenda (read by the build backend and the package)."""

__version__ = "0.1.0"
