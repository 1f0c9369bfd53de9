"""The vector index on Pinecone, through the official SDK's asyncio data-plane client (`pinecone.AsyncIndex`).

Why it is shaped the way it is:

* One namespace per owner (`owner-<uuid>`): a query can only ever search one owner's vectors, so isolation never
  rests on a filter being right.
* Each vector carries what search filters on, so filters run inside the index and never after a truncated top-k:
  `type`, `source`, `tags` (a list of strings, left out when empty: Pinecone stores no empty or null values) and
  `created_at` as epoch seconds, a number, so date ranges are `$gt`/`$lt`. Pinecone has no `$all`; `$in` over a
  list field matches when the two share an element, so "every tag" is an `$and` of one `$in` per tag.
* `AsyncIndex` (httpx underneath) rather than the blocking `Index` on a thread: cancellation and `asyncio.timeout`
  reach the socket, and no thread pool is held. The SDK retries 408, 429, 5xx and transport errors on its own
  (3 retries, jittered backoff that honours Retry-After) and takes no retry setting for the data plane, so every
  request also runs under `deadline_s`: a search waits at most that long before it is told the index is down.
* The index is checked at first use (`describe_index_stats`): a dimension other than the embedder's, or a metric
  that is not cosine, is a `VectorIndexUnavailable` naming both, raised again on every call until the index is
  fixed (nothing is cached but success), so hybrid search degrades loudly and index jobs retry, then park.
* Upserts go in batches of at most `batch_size` vectors and `max_request_bytes` of JSON, under Pinecone's
  1000 vectors and 2 MB a request (1536 floats as JSON are about 30 KB, so size is the limit that binds).
* The API key is held by the SDK client alone (its own repr masks it); no message here carries it, and Pinecone's
  error text is cut to one short line with the key removed, should it ever be quoted back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from pinecone import AsyncIndex
from pinecone.errors import (
    ApiError,
    ForbiddenError,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)

from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry

MAX_VECTORS_PER_UPSERT = 1000  # Pinecone's limits for one request
MAX_UPSERT_BYTES = 2 * 1024 * 1024
MAX_IDS_PER_DELETE = 1000
MAX_TOP_K = 10_000
DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_REQUEST_BYTES = 1_500_000  # a margin under 2 MB: the SDK's encoder may spell a float longer than ours
_MESSAGE_CHARS = 200
_BODY_OVERHEAD_BYTES = 128  # {"vectors":[...],"namespace":"owner-<uuid>"} around the records
T = TypeVar("T")


def namespace_of(owner_id: UUID) -> str:
    return f"owner-{owner_id}"


def epoch_s(moment: datetime) -> float:
    """Seconds since the epoch; a naive time is read as UTC. Float64 keeps microseconds apart at today's dates."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def metadata_of(entry: VectorEntry) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": entry.type.value, "source": entry.source.value,
                                "created_at": epoch_s(entry.created_at)}
    if entry.tags:
        metadata["tags"] = list(entry.tags)
    return metadata


