"""Finding memories by meaning and by words, and answering from them: the values every search side shares.

A search has two sides: keyword (BM25 over any of the query's words, in the store) and semantic (nearest vectors,
in the vector index). Hybrid fuses their rankings by reciprocal rank (RRF): a memory ranked high by either side
rises, one ranked by both rises most, and neither side's score scale matters, only its order. Filters are applied
inside each side, so a filter never empties a truncated top-k.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from memo.domain.jobs import Job
from memo.domain.memory import Memory, MemoryType, Source

RRF_K = 60  # the constant of Cormack et al.; large enough that the first few ranks of each side stay close
INDEX_MEMORY_JOB = "memory.index"  # payload: {"memoryIds": [...]}; embeds the memories' current content
DELETE_VECTORS_JOB = "memory.delete_vectors"  # payload: {"memoryIds": [...]}; the memories are gone


class SearchMode(StrEnum):
    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchFilters:
    type: MemoryType | None = None
    tags: tuple[str, ...] = ()  # every one must be on the memory, in their stored (lower-cased) form
    source: Source | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def admits(self, memory: Memory) -> bool:
        return ((self.type is None or memory.type is self.type)
                and set(self.tags).issubset(memory.tags)
                and (self.source is None or memory.source is self.source)
                and (self.created_after is None or memory.created_at > self.created_after)
                and (self.created_before is None or memory.created_at < self.created_before))


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorEntry:
    """A memory's vector with what the index filters on, so filters run inside the index."""

    memory_id: UUID
    owner_id: UUID
    vector: Sequence[float]  # unit length: cosine similarity is the dot product
    type: MemoryType
    tags: tuple[str, ...]
    source: Source
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One side's finding: a memory id and that side's score (higher is better; scales differ between sides)."""

    memory_id: UUID
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Fused:
    memory_id: UUID
    score: float
    matched_by: frozenset[str]  # the sides that found it: "keyword", "semantic"


def fuse(rankings: Mapping[str, Sequence[Hit]], *, k: int = RRF_K) -> list[Fused]:
    """Reciprocal rank fusion of best-first rankings: score = sum over sides of 1 / (k + rank), rank from 1.

    Ties keep the order in which memories were first found, side by side in the order given.
    """
    scores: dict[UUID, float] = {}
    sides: dict[UUID, set[str]] = {}
    for side, hits in rankings.items():
        for rank, hit in enumerate(hits, start=1):
            scores[hit.memory_id] = scores.get(hit.memory_id, 0.0) + 1.0 / (k + rank)
            sides.setdefault(hit.memory_id, set()).add(side)
    order = {memory_id: position for position, memory_id in enumerate(scores)}
    ranked = sorted(scores, key=lambda memory_id: (-scores[memory_id], order[memory_id]))
    return [Fused(memory_id=memory_id, score=scores[memory_id], matched_by=frozenset(sides[memory_id]))
            for memory_id in ranked]


def content_hash(memory: Memory) -> str:
    """What the index holds of a memory: its text and the fields it filters on. The same fingerprint is never
    embedded twice for one model; an edit of metadata only (which the index does not hold) changes nothing."""
    held = "\x1f".join((memory.content, memory.type.value, "\x1e".join(memory.tags), memory.source.value,
                        memory.created_at.isoformat()))
    return hashlib.sha256(held.encode("utf-8", "surrogatepass")).hexdigest()


def index_job(owner_id: UUID, memory_ids: Sequence[UUID], *, id: UUID, now: datetime) -> Job:  # noqa: A002
    """The job that brings the vector index up to date with these memories, committed with the write."""
    return Job.new(id=id, kind=INDEX_MEMORY_JOB, owner_id=owner_id, now=now,
                   payload={"memoryIds": [str(memory_id) for memory_id in memory_ids]})


def delete_vectors_job(owner_id: UUID, memory_ids: Sequence[UUID], *, id: UUID, now: datetime) -> Job:  # noqa: A002
    return Job.new(id=id, kind=DELETE_VECTORS_JOB, owner_id=owner_id, now=now,
                   payload={"memoryIds": [str(memory_id) for memory_id in memory_ids]})


def job_memory_ids(job: Job) -> tuple[UUID, list[UUID]]:
    """The owner and memory ids an index or delete job names; ValueError for a payload no Memo wrote."""
    raw = job.payload.get("memoryIds")
    if job.owner_id is None or not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError("an index job names its owner and a list of memory ids")
    return job.owner_id, [UUID(item) for item in raw]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexState:
    """What the vector index holds for a memory: the model that embedded it and the hash of the text it saw."""

    memory_id: UUID
    owner_id: UUID
    model: str
    content_hash: str
    memory_version: int  # the version it was checked at: the stores compare versions, not hashes, to count staleness
    indexed_at: datetime

    def holds(self, memory: Memory, model: str) -> bool:
        """Whether the index already has what it needs of this memory for `model`."""
        return self.model == model and self.content_hash == content_hash(memory)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredMemory:
    memory: Memory
    score: float
    matched_by: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    hits: Sequence[ScoredMemory]
    degraded_reason: str | None = None  # set when hybrid answered from keywords alone, and why

    @property
    def degraded(self) -> bool:
        return self.degraded_reason is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerSource:
    memory_id: UUID
    quote: str  # the words of the memory the answer rests on
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """An answer from the caller's memories; no sources means the memories do not hold the answer."""

    text: str
    sources: tuple[AnswerSource, ...] = ()

    @property
    def citations(self) -> tuple[UUID, ...]:
        return tuple(dict.fromkeys(source.memory_id for source in self.sources))

    @property
    def knows(self) -> bool:
        return bool(self.sources)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    text: str
    language: str | None = None  # ISO 639-1, when the transcriber tells
