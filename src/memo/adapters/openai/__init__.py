"""OpenAI through its official SDK: embeddings, answers with citations, transcription."""
