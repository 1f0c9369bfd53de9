"""Embedders that run in process: the local ONNX model of the embedded default, and a deterministic fake."""
