"""The vector index of the embedded default: vectors in the SQLite file of the memories, searched exactly with numpy.

Writes: each `upsert` / `delete` is one short transaction of its own on the memories' engine, opened with
`BEGIN IMMEDIATE` so it holds the file's write lock from its first statement. The indexing job runs embed ->
upsert -> record the index state: the vectors commit before the state says they exist, so a crash in between
leaves a memory that looks unindexed and is embedded again on retry; the reverse (a state without its vectors)
cannot happen. An upsert keeps only the vectors of memories that exist and belong to the owner named in the
entry, read under that same lock: a memory deleted while it was being embedded gets no vector (a foreign-key
error would fail the whole batch), and a vector can never be filed under another owner.

Reads: one `OwnerVectors` (a float32 matrix and filter columns, `exact.py`) per owner, loaded from the table on
the owner's first query and then changed in place by every write made through this instance, so keep one
instance per process (APP scope). Large owners are searched in a worker thread, so the event loop stays free.

Staying in step with other writers (`memo worker` beside the API, the other workers of `memo serve`, a cascade
from a deleted memory), with the change count of migration 0007: every write moves the owner's count on (an
upsert stamps its rows with the new count, a delete leaves a tombstone at it, by trigger). Each query reads the
owner's count, one primary-key lookup; when it is not the count the array is at, the query first reads what
changed since (rows stamped later, tombstones laid later: a range scan each) and applies it, or reloads the owner
when its tombstones were pruned past that point. A write through this instance reads the count before and after
its changes under its write lock: if the array was at the count before, it applies the same changes and moves
to the count after; otherwise it leaves the array behind, for the next query to catch up. Chosen over
`PRAGMA data_version` (it moves on any write to the file, every memory and job, and says nothing of what
changed) and over max(rowid)/count (blind to a replaced vector).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from functools import lru_cache, partial
from typing import Any
from uuid import UUID

import numpy as np
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.adapters.sqlite_writer import writing
from memo.adapters.vectors.exact import (
    SOURCE_CODES,
    TYPE_CODES,
    UNKNOWN_CODE,
    Columns,
    OwnerVectors,
    unit_rows,
    unit_vector,
)
from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry

OFFLOAD_ROWS = 20_000  # an owner with more rows is searched in a worker thread (~1.6 ms of numpy at 20,000)
READ_CHUNK_ROWS = 5_000  # rows read per statement when loading or catching up; the loop runs between chunks
TOMBSTONES_KEPT = 10_000  # per owner; a process further behind than that reloads the owner instead
_IDS_PER_STATEMENT = 500  # ids in one IN (...) list, well under SQLite's limit on bound parameters
_LAST_ROWID = 2**63 - 1
_TRANSIENT_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL",
                            "SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOMEM", "SQLITE_INTERRUPT")

# Raw statements on GUID's 16 bytes and DateTimeUTC's text (their SQLite forms, as the memories are stored): an
# indexing batch or an owner's load is then a few statements, without a Python object per row and column.
# `+owner_id` keeps SQLite on the primary key for an IN list of ids: without statistics its planner would rather
# scan the owner's whole index.
_COUNTS = "SELECT generation, pruned_through FROM memory_vector_generations WHERE owner_id = ?"
_COUNTS_OF = "SELECT owner_id, generation FROM memory_vector_generations WHERE owner_id IN ({ids})"
_BUMP = ("INSERT INTO memory_vector_generations (owner_id, generation, pruned_through) VALUES (?, 1, 0) "
         "ON CONFLICT (owner_id) DO UPDATE SET generation = generation + 1 RETURNING generation")
_OWNERS_OF = "SELECT id, owner_id FROM memories WHERE id IN ({ids})"
_UPSERT = (
    "INSERT INTO memory_vectors (memory_id, owner_id, model, dimensions, vector, type, tags, source, created_at, "
    "generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (memory_id) DO UPDATE SET "
    "owner_id = excluded.owner_id, model = excluded.model, dimensions = excluded.dimensions, "
    "vector = excluded.vector, type = excluded.type, tags = excluded.tags, source = excluded.source, "
    "created_at = excluded.created_at, generation = excluded.generation")
_DELETE = "DELETE FROM memory_vectors WHERE memory_id IN ({ids}) AND +owner_id = ?"
_PRUNE_FROM = ("SELECT generation FROM memory_vector_tombstones WHERE owner_id = ? "
               "ORDER BY generation DESC LIMIT 1 OFFSET ?")
_PRUNE = "DELETE FROM memory_vector_tombstones WHERE owner_id = ? AND generation <= ?"
_PRUNED = "UPDATE memory_vector_generations SET pruned_through = max(pruned_through, ?) WHERE owner_id = ?"
_COUNT = "SELECT count(*) FROM memory_vectors WHERE owner_id = ?"
_CHANGED = ("SELECT generation, rowid, memory_id, model, dimensions, vector, type, tags, source, created_at "
            "FROM memory_vectors WHERE owner_id = ? AND (generation, rowid) > (?, ?) "
            "ORDER BY generation, rowid LIMIT ?")
_TOMBSTONED = "SELECT memory_id FROM memory_vector_tombstones WHERE owner_id = ? AND generation > ?"


@dataclass(slots=True)
class _Owner:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    vectors: OwnerVectors | None = None  # None until the owner's first query
    generation: int = 0  # the owner's change count `vectors` reflects


@dataclass(frozen=True, slots=True)
class _Written:
    before: int
    after: int
    change: Callable[[OwnerVectors], None]


class SqliteVectorIndex(VectorIndex):
    """Serves one model: its vectors are written with `model` and `dimensions`, other models' rows are ignored."""

    def __init__(self, engine: AsyncEngine, *, model: str, dimensions: int, offload_rows: int = OFFLOAD_ROWS) -> None:
        if engine.dialect.name != "sqlite":
            msg = f"SqliteVectorIndex needs a SQLite engine, not {engine.dialect.name}"
            raise ValueError(msg)
        if dimensions < 1:
            msg = "dimensions must be at least 1"
            raise ValueError(msg)
        self._engine, self._model, self._dimensions = engine, model, dimensions
        self._offload_rows = offload_rows
        created_at = DateTimeUTC(timezone=True)  # written as the memories' times are: UTC text, microseconds
        self._time = created_at.dialect_impl(engine.dialect).bind_processor(engine.dialect) or str
        self._owners: dict[UUID, _Owner] = {}

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def upsert(self, entries: Sequence[VectorEntry]) -> None:
        batch = list({entry.memory_id: entry for entry in entries}.values())  # one per memory: the last one wins
        matrix = unit_rows([entry.vector for entry in batch], self._dimensions)
        if not batch:
            return
        with _unavailable_on_outage():
            async with writing(self._engine) as connection:  # the process's one writer holds the write lock
                owners_of = await _owners_of(connection, [entry.memory_id for entry in batch])
                by_owner: dict[UUID, list[int]] = {}
                for row, entry in enumerate(batch):
                    if owners_of.get(entry.memory_id.bytes) == entry.owner_id.bytes:
                        by_owner.setdefault(entry.owner_id, []).append(row)
                before = await _counts_of(connection, list(by_owner))
                stamps = {owner_id: await _bump(connection, owner_id) for owner_id in by_owner}
                if by_owner:
                    await connection.exec_driver_sql(_UPSERT, [
                        self._values(batch[row], matrix[row], stamps[owner_id])
                        for owner_id, rows in by_owner.items() for row in rows])
        for owner_id, rows in by_owner.items():
            columns = Columns.of([batch[row] for row in rows], matrix[rows])
            await self._follow(owner_id, _Written(before.get(owner_id, 0), stamps[owner_id],
                                                  partial(OwnerVectors.put, columns=columns)))

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return
        with _unavailable_on_outage():
            async with writing(self._engine) as connection:  # the process's one writer holds the write lock
                before, _ = await _counts(connection, owner_id)
                for chunk in _chunks(ids):
                    await connection.exec_driver_sql(_in(_DELETE, chunk), (*_blobs(chunk), owner_id.bytes))
                after, _ = await _counts(connection, owner_id)
                if after != before:
                    await _prune(connection, owner_id)
        await self._follow(owner_id, _Written(before, after, partial(OwnerVectors.remove, memory_ids=ids)))

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        query = unit_vector(vector, self._dimensions)
        if limit <= 0:
            return []
        owner = self._owners.get(owner_id) or self._owners.setdefault(owner_id, _Owner())
        async with owner.lock:
            with _unavailable_on_outage():
                vectors = await self._in_step(owner_id, owner)
            if vectors.slots > self._offload_rows:
                found = await asyncio.to_thread(vectors.search, query, limit, filters)
            else:
                found = vectors.search(query, limit, filters)
        return [Hit(memory_id=memory_id, score=score) for memory_id, score in found]

    def _values(self, entry: VectorEntry, unit: np.ndarray, generation: int) -> tuple[Any, ...]:
        created_at = entry.created_at if entry.created_at.tzinfo is not None else entry.created_at.replace(tzinfo=UTC)
        return (entry.memory_id.bytes, entry.owner_id.bytes, self._model, self._dimensions,
                unit.astype("<f4").tobytes(), str(entry.type), json.dumps(list(entry.tags)), str(entry.source),
                self._time(created_at), generation)

    async def _follow(self, owner_id: UUID, write: _Written) -> None:
        """Apply this instance's own write to the owner's array if nobody else wrote since the array's count."""
        owner = self._owners.get(owner_id)
        if owner is None:
            return
        async with owner.lock:
            if owner.vectors is not None and owner.generation == write.before != write.after:
                write.change(owner.vectors)
                owner.generation = write.after

    async def _in_step(self, owner_id: UUID, owner: _Owner) -> OwnerVectors:
        """The owner's array at the table's current count: caught up, or loaded, in one read snapshot."""
        async with self._engine.connect() as connection:
            generation, pruned_through = await _counts(connection, owner_id)
            if owner.vectors is not None and owner.generation == generation:
                return owner.vectors
            await connection.exec_driver_sql("BEGIN")  # deferred: one read snapshot from the next SELECT on
            try:
                generation, pruned_through = await _counts(connection, owner_id)
                vectors, since = owner.vectors, owner.generation
                if vectors is None or since < pruned_through:
                    count = (await connection.exec_driver_sql(_COUNT, (owner_id.bytes,))).scalar_one()
                    vectors, since = OwnerVectors(self._dimensions, capacity=count), 0
                owner.vectors = None  # until caught up: a half-applied array is loaded afresh by the next query
                await self._apply_changes(connection, owner_id, vectors, since=since)
                owner.vectors, owner.generation = vectors, generation
            finally:
                await connection.rollback()
        return vectors

    async def _apply_changes(self, connection: AsyncConnection, owner_id: UUID, vectors: OwnerVectors, *,
                             since: int) -> None:
        """Rows written after count `since` replace theirs (another model's or size's only remove them), then
        tombstones laid after it remove what was not written again."""
        tombstoned: set[bytes] = set()
        if since:
            tombstoned = {row[0] for row in await _rows(connection, _TOMBSTONED, (owner_id.bytes, since))}
        key = (since, _LAST_ROWID)
        while True:
            rows = await _rows(connection, _CHANGED, (owner_id.bytes, *key, READ_CHUNK_ROWS))
            if not rows:
                break
            mine: list[Any] = []
            others: list[Any] = []
            for row in rows:
                (mine if self._serves(row) else others).append(row)
            vectors.remove([row[2] for row in others])
            if mine:
                vectors.put(_columns(mine, self._dimensions))
            tombstoned.difference_update(row[2] for row in rows)
            key = (rows[-1][0], rows[-1][1])
            if len(rows) < READ_CHUNK_ROWS:
                break
            await asyncio.sleep(0)
        vectors.remove(list(tombstoned))

    def _serves(self, row: Sequence[Any]) -> bool:
        return bool(row[3] == self._model and row[4] == self._dimensions and len(row[5]) == 4 * self._dimensions)


