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

Change signal: `memory_vector_generations` (migration 0007) counts each owner's changes; triggers bump it on
every insert, update and delete, whoever writes: this process, another one on the same file (`memo worker`
beside the API, or the other workers of `memo serve`), or a cascade from a deleted memory. Each query reads the
owner's count (one primary-key lookup) and reloads the owner when it is not the count its array is at. A write
through this instance reads the count before and after its changes under its write lock: if the array was at
the count before, it applies the same changes and moves to the count after; otherwise another writer came in
between and the owner is reloaded on its next query. Chosen over `PRAGMA data_version` (which moves on any write
to the file: every memory and job) and over max(rowid)/count (blind to a replaced vector).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

import numpy as np
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.adapters.vectors.exact import (
    SOURCE_CODES,
    TYPE_CODES,
    UNKNOWN_CODE,
    Columns,
    Matrix,
    OwnerVectors,
    unit_rows,
    unit_vector,
)
from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry

OFFLOAD_ROWS = 20_000  # an owner with more rows is searched in a worker thread (~1.6 ms of numpy at 20,000)
LOAD_CHUNK_ROWS = 5_000  # rows read per statement when loading an owner; the loop runs between chunks
_IDS_PER_STATEMENT = 500  # ids in one IN (...) list, well under SQLite's limit on bound parameters
_TRANSIENT_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL",
                            "SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOMEM", "SQLITE_INTERRUPT")

# Raw statements on GUID's 16 bytes and DateTimeUTC's text (their SQLite forms, as the memories are stored): an
# indexing batch or an owner's load is then a few statements, without a Python object per row and column.
# `+owner_id` keeps SQLite on the primary key for an IN list of ids: without statistics its planner would rather
# scan the owner's whole index.
_LOAD = ("SELECT rowid, memory_id, vector, type, tags, source, created_at FROM memory_vectors "
         "WHERE owner_id = ? AND model = ? AND dimensions = ? AND length(vector) = ? AND rowid > ? "
         "ORDER BY rowid LIMIT ?")
