"""Speech to text in process: faster-whisper with a model shipped in a registry package."""
