"""Detectors: what raises alerts about a session (signatures, anomaly model, external IDS)."""