_COUNT = "SELECT count(*) FROM memory_vectors WHERE owner_id = ?"
_GENERATION = "SELECT generation FROM memory_vector_generations WHERE owner_id = ?"
_EXISTING = "SELECT id FROM memories WHERE id IN ({ids}) AND +owner_id = ?"
_REPLACED = "DELETE FROM memory_vectors WHERE memory_id IN ({ids})"
_DELETE = "DELETE FROM memory_vectors WHERE memory_id IN ({ids}) AND +owner_id = ?"
_INSERT = ("INSERT INTO memory_vectors (memory_id, owner_id, model, dimensions, vector, type, tags, source, "
           "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(slots=True)
class _Owner:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    vectors: OwnerVectors | None = None  # None: not loaded, or dropped because another writer changed it
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
        by_owner: dict[UUID, list[int]] = {}
        for row, entry in enumerate(batch):
            by_owner.setdefault(entry.owner_id, []).append(row)
        if not batch:
            return
        written: dict[UUID, _Written] = {}
        with _unavailable_on_outage():
            async with self._engine.begin() as connection:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                for owner_id, rows in by_owner.items():
                    before = await _generation(connection, owner_id)
                    existing = await _existing(connection, owner_id, [batch[row].memory_id for row in rows])
                    kept = [row for row in rows if batch[row].memory_id in existing]
                    await self._write(connection, [batch[row] for row in kept], matrix[kept])
                    columns = Columns.of([batch[row] for row in kept], matrix[kept])
                    written[owner_id] = _Written(before, await _generation(connection, owner_id),
                                                 partial(OwnerVectors.put, columns=columns))
        for owner_id, write in written.items():
            await self._follow(owner_id, write)

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        ids = list(dict.fromkeys(memory_ids))
        if not ids:
            return
        with _unavailable_on_outage():
            async with self._engine.begin() as connection:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                before = await _generation(connection, owner_id)
                for chunk in _chunks(ids):
                    await connection.exec_driver_sql(_in(_DELETE, chunk), (*_blobs(chunk), owner_id.bytes))
                after = await _generation(connection, owner_id)
        await self._follow(owner_id, _Written(before, after, partial(OwnerVectors.remove, memory_ids=ids)))

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        query = unit_vector(vector, self._dimensions)
        if limit <= 0:
            return []
        owner = self._owners.get(owner_id) or self._owners.setdefault(owner_id, _Owner())
        async with owner.lock:
            with _unavailable_on_outage():
                async with self._engine.connect() as connection:
                    current = await _generation(connection, owner_id)
                if owner.vectors is None or owner.generation != current:
                    owner.vectors, owner.generation = await self._load(owner_id)
            vectors = owner.vectors
            if vectors.slots > self._offload_rows:
                found = await asyncio.to_thread(vectors.search, query, limit, filters)
            else:
                found = vectors.search(query, limit, filters)
        return [Hit(memory_id=memory_id, score=score) for memory_id, score in found]

    async def _write(self, connection: AsyncConnection, entries: Sequence[VectorEntry], matrix: Matrix) -> None:
        if not entries:
            return
        for chunk in _chunks([entry.memory_id for entry in entries]):
            await connection.exec_driver_sql(_in(_REPLACED, chunk), tuple(_blobs(chunk)))
        await connection.exec_driver_sql(_INSERT, [
            (entry.memory_id.bytes, entry.owner_id.bytes, self._model, self._dimensions, row.astype("<f4").tobytes(),
             str(entry.type), json.dumps(list(entry.tags)), str(entry.source), self._time(_aware(entry.created_at)))
            for entry, row in zip(entries, matrix, strict=True)])

    async def _follow(self, owner_id: UUID, write: _Written) -> None:
        """Bring the owner's array to the count after `write`, or drop it when another writer came in between."""
        owner = self._owners.get(owner_id)
        if owner is None:
            return
        async with owner.lock:
            if owner.vectors is None or owner.generation == write.after:
                return
            if owner.generation == write.before:
                write.change(owner.vectors)
                owner.generation = write.after
            else:
                owner.vectors = None

    async def _load(self, owner_id: UUID) -> tuple[OwnerVectors, int]:
        """The owner's rows of this model and its change count, read in one snapshot, chunk by chunk."""
        width = 4 * self._dimensions
        async with self._engine.connect() as connection:
            await connection.exec_driver_sql("BEGIN")  # deferred: a read snapshot from the first SELECT on
            try:
                generation = await _generation(connection, owner_id)
                count = (await connection.exec_driver_sql(_COUNT, (owner_id.bytes,))).scalar_one()
                vectors = OwnerVectors(self._dimensions, capacity=count)
                after = 0
                while True:
                    rows = (await connection.exec_driver_sql(_LOAD, (
                        owner_id.bytes, self._model, self._dimensions, width, after, LOAD_CHUNK_ROWS))).all()
                    if rows:
                        vectors.put(_columns(rows, self._dimensions))
                        after = rows[-1][0]
                    if len(rows) < LOAD_CHUNK_ROWS:
                        return vectors, generation
                    await asyncio.sleep(0)
            finally:
                await connection.rollback()


def _columns(rows: Sequence[Any], dimensions: int) -> Columns:
    count = len(rows)
    return Columns(
        ids=[UUID(bytes=row[1]) for row in rows],
        matrix=np.frombuffer(b"".join(row[2] for row in rows), dtype="<f4").reshape(count, dimensions),
        types=np.fromiter((TYPE_CODES.get(row[3], UNKNOWN_CODE) for row in rows), np.int8, count),
        tags=[_tags(row[4]) for row in rows],
        sources=np.fromiter((SOURCE_CODES.get(row[5], UNKNOWN_CODE) for row in rows), np.int8, count),
        created=np.array([row[6] for row in rows], dtype="datetime64[us]").astype(np.int64))


def _tags(stored: str) -> tuple[str, ...]:
    tags = json.loads(stored)
    return (tags,) if isinstance(tags, str) else tuple(tags)


async def _generation(connection: AsyncConnection, owner_id: UUID) -> int:
    found = (await connection.exec_driver_sql(_GENERATION, (owner_id.bytes,))).scalar_one_or_none()
    return int(found or 0)


async def _existing(connection: AsyncConnection, owner_id: UUID, memory_ids: Sequence[UUID]) -> set[UUID]:
    found: set[UUID] = set()
    for chunk in _chunks(memory_ids):
        rows = await connection.exec_driver_sql(_in(_EXISTING, chunk), (*_blobs(chunk), owner_id.bytes))
        found.update(UUID(bytes=memory_id) for (memory_id,) in rows)
    return found


def _in(statement: str, ids: Sequence[UUID]) -> str:
    return statement.format(ids=", ".join("?" * len(ids)))


def _blobs(ids: Sequence[UUID]) -> list[bytes]:
    return [memory_id.bytes for memory_id in ids]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _chunks(ids: Sequence[UUID]) -> Iterator[Sequence[UUID]]:
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[start:start + _IDS_PER_STATEMENT]


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
