"""One VectorIndex contract over the in-memory index and the SQLite one, then what only the SQLite file can show.

The SQLite index runs on a copy of the migrated template of tests/integration/conftest.py, with real memory rows
under its vectors (it keeps vectors of existing memories only), on the same engine the memories use.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.orm import metadata
from memo.adapters.system import TEST_NOW
from memo.adapters.vectors import exact
from memo.adapters.vectors import sqlite as vectors_sqlite
from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.adapters.vectors.sqlite import OFFLOAD_ROWS, SqliteVectorIndex
from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.memory import MemoryType, Source
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)
DIMS = 8
MODEL = "contract-model"
NO_FILTERS = SearchFilters()
LARGE_ROWS = 30_000
LARGE_DIMS = 384


class World:
    """An index and the memories its vectors belong to."""

    name: str
    index: VectorIndex

    async def memories(self, owner_id: UUID, count: int) -> list[UUID]:
        """Ids of `count` new memories of the owner."""
        return [uuid4() for _ in range(count)]

    async def close(self) -> None:
        return None


class InMemoryWorld(World):
    name = "memory"

    def __init__(self, dimensions: int) -> None:
        self.index = InMemoryVectorIndex(dimensions=dimensions)


class SqliteWorld(World):
    name = "sqlite"

    def __init__(self, path: Path, dimensions: int) -> None:
        self.path = path
        self.engine = create_engine(f"sqlite+aiosqlite:///{path}")
        self.dimensions = dimensions
        self.index: SqliteVectorIndex = self.other_index()
        self._owners: set[UUID] = set()
        self._engines = [self.engine]

    def other_index(self, *, engine: AsyncEngine | None = None, model: str = MODEL, dimensions: int | None = None,
                    offload_rows: int = OFFLOAD_ROWS) -> SqliteVectorIndex:
        return SqliteVectorIndex(engine or self.engine, model=model, dimensions=dimensions or self.dimensions,
                                 offload_rows=offload_rows)

    def other_process(self) -> SqliteVectorIndex:
        """An index on an engine of its own, as `memo worker` beside the API would have."""
        engine = create_engine(f"sqlite+aiosqlite:///{self.path}")
        self._engines.append(engine)
        return self.other_index(engine=engine)

    async def memories(self, owner_id: UUID, count: int) -> list[UUID]:
        ids = [uuid4() for _ in range(count)]
        async with self.engine.begin() as connection:
            if owner_id not in self._owners:
                await connection.execute(insert(metadata.tables["owners"]).values(
                    id=owner_id, name=f"owner-{owner_id.hex[-6:]}", created_at=TEST_NOW))
                self._owners.add(owner_id)
            await connection.execute(insert(metadata.tables["memories"]), [
                {"id": memory_id, "owner_id": owner_id, "content": "a memory", "type": "note", "tags": [],
                 "metadata": {}, "source": "api", "created_at": TEST_NOW, "updated_at": TEST_NOW, "version": 1}
                for memory_id in ids])
        return ids

    async def without_full_text(self) -> None:
        """Drop the full-text triggers of this copy: vectors need none, and seeding 30,000 memories is 5x faster."""
        async with self.engine.begin() as connection:
            for (name,) in (await connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'memories'")).all():
                await connection.exec_driver_sql(f"DROP TRIGGER {name}")

    async def forget(self, memory_id: UUID) -> None:
        """Delete the memory row itself, as DeleteMemory's unit of work does."""
        async with self.engine.begin() as connection:
            await connection.execute(delete(metadata.tables["memories"]).where(
                metadata.tables["memories"].c.id == memory_id))

    async def close(self) -> None:
        for engine in self._engines:
            await engine.dispose()


async def _world(kind: str, tmp_path: Path, template: Path | None, dimensions: int) -> World:
    if kind == "memory":
        return InMemoryWorld(dimensions)
    assert template is not None
    path = tmp_path / "memo.db"
    shutil.copyfile(template, path)
    return SqliteWorld(path, dimensions)


