"""Answerers that run in process: the extractive one of the embedded default."""