def _columns(rows: Sequence[Any], dimensions: int) -> Columns:
    count = len(rows)
    return Columns(
        ids=[row[2] for row in rows],
        matrix=np.frombuffer(b"".join(row[5] for row in rows), dtype="<f4").reshape(count, dimensions),
        types=np.fromiter((TYPE_CODES.get(row[6], UNKNOWN_CODE) for row in rows), np.int8, count),
        tags=[_tags(row[7]) for row in rows],
        sources=np.fromiter((SOURCE_CODES.get(row[8], UNKNOWN_CODE) for row in rows), np.int8, count),
        created=np.array([row[9] for row in rows], dtype="datetime64[us]").astype(np.int64))


@lru_cache(maxsize=4_096)
def _tags(stored: str) -> tuple[str, ...]:
    """The stored JSON list (or plain string) of tags; memories share few distinct sets, so each is parsed once."""
    tags = json.loads(stored)
    return (tags,) if isinstance(tags, str) else tuple(tags)


async def _rows(connection: AsyncConnection, statement: str, parameters: tuple[Any, ...]) -> Sequence[Any]:
    rows: Sequence[Any] = (await connection.exec_driver_sql(statement, parameters)).all()
    return rows


async def _counts(connection: AsyncConnection, owner_id: UUID) -> tuple[int, int]:
    """(generation, pruned_through) of the owner; (0, 0) before its first write."""
    found = await _rows(connection, _COUNTS, (owner_id.bytes,))
    return (int(found[0][0]), int(found[0][1])) if found else (0, 0)


