"""Embedded mode: the same engine on one machine, with a directory as the store and SQLite as the sink."""