def filter_of(filters: SearchFilters) -> dict[str, Any] | None:
    """SearchFilters in Pinecone's metadata filter language; None when nothing is filtered."""
    clauses: list[dict[str, Any]] = []
    if filters.type is not None:
        clauses.append({"type": {"$eq": filters.type.value}})
    if filters.source is not None:
        clauses.append({"source": {"$eq": filters.source.value}})
    clauses.extend({"tags": {"$in": [tag]}} for tag in dict.fromkeys(filters.tags))
    if filters.created_after is not None:
        clauses.append({"created_at": {"$gt": epoch_s(filters.created_after)}})
    if filters.created_before is not None:
        clauses.append({"created_at": {"$lt": epoch_s(filters.created_before)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class _Scrubber:
    """Knows the API key only to cut it out of text; shows nothing of it in a repr."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "<api key>"

    def __call__(self, text: str) -> str:
        flat = " ".join(text.replace(self._key, "[redacted]").split())
        return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"


class PineconeVectorIndex(VectorIndex):
    """One Pinecone index (dense, cosine, of the embedder's dimension) at its data-plane host."""

    def __init__(self, *, api_key: str, host: str, dimensions: int, timeout_s: float = 5.0, deadline_s: float = 10.0,
                 batch_size: int = DEFAULT_BATCH_SIZE, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        """`timeout_s` bounds one HTTP attempt, `deadline_s` one request with the SDK's retries of it."""
        if not api_key.strip():
            raise ValueError("a Pinecone API key is required (PINECONE_API_KEY)")
        if not host.strip():
            raise ValueError("the Pinecone index host is required (PINECONE_INDEX_HOST)")
        if dimensions < 1:
            raise ValueError(f"the embedder's dimensions must be positive, not {dimensions}")
        if not 0 < timeout_s <= deadline_s:
            raise ValueError(f"Pinecone timeouts need 0 < timeout_s <= deadline_s, not {timeout_s} and {deadline_s}")
        if not 1 <= batch_size <= MAX_VECTORS_PER_UPSERT:
            raise ValueError(f"the Pinecone batch size must be 1..{MAX_VECTORS_PER_UPSERT}, not {batch_size}")
        if not 1 <= max_request_bytes <= MAX_UPSERT_BYTES:
            raise ValueError(f"the Pinecone request size must be 1..{MAX_UPSERT_BYTES} bytes, not {max_request_bytes}")
        self._scrub = _Scrubber(api_key)
        try:
            self._index = AsyncIndex(host=host.strip(), api_key=api_key, timeout=timeout_s, source_tag="memo")
        except PineconeError as exc:  # the SDK's messages name the host or the rule, never the key
            raise ValueError(f"Pinecone index client: {self._scrub(str(exc))}") from None
        self._host = self._index.host
        self._dimensions = dimensions
        self._timeout_s = timeout_s
        self._deadline_s = deadline_s
        self._batch_size = batch_size
        self._max_request_bytes = max_request_bytes
        self._checked = False
        self._check_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self._host!r}, dimensions={self._dimensions})"

    async def aclose(self) -> None:
        await self._index.close()

    async def upsert(self, entries: Sequence[VectorEntry]) -> None:
        if not entries:
            return
        by_namespace: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in entries:  # the last entry for a memory wins, as it would across two calls
            by_namespace.setdefault(namespace_of(entry.owner_id), {})[str(entry.memory_id)] = {
                "id": str(entry.memory_id), "values": self._values(entry.vector), "metadata": metadata_of(entry)}
        await self._ready()
        for namespace, records in by_namespace.items():
            for batch in self._batches(list(records.values())):
                await self._call("upsert", self._index.upsert(vectors=batch, namespace=namespace,
                                                              timeout=self._timeout_s))

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        if limit < 1:
            return []
        values = self._values(vector)
        await self._ready()
        response = await self._call("query", self._index.query(
            top_k=min(limit, MAX_TOP_K), vector=values, namespace=namespace_of(owner_id), filter=filter_of(filters),
            include_values=False, include_metadata=False, timeout=self._timeout_s))
        hits: list[Hit] = []
        for match in response.matches:
            try:
                memory_id = UUID(match.id)
            except ValueError:
                continue  # not a vector Memo wrote
            hits.append(Hit(memory_id=memory_id, score=float(match.score)))
        hits.sort(key=lambda hit: -hit.score)  # Pinecone answers best first; stable, so ties keep its order
        return hits[:limit]

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        ids = list(dict.fromkeys(str(memory_id) for memory_id in memory_ids))
        if not ids:
            return
        await self._ready()
        namespace = namespace_of(owner_id)
        for start in range(0, len(ids), MAX_IDS_PER_DELETE):
            batch = ids[start:start + MAX_IDS_PER_DELETE]
            try:
                await self._call("delete", self._index.delete(ids=batch, namespace=namespace, timeout=self._timeout_s),
                                 not_found_ok=True)
            except _NamespaceGone:
                return  # a serverless index answers 404 for a namespace it no longer (or never) held: nothing to do

    # --- the parts ---------------------------------------------------------------------------------------------

    def _values(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self._dimensions:
            raise ValueError(f"a {len(vector)}-dimensional vector for a {self._dimensions}-dimensional index")
        values = [float(value) for value in vector]
        if not all(map(math.isfinite, values)):
            raise ValueError("a vector with a NaN or infinite component")
        return values

    def _batches(self, records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Consecutive runs of at most `batch_size` records and `max_request_bytes` of JSON (one record always goes)."""
        batch: list[dict[str, Any]] = []
        size = _BODY_OVERHEAD_BYTES
        for record in records:
            record_size = len(msgspec.json.encode(record)) + 1
            if batch and (len(batch) == self._batch_size or size + record_size > self._max_request_bytes):
                yield batch
                batch, size = [], _BODY_OVERHEAD_BYTES
            batch.append(record)
            size += record_size
        if batch:
            yield batch

    async def _ready(self) -> None:
        """Check the index once, at first use: its dimension is the embedder's and its metric cosine."""
        if self._checked:
            return
        async with self._check_lock:
            if self._checked:
                return
            stats = await self._call("describe_index_stats", self._index.describe_index_stats(timeout=self._timeout_s))
            if stats.dimension != self._dimensions:
                held = (f"{stats.dimension}-dimensional vectors" if stats.dimension is not None
                        else "no dense vectors")
                raise VectorIndexUnavailable(
                    f"The Pinecone index at {self._host} holds {held}, but the embedder makes "
                    f"{self._dimensions}-dimensional ones: point PINECONE_INDEX_HOST at an index of dimension "
                    f"{self._dimensions}, or configure the embedder to match.")
            if stats.metric is not None and stats.metric.lower() != "cosine":
                raise VectorIndexUnavailable(
                    f"The Pinecone index at {self._host} ranks by {stats.metric}, but Memo's scores are cosine "
                    "similarities: use an index created with metric cosine.")
            self._checked = True

    async def _call(self, what: str, request: Awaitable[T], *, not_found_ok: bool = False) -> T:
        """One SDK request under the deadline, its failures turned into VectorIndexUnavailable without the key."""
        try:
            async with asyncio.timeout(self._deadline_s):
                return await request
        except PineconeTimeoutError:
            message = (f"Pinecone did not answer the {what} at {self._host} within {self._timeout_s:g} s "
                       "(each attempt); retry shortly.")
        except TimeoutError:
            message = (f"Pinecone did not complete the {what} at {self._host} within {self._deadline_s:g} s "
                       "(all attempts); retry shortly.")
        except NotFoundError as exc:
            if not_found_ok:
                raise _NamespaceGone from None
            message = (f"Pinecone has no index at {self._host} (HTTP 404 on the {what}: "
                       f"{self._scrub(exc.message)}); check PINECONE_INDEX_HOST.")
        except (ApiError, PineconeConnectionError, ResponseParsingError) as exc:
            message = self._refusal(what, exc)
        raise VectorIndexUnavailable(message) from None

    def _refusal(self, what: str, exc: PineconeError) -> str:
        if isinstance(exc, UnauthorizedError | ForbiddenError):
            return (f"Pinecone refused the API key (HTTP {exc.status_code}) for the index at {self._host}: "
                    "check PINECONE_API_KEY, and that it belongs to the project holding the index.")
        if isinstance(exc, RateLimitError):
            return f"Pinecone is rate limiting the {what} at {self._host} (HTTP 429); retry shortly."
        if isinstance(exc, ServiceError):
            return (f"Pinecone failed the {what} at {self._host} (HTTP {exc.status_code}: "
                    f"{self._scrub(exc.message)}); retry shortly.")
        if isinstance(exc, ApiError):
            return f"Pinecone refused the {what} at {self._host} (HTTP {exc.status_code}: {self._scrub(exc.message)})."
        if isinstance(exc, PineconeConnectionError):
            return f"Pinecone could not be reached at {self._host} ({self._scrub(exc.message)}); retry shortly."
        return f"Pinecone answered the {what} at {self._host} with something that is not Pinecone's answer."


class _NamespaceGone(Exception):
    """A 404 to a delete: the namespace is not there, so neither are the vectors."""