async def _counts_of(connection: AsyncConnection, owner_ids: Sequence[UUID]) -> dict[UUID, int]:
    if not owner_ids:
        return {}
    rows = await _rows(connection, _in(_COUNTS_OF, owner_ids), tuple(_blobs(owner_ids)))
    return {UUID(bytes=row[0]): int(row[1]) for row in rows}


async def _bump(connection: AsyncConnection, owner_id: UUID) -> int:
    return int((await connection.exec_driver_sql(_BUMP, (owner_id.bytes,))).scalar_one())


async def _owners_of(connection: AsyncConnection, memory_ids: Sequence[UUID]) -> dict[bytes, bytes]:
    """memory id -> owner id (both as bytes) of the memories that exist among `memory_ids`."""
    found: dict[bytes, bytes] = {}
    for chunk in _chunks(memory_ids):
        found.update((row[0], row[1]) for row in await _rows(connection, _in(_OWNERS_OF, chunk), tuple(_blobs(chunk))))
    return found


async def _prune(connection: AsyncConnection, owner_id: UUID) -> None:
    """Keep the owner's last TOMBSTONES_KEPT tombstones and say how far the dropped ones reached."""
    cutoff = (await connection.exec_driver_sql(_PRUNE_FROM, (owner_id.bytes, TOMBSTONES_KEPT))).scalar_one_or_none()
    if cutoff is not None:
        await connection.exec_driver_sql(_PRUNE, (owner_id.bytes, cutoff))
        await connection.exec_driver_sql(_PRUNED, (cutoff, owner_id.bytes))


def _chunks(ids: Sequence[UUID]) -> Iterator[Sequence[UUID]]:
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[start:start + _IDS_PER_STATEMENT]


def _in(statement: str, ids: Sequence[UUID]) -> str:
    return statement.format(ids=", ".join("?" * len(ids)))


def _blobs(ids: Sequence[UUID]) -> list[bytes]:
    return [memory_id.bytes for memory_id in ids]


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    """A locked, full, unreadable or unreachable file is VectorIndexUnavailable; a missing table stays a bug."""
    try:
        yield
    except (DBAPIError, PoolTimeoutError, DisconnectionError, OSError) as exc:
        if _transient(exc):
            raise VectorIndexUnavailable from exc
        raise


def _transient(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return True
    if error.connection_invalidated:
        return True
    name = getattr(error.orig, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(_TRANSIENT_SQLITE_ERRORS)
