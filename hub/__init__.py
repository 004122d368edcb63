"""审管互动 Hub: routes approval and supervision pushes between departments and tracks claims."""

__version__ = "0.1.0"
