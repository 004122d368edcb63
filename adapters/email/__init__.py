"""Channel adapter (built in a later issue)."""
