"""Persistence: the SQLite store (one writer) and the blacklist."""
