"""Drift between a reference and a current, per column; see ``loopwise.metrics.compare``."""
