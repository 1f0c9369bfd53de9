"""Timing decorators of the embedder and the vector index: what a search or an indexing job spends in each."""

from __future__ import annotations

import time
from collections.abc import Sequence
from uuid import UUID

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.application.ports import Embedder, VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry


class MeteredEmbedder(Embedder):
    def __init__(self, inner: Embedder, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        started, ok = time.perf_counter(), False
        try:
            vectors = await self._inner.embed(texts)
            ok = True
            return vectors
        finally:  # a failure, a timeout and a cancelled search (its deadline passed) are all `error`
            self._metrics.embedded(texts=len(texts), ok=ok, seconds=time.perf_counter() - started)


class MeteredVectorIndex(VectorIndex):
    def __init__(self, inner: VectorIndex, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def upsert(self, entries: Sequence[VectorEntry]) -> None:
        started, ok = time.perf_counter(), False
        try:
            await self._inner.upsert(entries)
            ok = True
        finally:
            self._metrics.vector_call("upsert", ok=ok, seconds=time.perf_counter() - started)

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        started, ok = time.perf_counter(), False
        try:
            hits = await self._inner.query(owner_id, vector, limit=limit, filters=filters)
            ok = True
            return hits
        finally:
            self._metrics.vector_call("query", ok=ok, seconds=time.perf_counter() - started)

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        started, ok = time.perf_counter(), False
        try:
            await self._inner.delete(owner_id, memory_ids)
            ok = True
        finally:
            self._metrics.vector_call("delete", ok=ok, seconds=time.perf_counter() - started)
