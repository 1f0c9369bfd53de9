"""Prometheus metrics: the registry of every metric Memo keeps, and the decorators that count at the ports."""
