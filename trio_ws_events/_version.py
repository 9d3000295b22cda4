"""The distribution's version, read by hatchling and by ``trio_ws_events.__version__``."""

__version__ = "0.1.0"