@pytest.fixture(params=["memory", "sqlite"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    template = request.getfixturevalue("sqlite_template") if request.param == "sqlite" else None
    made = await _world(request.param, tmp_path, template, DIMS)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def sqlite(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[SqliteWorld]:
    made = await _world("sqlite", tmp_path, sqlite_template, DIMS)
    assert isinstance(made, SqliteWorld)
    try:
        yield made
    finally:
        await made.close()


def axis(*weights: float) -> list[float]:
    """A vector of DIMS numbers starting with `weights`, the rest 0."""
    return [*weights, *([0.0] * (DIMS - len(weights)))]


def entry(memory_id: UUID, owner_id: UUID, vector: Sequence[float], *, type: MemoryType = MemoryType.NOTE,  # noqa: A002
          tags: tuple[str, ...] = (), source: Source = Source.API, minutes: int = 0) -> VectorEntry:
    return VectorEntry(memory_id=memory_id, owner_id=owner_id, vector=vector, type=type, tags=tags, source=source,
                       created_at=TEST_NOW + timedelta(minutes=minutes))


def ids(hits: Sequence[Hit]) -> list[UUID]:
    return [hit.memory_id for hit in hits]


async def test_a_query_returns_the_owners_nearest_memories_first_with_their_cosine(world: World) -> None:
    same, near, far, opposite = await world.memories(ALICE, 4)
    await world.index.upsert([entry(far, ALICE, axis(0, 1)), entry(same, ALICE, axis(2, 0)),
                              entry(opposite, ALICE, axis(-1, 0)), entry(near, ALICE, axis(3, 1))])

    hits = await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)

    assert ids(hits) == [same, near, far, opposite]
    assert [hit.score for hit in hits] == pytest.approx([1.0, 3 / np.sqrt(10), 0.0, -1.0], abs=1e-6)
    assert all(type(hit.score) is float for hit in hits)


async def test_an_owner_never_gets_nor_deletes_another_owners_vectors(world: World) -> None:
    (alices,) = await world.memories(ALICE, 1)
    (bobs,) = await world.memories(BOB, 1)
    await world.index.upsert([entry(alices, ALICE, axis(1, 0)), entry(bobs, BOB, axis(1, 0))])

    await world.index.delete(BOB, [alices])

    assert ids(await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [alices]
    assert ids(await world.index.query(BOB, axis(1, 0), limit=10, filters=NO_FILTERS)) == [bobs]


FILTER_CASES = {
    "type": (SearchFilters(type=MemoryType.REMINDER), {"reminder", "reminder-tagged"}),
    "one tag": (SearchFilters(tags=("home",)), {"tagged", "reminder-tagged", "both-tags"}),
    "every tag": (SearchFilters(tags=("home", "work")), {"both-tags"}),
    "a tag nobody has": (SearchFilters(tags=("home", "nowhere")), set()),
    "source": (SearchFilters(source=Source.WHATSAPP), {"whatsapp"}),
    "created after, strictly": (SearchFilters(created_after=TEST_NOW + timedelta(minutes=10)), {"late"}),
    "created before, strictly": (SearchFilters(created_before=TEST_NOW), {"early"}),
    "combined": (SearchFilters(type=MemoryType.REMINDER, tags=("home",), source=Source.API,
                               created_after=TEST_NOW - timedelta(minutes=1),
                               created_before=TEST_NOW + timedelta(minutes=1)), {"reminder-tagged"}),
}


@pytest.mark.parametrize("case", FILTER_CASES)
async def test_each_filter_alone_and_all_combined_keep_only_the_memories_that_pass(world: World, case: str) -> None:
    names = ["plain", "reminder", "tagged", "reminder-tagged", "both-tags", "whatsapp", "early", "late"]
    memory = dict(zip(names, await world.memories(ALICE, len(names)), strict=True))
    (elsewhere,) = await world.memories(BOB, 1)  # passes every filter, but is Bob's
    await world.index.upsert([
        entry(memory["plain"], ALICE, axis(1, 0.1)),
        entry(memory["reminder"], ALICE, axis(1, 0.2), type=MemoryType.REMINDER),
        entry(memory["tagged"], ALICE, axis(1, 0.3), tags=("home",)),
        entry(memory["reminder-tagged"], ALICE, axis(1, 0.4), type=MemoryType.REMINDER, tags=("home",)),
        entry(memory["both-tags"], ALICE, axis(1, 0.5), tags=("work", "home")),
        entry(memory["whatsapp"], ALICE, axis(1, 0.6), source=Source.WHATSAPP),
        entry(memory["early"], ALICE, axis(1, 0.7), minutes=-1),
        entry(memory["late"], ALICE, axis(1, 0.8), minutes=11),
        entry(elsewhere, BOB, axis(1, 0.4), type=MemoryType.REMINDER, tags=("home", "work"), source=Source.WHATSAPP,
              minutes=5),
    ])
    filters, expected = FILTER_CASES[case]
    edge = await world.memories(ALICE, 1)  # created exactly at a bound: strict filters leave it out
    await world.index.upsert([entry(edge[0], ALICE, axis(1, 0.9), minutes=10)])

    hits = await world.index.query(ALICE, axis(1, 0), limit=20, filters=filters)

    by_id = {memory_id: name for name, memory_id in memory.items()}
    assert {by_id.get(hit.memory_id, "other") for hit in hits} == expected
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


async def test_an_upsert_replaces_the_vector_and_the_filter_columns(world: World) -> None:
    kept, moved = await world.memories(ALICE, 2)
    await world.index.upsert([entry(kept, ALICE, axis(1, 1)), entry(moved, ALICE, axis(1, 0), tags=("old",))])
    await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)  # loaded before the change

    await world.index.upsert([entry(moved, ALICE, axis(0, 1), tags=("new",))])

    hits = await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
    assert ids(hits) == [kept, moved]
    assert hits[1].score == pytest.approx(0.0, abs=1e-6)
    assert await world.index.query(ALICE, axis(1, 0), limit=10, filters=SearchFilters(tags=("old",))) == []
    assert ids(await world.index.query(ALICE, axis(1, 0), limit=10, filters=SearchFilters(tags=("new",)))) == [moved]


async def test_the_last_entry_for_a_memory_wins_within_one_upsert(world: World) -> None:
    (memory_id,) = await world.memories(ALICE, 1)

    await world.index.upsert([entry(memory_id, ALICE, axis(1, 0)), entry(memory_id, ALICE, axis(0, 1))])

    hits = await world.index.query(ALICE, axis(0, 1), limit=10, filters=NO_FILTERS)
    assert ids(hits) == [memory_id]
    assert hits[0].score == pytest.approx(1.0)


async def test_delete_removes_the_named_vectors_only(world: World) -> None:
    gone, kept, also_gone = await world.memories(ALICE, 3)
    await world.index.upsert([entry(memory_id, ALICE, axis(1, index)) for index, memory_id in
                              enumerate([gone, kept, also_gone])])
    await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)

    await world.index.delete(ALICE, [gone, also_gone])

    assert ids(await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [kept]


async def test_deleting_unknown_ids_or_none_is_fine(world: World) -> None:
    (kept,) = await world.memories(ALICE, 1)
    await world.index.upsert([entry(kept, ALICE, axis(1, 0))])

    await world.index.delete(ALICE, [uuid4(), uuid4()])
    await world.index.delete(ALICE, [])
    await world.index.delete(BOB, [uuid4()])
    await world.index.upsert([])

    assert ids(await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [kept]


@pytest.mark.parametrize(("limit", "expected"), [(2, 2), (5, 5), (50, 5), (1, 1), (0, 0)])
async def test_the_limit_is_respected(world: World, limit: int, expected: int) -> None:
    memories = await world.memories(ALICE, 5)
    await world.index.upsert([entry(memory_id, ALICE, axis(1, index)) for index, memory_id in enumerate(memories)])

    hits = await world.index.query(ALICE, axis(1, 0), limit=limit, filters=NO_FILTERS)

    assert ids(hits) == memories[:expected]


async def test_an_owner_without_vectors_gets_nothing(world: World) -> None:
    (bobs,) = await world.memories(BOB, 1)
    await world.index.upsert([entry(bobs, BOB, axis(1, 0))])

    assert await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS) == []
    assert await world.index.query(uuid4(), axis(1, 0), limit=10, filters=NO_FILTERS) == []


async def test_mismatched_dimensions_and_numbers_that_are_not_finite_are_refused(world: World) -> None:
    good, bad = await world.memories(ALICE, 2)

    with pytest.raises(ValueError, match="8 dimensions"):
        await world.index.upsert([entry(good, ALICE, axis(1, 0)), entry(bad, ALICE, [1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="finite"):
        await world.index.upsert([entry(good, ALICE, axis(1, float("nan")))])
    with pytest.raises(ValueError, match="8 dimensions"):
        await world.index.query(ALICE, [1.0] * (DIMS + 1), limit=10, filters=NO_FILTERS)

    assert await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS) == []  # nothing of the batch


async def test_many_deletes_and_reinserts_keep_answers_exact(world: World) -> None:
    rng = np.random.default_rng(7)
    memories = await world.memories(ALICE, 2_000)
    vectors = rng.normal(size=(len(memories), DIMS))
    await world.index.upsert([entry(m, ALICE, v.tolist()) for m, v in zip(memories, vectors, strict=True)])
    await world.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
    survivors = set(range(0, len(memories), 10))

    await world.index.delete(ALICE, [m for index, m in enumerate(memories) if index not in survivors])
    again = sorted(survivors)[:50]  # replaced after the deletes: slots are reused and compacted underneath
    vectors[again] = rng.normal(size=(len(again), DIMS))
    await world.index.upsert([entry(memories[index], ALICE, vectors[index].tolist()) for index in again])

    query = rng.normal(size=DIMS)
    hits = await world.index.query(ALICE, query.tolist(), limit=10, filters=NO_FILTERS)
    assert ids(hits) == _brute_force([memories[index] for index in sorted(survivors)],
                                     _units(vectors[sorted(survivors)]), query, 10)


def _units(vectors: np.ndarray) -> np.ndarray:
    as_float64 = vectors.astype(np.float64)
    return as_float64 / np.linalg.norm(as_float64, axis=1, keepdims=True)


def _brute_force(memory_ids: Sequence[UUID], units: np.ndarray, query: np.ndarray, limit: int) -> list[UUID]:
    scores = units @ (query / np.linalg.norm(query))
    return [memory_ids[index] for index in np.argsort(-scores)[:limit]]


@pytest.fixture(params=["memory", "sqlite"])
async def large_world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    template = request.getfixturevalue("sqlite_template") if request.param == "sqlite" else None
    made = await _world(request.param, tmp_path, template, LARGE_DIMS)
    try:
        yield made
    finally:
        await made.close()


async def test_a_large_owners_top_10_is_the_brute_force_top_10(large_world: World) -> None:
    rng = np.random.default_rng(42)
    if isinstance(large_world, SqliteWorld):
        await large_world.without_full_text()
    memories = await large_world.memories(ALICE, LARGE_ROWS)
    vectors = rng.normal(size=(LARGE_ROWS, LARGE_DIMS)).astype(np.float32)
    types = [MemoryType.NOTE, MemoryType.REMINDER]
    await large_world.index.upsert([entry(m, ALICE, v, type=types[index % 2])
                                    for index, (m, v) in enumerate(zip(memories, vectors, strict=True))])

    units = _units(vectors)
    for _ in range(3):
        query = rng.normal(size=LARGE_DIMS)
        hits = await large_world.index.query(ALICE, query.tolist(), limit=10, filters=NO_FILTERS)
        assert ids(hits) == _brute_force(memories, units, query, 10)
        reminders = await large_world.index.query(ALICE, query.tolist(), limit=10,
                                                  filters=SearchFilters(type=MemoryType.REMINDER))
        assert ids(reminders) == _brute_force(memories[1::2], units[1::2], query, 10)


def test_deleting_most_rows_compacts_the_matrix_and_keeps_the_rest() -> None:
    rng = np.random.default_rng(3)
    memory_ids = [uuid4() for _ in range(2_000)]
    vectors = exact.OwnerVectors(DIMS)
    matrix = exact.unit_rows(rng.normal(size=(len(memory_ids), DIMS)).tolist(), DIMS)
    vectors.put(exact.Columns.of([entry(m, ALICE, v) for m, v in zip(memory_ids, matrix, strict=True)], matrix))

    vectors.remove(memory_ids[100:])

    assert (len(vectors), vectors.slots) == (100, 100)
    query = exact.unit_vector(matrix[7].tolist(), DIMS)
    assert vectors.search(query, 1, NO_FILTERS)[0][0] == memory_ids[7]


# What only the SQLite file can show.


async def test_deleting_a_memory_takes_its_vector_with_it(sqlite: SqliteWorld) -> None:
    gone, kept = await sqlite.memories(ALICE, 2)
    await sqlite.index.upsert([entry(gone, ALICE, axis(1, 0)), entry(kept, ALICE, axis(1, 1))])
    await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)

    await sqlite.forget(gone)

    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [kept]


async def test_another_process_on_the_same_file_sees_every_write_before_its_next_query(sqlite: SqliteWorld) -> None:
    api, worker = sqlite.index, sqlite.other_process()
    replaced, deleted, cascaded, added = await sqlite.memories(ALICE, 4)
    await worker.upsert([entry(replaced, ALICE, axis(1, 0)), entry(deleted, ALICE, axis(1, 0.5)),
                         entry(cascaded, ALICE, axis(1, 1))])
    assert ids(await api.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [replaced, deleted, cascaded]

    await worker.upsert([entry(replaced, ALICE, axis(0, 1)), entry(added, ALICE, axis(1, 0.1))])
    await worker.delete(ALICE, [deleted])
    await sqlite.forget(cascaded)

    hits = await api.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
    assert ids(hits) == [added, replaced]
    assert hits[1].score == pytest.approx(0.0, abs=1e-6)
    assert ids(await worker.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [added, replaced]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The count each read of an owner's rows starts after: 0 is a whole load, more is catching up."""
    counts: list[int] = []
    real = SqliteVectorIndex._apply_changes

    async def recording(self: SqliteVectorIndex, connection: Any, owner_id: UUID, vectors: exact.OwnerVectors, *,
                        since: int) -> None:
        counts.append(since)
        await real(self, connection, owner_id, vectors, since=since)

    monkeypatch.setattr(SqliteVectorIndex, "_apply_changes", recording)
    return counts


async def test_writes_through_the_index_keep_its_array_and_others_writes_are_caught_up_not_reloaded(
        sqlite: SqliteWorld, reads: list[int]) -> None:
    first, second, third, cascaded = await sqlite.memories(ALICE, 4)
    await sqlite.index.upsert([entry(first, ALICE, axis(1, 0)), entry(cascaded, ALICE, axis(1, 2))])
    await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
    assert reads == [0]

    await sqlite.index.upsert([entry(second, ALICE, axis(1, 1))])
    await sqlite.index.delete(ALICE, [first])
    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [second, cascaded]
    assert reads == [0]

    await sqlite.other_process().upsert([entry(third, ALICE, axis(1, 0))])  # in between: this array is behind
    await sqlite.index.upsert([entry(first, ALICE, axis(0, 1))])
    await sqlite.forget(cascaded)
    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [third, second, first]
    assert len(reads) == 2
    assert reads[1] > 0


async def test_an_index_behind_the_pruned_tombstones_reloads_the_owner(
        sqlite: SqliteWorld, reads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors_sqlite, "TOMBSTONES_KEPT", 1)
    memories = await sqlite.memories(ALICE, 4)
    await sqlite.index.upsert([entry(memory_id, ALICE, axis(1, n)) for n, memory_id in enumerate(memories)])
    await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)

    await sqlite.other_process().delete(ALICE, memories[:3])

    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == memories[3:]
    assert reads == [0, 0]


async def test_vectors_of_another_model_are_ignored_and_replaced_by_this_ones(sqlite: SqliteWorld) -> None:
    shared, others = await sqlite.memories(ALICE, 2)
    old_model = sqlite.other_index(model="old-model", dimensions=3)
    await old_model.upsert([entry(shared, ALICE, [1.0, 0.0, 0.0]), entry(others, ALICE, [0.0, 1.0, 0.0])])
    assert len(await old_model.query(ALICE, [0.0, 1.0, 0.0], limit=10, filters=NO_FILTERS)) == 2

    assert await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS) == []

    await sqlite.index.upsert([entry(shared, ALICE, axis(1, 0))])
    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [shared]
    assert ids(await old_model.query(ALICE, [0.0, 1.0, 0.0], limit=10, filters=NO_FILTERS)) == [others]


async def test_a_vector_of_a_memory_that_is_gone_or_someone_elses_is_dropped(sqlite: SqliteWorld) -> None:
    (kept,) = await sqlite.memories(ALICE, 1)
    (bobs,) = await sqlite.memories(BOB, 1)

    await sqlite.index.upsert([entry(kept, ALICE, axis(1, 0)), entry(uuid4(), ALICE, axis(1, 0)),
                               entry(bobs, ALICE, axis(1, 0))])

    assert ids(await sqlite.index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [kept]
    assert await sqlite.index.query(BOB, axis(1, 0), limit=10, filters=NO_FILTERS) == []


@pytest.mark.parametrize(("offload_rows", "off_the_loop"), [(2, True), (100, False)])
async def test_a_large_owner_is_searched_off_the_event_loop_a_small_one_inline(
        sqlite: SqliteWorld, monkeypatch: pytest.MonkeyPatch, offload_rows: int, *, off_the_loop: bool) -> None:
    threads: list[threading.Thread] = []
    real_search = exact.OwnerVectors.search

    def recording_search(self: exact.OwnerVectors, *args: object) -> list[tuple[UUID, float]]:
        threads.append(threading.current_thread())
        return real_search(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(exact.OwnerVectors, "search", recording_search)
    index = sqlite.other_index(offload_rows=offload_rows)
    memories = await sqlite.memories(ALICE, 5)
    await index.upsert([entry(memory_id, ALICE, axis(1, n)) for n, memory_id in enumerate(memories)])

    assert ids(await index.query(ALICE, axis(1, 0), limit=1, filters=NO_FILTERS)) == memories[:1]
    assert (threads[0] is not threading.main_thread()) is off_the_loop


async def test_an_unreachable_file_is_vector_index_unavailable(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-folder' / 'memo.db'}")
    index = SqliteVectorIndex(engine, model=MODEL, dimensions=DIMS)
    try:
        with pytest.raises(VectorIndexUnavailable):
            await index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
        with pytest.raises(VectorIndexUnavailable):
            await index.upsert([entry(uuid4(), ALICE, axis(1, 0))])
    finally:
        await engine.dispose()


# What only the in-memory index has: outages on cue and a record.


async def test_the_in_memory_index_fails_on_cue_and_records_what_it_stored() -> None:
    index = InMemoryVectorIndex()
    first = entry(uuid4(), ALICE, axis(1, 0))

    index.fail_next = 1
    with pytest.raises(VectorIndexUnavailable):
        await index.upsert([first])
    await index.upsert([first])
    index.available = False
    with pytest.raises(VectorIndexUnavailable):
        await index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)
    with pytest.raises(VectorIndexUnavailable):
        await index.delete(ALICE, [first.memory_id])
    index.available = True

    assert index.upserts == [first]
    assert index.dimensions == DIMS  # fixed by the first upsert
    assert index.held(ALICE) == {first.memory_id}
    assert ids(await index.query(ALICE, axis(1, 0), limit=10, filters=NO_FILTERS)) == [first.memory_id]
    await index.delete(ALICE, [first.memory_id])
    assert index.deletes == [(ALICE, (first.memory_id,))]
    assert index.held(ALICE) == frozenset()
