"""OpenAIEmbedder: batched embeddings through `POST /v1/embeddings`, unit length, named by model and size.

Vectors travel as base64 float32 (a quarter of the JSON floats' size) and are decoded here with numpy; an
OpenAI-compatible server that answers plain floats anyway is read as well. `dimensions` is sent only when it
differs from the model's native size (or the model is not one we know), so `text-embedding-ada-002` and servers
that reject the field keep working at their own size. Every answer is checked (one vector per text, in `index`
order, of the promised size) and L2-normalised again: cheap, and the port promises unit length whoever serves.

A batch holds at most `max_batch_inputs` texts and `max_batch_chars` characters, well inside the API's 2,048
inputs and 300,000 tokens a request; batches go one after another, so a backlog never floods the rate limit.
Every failure is EmbedderUnavailable, a refused input (HTTP 400) included, with a message saying which it was.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import openai

from memo.adapters.openai.client import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    ApiKey,
    failure_message,
    log_failure,
    make_client,
)
from memo.application.errors import EmbedderUnavailable
from memo.application.ports import Embedder

DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536
DEFAULT_MAX_BATCH_INPUTS = 256
DEFAULT_MAX_BATCH_CHARS = 200_000  # a token is rarely less than one character, so this stays under 300,000 tokens
NATIVE_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})  # no `dimensions` parameter


class OpenAIEmbedder(Embedder):
    def __init__(self, *, api_key: str, base_url: str | None = None, model: str = DEFAULT_MODEL,
                 dimensions: int = DEFAULT_DIMENSIONS, timeout_s: float = 30.0,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_batch_inputs: int = DEFAULT_MAX_BATCH_INPUTS,
                 max_batch_chars: int = DEFAULT_MAX_BATCH_CHARS) -> None:
        if not model.strip():
            raise ValueError("an OpenAI embedding model is required (OPENAI_EMBEDDING_MODEL)")
        if dimensions < 1:
            raise ValueError("OpenAI embedding dimensions must be positive (OPENAI_EMBEDDING_DIMENSIONS)")
        native = NATIVE_DIMENSIONS.get(model)
        if model in _FIXED_SIZE_MODELS and dimensions != native:
            raise ValueError(f"{model} makes {native}-dimensional vectors only, not {dimensions}")
        if max_batch_inputs < 1 or max_batch_chars < 1:
            raise ValueError("embedding batches must allow at least one text")
        self._key = ApiKey(api_key)
        self._model = model
        self._dimensions = dimensions
        self._send_dimensions = dimensions != native
        self._timeout_s = timeout_s
        self._attempts = max_retries + 1
        self._max_inputs = max_batch_inputs
        self._max_chars = max_batch_chars
        self._client = make_client(api_key=self._key, base_url=base_url, timeout_s=timeout_s,
                                   connect_timeout_s=connect_timeout_s, max_retries=max_retries)

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self._model!r}, dimensions={self._dimensions}, base_url={self.base_url!r})"

    @property
    def model(self) -> str:
        """Names the vectors: the same model at another size makes vectors that must not be mixed."""
        return f"openai:{self._model}@{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        await self._client.close()

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        if any(not text.strip() for text in texts):
            raise ValueError("OpenAI cannot embed an empty text")
        vectors: list[list[float]] = []
        for batch in _batches(texts, max_inputs=self._max_inputs, max_chars=self._max_chars):
            vectors.extend(_unit_rows(await self._embed_batch(batch)).tolist())
        return vectors

    async def _embed_batch(self, batch: Sequence[str]) -> npt.NDArray[np.float32]:
        try:
            if self._send_dimensions:
                response = await self._client.embeddings.create(model=self._model, input=list(batch),
                                                                dimensions=self._dimensions, encoding_format="base64")
            else:
                response = await self._client.embeddings.create(model=self._model, input=list(batch),
                                                                encoding_format="base64")
        except (openai.OpenAIError, ValueError) as exc:
            message = failure_message(exc, action=f"embeddings ({self._model})", key=self._key,
                                      timeout_s=self._timeout_s, attempts=self._attempts)
            log_failure(message)
            raise EmbedderUnavailable(message) from None
        rows = sorted(response.data, key=lambda item: item.index)
        if [row.index for row in rows] != list(range(len(batch))):
            raise self._unreadable(f"{len(rows)} vectors (indexes {[row.index for row in rows][:8]}) for "
                                   f"{len(batch)} texts")
        matrix = np.empty((len(batch), self._dimensions), dtype=np.float32)
        for row in rows:
            vector = _decode(row.embedding)
            if vector is None or vector.shape != (self._dimensions,):
                size = "an unreadable vector" if vector is None else f"a {vector.shape[0]}-dimensional vector"
                raise self._unreadable(f"{size} where {self._dimensions} dimensions were expected")
            matrix[row.index] = vector
        return matrix

    def _unreadable(self, what: str) -> EmbedderUnavailable:
        message = f"OpenAI answered embeddings ({self._model}) with {what}."
        log_failure(message)
        return EmbedderUnavailable(message)


def _batches(texts: Sequence[str], *, max_inputs: int, max_chars: int) -> list[Sequence[str]]:
    """Consecutive runs of texts within both caps; a text longer than `max_chars` goes alone."""
    batches: list[Sequence[str]] = []
    start, chars = 0, 0
    for end, text in enumerate(texts):
        if end > start and (end - start >= max_inputs or chars + len(text) > max_chars):
            batches.append(texts[start:end])
            start, chars = end, 0
        chars += len(text)
    if start < len(texts):
        batches.append(texts[start:])
    return batches


def _decode(embedding: object) -> npt.NDArray[np.float32] | None:
    """A base64 float32 (little-endian) vector, or the plain floats an OpenAI-compatible server may send."""
    try:
        if isinstance(embedding, str):
            raw = base64.b64decode(embedding, validate=True)
            return None if len(raw) % 4 else np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if isinstance(embedding, list):
            return np.asarray(embedding, dtype=np.float32)
    except (ValueError, TypeError):
        return None
    return None


def _unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        message = "OpenAI answered embeddings with a zero or non-finite vector."
        log_failure(message)
        raise EmbedderUnavailable(message)
    unit: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32, copy=False)
    return unit
