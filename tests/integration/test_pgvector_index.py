"""PgVectorIndex on a real PostgreSQL with pgvector (skipped unless MEMO_TEST_POSTGRES_URL is set; .ci/run installs it).

The module migrates one throwaway database with the real migrations and every test writes under owners of its own,
so tests share it without seeing each other; the tests about setting up (concurrent starts, a role that may not
create the extension) get a fresh database each. Memory rows are written with plain SQL: the vector table only
needs them to exist, for its foreign key. Vectors are small (4 to 32 dimensions) where the geometry is written by
hand and where the HNSW graph must be built quickly, and the embedder's 384 where they are compared with numpy.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.migrate import upgrade
from memo.adapters.vectors.pgvector import PgVectorIndex, recent_enough
from memo.application.errors import VectorIndexUnavailable
from memo.domain.memory import MemoryType, Source
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry
from tests.integration.conftest import run_in_own_loop
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, database_url, drop_database, postgres_admin

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="set MEMO_TEST_POSTGRES_URL to run pgvector")]

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
MODEL = "test-model"
ALL = SearchFilters()
LOGGER = "memo.adapters.vectors.pgvector"


@pytest.fixture(scope="module")
def vectors_url() -> Iterator[str]:
    name = run_in_own_loop(lambda: create_database("memo_pgvector"))
    try:
        url = database_url(name)
        run_in_own_loop(lambda: upgrade(url))
        yield url
    finally:
        run_in_own_loop(lambda: drop_database(name))


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    """A migrated database of its own, where neither the extension nor any vector table exists yet."""
    name = await create_database("memo_pgvector_fresh")
    try:
        url = database_url(name)
        await upgrade(url)
        yield url
    finally:
        await drop_database(name)


@pytest.fixture
async def engine(vectors_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(vectors_url)
    yield engine
    await engine.dispose()


def unit(*components: float) -> list[float]:
    norm = math.sqrt(sum(c * c for c in components))
    return [c / norm for c in components]


def at_angle(degrees: float, dimensions: int = 4) -> list[float]:
    """A unit vector `degrees` away from the first axis, in the plane of the first two: cosine = cos(degrees)."""
    radians = math.radians(degrees)
    return [math.cos(radians), math.sin(radians), *([0.0] * (dimensions - 2))]


@dataclass
class Owner:
    """An owner with memory rows in the database, and helpers to write their vectors."""

    engine: AsyncEngine
    id: UUID

    async def memories(self, count: int) -> list[UUID]:
        ids = [uuid.uuid4() for _ in range(count)]
        async with self.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, updated_at,"
                " version) SELECT i, :owner, 'x', 'note', '[]'::jsonb, '{}'::jsonb, 'api', :now, :now, 1"
                " FROM unnest(CAST(:ids AS uuid[])) AS i"), {"owner": self.id, "now": NOW, "ids": ids})
        return ids

    def entry(self, memory_id: UUID, vector: Sequence[float], *, type: MemoryType = MemoryType.NOTE,  # noqa: A002
              tags: tuple[str, ...] = (), source: Source = Source.API, created_at: datetime = NOW) -> VectorEntry:
        return VectorEntry(memory_id=memory_id, owner_id=self.id, vector=vector, type=type, tags=tags,
                           source=source, created_at=created_at)


async def new_owner(engine: AsyncEngine) -> Owner:
    owner_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO owners (id, name, created_at) VALUES (:id, :name, :now)"),
                                 {"id": owner_id, "name": f"owner-{owner_id.hex[:12]}", "now": NOW})
    return Owner(engine, owner_id)


def ids_of(hits: Sequence[Hit]) -> list[UUID]:
    return [hit.memory_id for hit in hits]


async def test_query_returns_the_owners_memories_best_first_with_cosine_scores(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    far, near, middle = await owner.memories(3)
    await index.upsert([owner.entry(far, at_angle(80)), owner.entry(near, at_angle(10)),
                        owner.entry(middle, at_angle(45))])

    hits = await index.query(owner.id, at_angle(0), limit=10, filters=ALL)

    assert ids_of(hits) == [near, middle, far]
    assert [hit.score for hit in hits] == pytest.approx([math.cos(math.radians(d)) for d in (10, 45, 80)], abs=1e-6)


async def test_query_never_returns_another_owners_memories(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    alice, bob = await new_owner(engine), await new_owner(engine)
    [alices] = await alice.memories(1)
    [bobs] = await bob.memories(1)
    await index.upsert([alice.entry(alices, at_angle(30)), bob.entry(bobs, at_angle(0))])

    assert ids_of(await index.query(alice.id, at_angle(0), limit=10, filters=ALL)) == [alices]
    assert ids_of(await index.query(bob.id, at_angle(0), limit=10, filters=ALL)) == [bobs]


async def test_an_owner_with_no_vectors_gets_no_hits(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)

    assert await index.query(owner.id, at_angle(0), limit=10, filters=ALL) == []


async def test_limit_caps_the_hits_to_the_best_ones(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    ids = await owner.memories(5)
    await index.upsert([owner.entry(memory_id, at_angle(10 * i)) for i, memory_id in enumerate(ids)])

    assert ids_of(await index.query(owner.id, at_angle(0), limit=2, filters=ALL)) == ids[:2]
    assert await index.query(owner.id, at_angle(0), limit=0, filters=ALL) == []


@pytest.mark.parametrize(("filters", "expected"), [
    (SearchFilters(type=MemoryType.REMINDER), {"reminder"}),
    (SearchFilters(tags=("work",)), {"work", "work+urgent"}),
    (SearchFilters(tags=("work", "urgent")), {"work+urgent"}),
    (SearchFilters(source=Source.WHATSAPP), {"whatsapp"}),
    (SearchFilters(created_after=NOW), {"later"}),
    (SearchFilters(created_before=NOW), {"earlier"}),
    (SearchFilters(created_after=NOW - timedelta(days=2), created_before=NOW + timedelta(days=2),
                   tags=("work",)), {"work", "work+urgent"}),
], ids=["type", "one tag", "every tag", "source", "created after (strictly)", "created before (strictly)",
        "dates and tags together"])
async def test_each_filter_runs_in_the_query(engine: AsyncEngine, filters: SearchFilters,
                                             expected: set[str]) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    names = ["plain", "reminder", "work", "work+urgent", "whatsapp", "earlier", "later"]
    ids = dict(zip(names, await owner.memories(len(names)), strict=True))
    await index.upsert([
        owner.entry(ids["plain"], at_angle(0)),
        owner.entry(ids["reminder"], at_angle(5), type=MemoryType.REMINDER),
        owner.entry(ids["work"], at_angle(10), tags=("work",)),
        owner.entry(ids["work+urgent"], at_angle(15), tags=("urgent", "work")),
        owner.entry(ids["whatsapp"], at_angle(20), source=Source.WHATSAPP),
        owner.entry(ids["earlier"], at_angle(25), created_at=NOW - timedelta(days=1)),
        owner.entry(ids["later"], at_angle(30), created_at=NOW + timedelta(days=1)),
    ])

    hits = await index.query(owner.id, at_angle(0), limit=10, filters=filters)

    assert {name for name, memory_id in ids.items() if memory_id in ids_of(hits)} == expected


async def test_upsert_replaces_a_memorys_vector_and_what_it_is_filtered_on(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    first, second = await owner.memories(2)
    await index.upsert([owner.entry(first, at_angle(0), tags=("old",)), owner.entry(second, at_angle(40))])

    await index.upsert([owner.entry(first, at_angle(80), tags=("new",))])

    assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=ALL)) == [second, first]
    assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=SearchFilters(tags=("old",)))) == []
    assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=SearchFilters(tags=("new",)))) == [first]


async def test_the_last_entry_of_a_memory_in_one_batch_wins(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    [memory_id] = await owner.memories(1)

    await index.upsert([owner.entry(memory_id, at_angle(0)), owner.entry(memory_id, at_angle(60))])

    [hit] = await index.query(owner.id, at_angle(0), limit=10, filters=ALL)
    assert hit.score == pytest.approx(0.5, abs=1e-6)


async def test_delete_removes_the_named_vectors_of_that_owner_only(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    alice, bob = await new_owner(engine), await new_owner(engine)
    kept, deleted = await alice.memories(2)
    [bobs] = await bob.memories(1)
    await index.upsert([alice.entry(kept, at_angle(0)), alice.entry(deleted, at_angle(5)),
                        bob.entry(bobs, at_angle(0))])

    await index.delete(alice.id, [deleted, bobs])  # bob's id under alice's name deletes nothing of bob's
    await index.delete(alice.id, [])

    assert ids_of(await index.query(alice.id, at_angle(0), limit=10, filters=ALL)) == [kept]
    assert ids_of(await index.query(bob.id, at_angle(0), limit=10, filters=ALL)) == [bobs]


async def test_deleting_the_memory_row_deletes_its_vector(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    kept, deleted = await owner.memories(2)
    await index.upsert([owner.entry(kept, at_angle(0)), owner.entry(deleted, at_angle(5))])

    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM memories WHERE id = :id"), {"id": deleted})

    assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=ALL)) == [kept]
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM memory_vectors_4 WHERE memory_id = :id"),
                                       {"id": deleted}) == 0


async def test_a_large_upsert_goes_in_several_statements_and_keeps_every_entry(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4, upsert_batch_size=2)
    owner = await new_owner(engine)
    ids = await owner.memories(5)

    await index.upsert([owner.entry(memory_id, at_angle(10 * i)) for i, memory_id in enumerate(ids)])

    assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=ALL)) == ids


async def test_upsert_skips_vectors_of_memories_that_are_gone_or_of_another_owner(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    alice, bob = await new_owner(engine), await new_owner(engine)
    [alices] = await alice.memories(1)
    [bobs] = await bob.memories(1)

    await index.upsert([alice.entry(alices, at_angle(0)), alice.entry(uuid.uuid4(), at_angle(0)),
                        alice.entry(bobs, at_angle(0))])

    assert ids_of(await index.query(alice.id, at_angle(0), limit=10, filters=ALL)) == [alices]
    assert await index.query(bob.id, at_angle(0), limit=10, filters=ALL) == []


async def test_vectors_of_another_model_are_not_searched(engine: AsyncEngine) -> None:
    old, new = (PgVectorIndex(engine, model=model, dimensions=4) for model in ("old-model", "new-model"))
    owner = await new_owner(engine)
    stale, current = await owner.memories(2)
    await old.upsert([owner.entry(stale, at_angle(0))])
    await new.upsert([owner.entry(current, at_angle(30))])

    assert ids_of(await new.query(owner.id, at_angle(0), limit=10, filters=ALL)) == [current]


async def test_results_equal_a_brute_force_search(engine: AsyncEngine) -> None:
    dimensions, count, limit = 384, 300, 10
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(count, dimensions))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = PgVectorIndex(engine, model=MODEL, dimensions=dimensions)
    owner = await new_owner(engine)
    ids = await owner.memories(count)
    tags = [("even",) if i % 2 == 0 else () for i in range(count)]
    await index.upsert([owner.entry(memory_id, vectors[i].tolist(), tags=tags[i]) for i, memory_id in enumerate(ids)])

    for _ in range(5):
        query = rng.normal(size=dimensions)
        query /= np.linalg.norm(query)
        for filters, allowed in ((ALL, np.arange(count)), (SearchFilters(tags=("even",)), np.arange(0, count, 2))):
            scores = vectors[allowed] @ query
            best = allowed[np.argsort(-scores)[:limit]]

            hits = await index.query(owner.id, query.tolist(), limit=limit, filters=filters)

            assert ids_of(hits) == [ids[i] for i in best]
            assert [hit.score for hit in hits] == pytest.approx((vectors[best] @ query).tolist(), abs=1e-5)


async def test_the_hnsw_index_finds_the_brute_force_neighbours_of_a_large_owner(engine: AsyncEngine) -> None:
    """With every owner sent through the index (exact_scan_max_rows=0): approximate, but recall stays high."""
    dimensions, count, limit = 384, 300, 10
    rng = np.random.default_rng(9)
    vectors = rng.normal(size=(count, dimensions))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = PgVectorIndex(engine, model=MODEL, dimensions=dimensions, exact_scan_max_rows=0)
    owner = await new_owner(engine)
    ids = await owner.memories(count)
    await index.upsert([owner.entry(memory_id, vectors[i].tolist()) for i, memory_id in enumerate(ids)])

    found = 0
    for _ in range(10):
        query = rng.normal(size=dimensions)
        query /= np.linalg.norm(query)
        best = {ids[i] for i in np.argsort(-(vectors @ query))[:limit]}
        hits = await index.query(owner.id, query.tolist(), limit=limit, filters=ALL)
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        found += len(best & set(ids_of(hits)))

    assert found / (10 * limit) >= 0.9


@pytest.mark.parametrize("exact_scan_max_rows", [0, 10_000], ids=["through HNSW", "exactly"])
async def test_more_than_2000_dimensions_are_kept_as_half_precision(engine: AsyncEngine,
                                                                    exact_scan_max_rows: int) -> None:
    """HNSW indexes `vector` up to 2,000 dimensions: OpenAI's 3,072 go in a halfvec column, still ranked by cosine."""
    dimensions = 3072
    index = PgVectorIndex(engine, model=MODEL, dimensions=dimensions, exact_scan_max_rows=exact_scan_max_rows)
    owner = await new_owner(engine)
    ids = await owner.memories(3)
    await index.upsert([owner.entry(memory_id, at_angle(angle, dimensions))
                        for memory_id, angle in zip(ids, (60, 0, 30), strict=True)])

    hits = await index.query(owner.id, at_angle(0, dimensions), limit=10, filters=ALL)

    assert ids_of(hits) == [ids[1], ids[2], ids[0]]
    assert [hit.score for hit in hits] == pytest.approx([1.0, math.cos(math.radians(30)), 0.5], abs=1e-3)
    async with engine.connect() as connection:
        assert await connection.scalar(text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'memory_vectors_3072'::regclass AND attname = 'embedding'")) == "halfvec(3072)"


async def hnsw_scans(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            scans = await connection.scalar(text(
                "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = :name"),
                {"name": f"ix_{table}_embedding"})
            return int(scans or 0)
    finally:
        await engine.dispose()


@pytest.mark.slow  # building the HNSW graph of 5,000 vectors takes 3 to 9 s on two busy cores
async def test_a_selective_filter_on_a_large_owner_still_returns_limit_from_the_hnsw_index(
        vectors_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """5,000 vectors, 1% of them tagged: the HNSW scan (ef_search 40) goes on until it has `limit` that pass."""
    dimensions, count, limit = 32, 5_000, 10
    engine = create_engine(vectors_url)
    index = PgVectorIndex(engine, model=MODEL, dimensions=dimensions, ef_search=40, exact_scan_max_rows=0)
    owner = await new_owner(engine)
    rng = np.random.default_rng(10)
    vectors = rng.normal(size=(count, dimensions))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = await owner.memories(count)
    entries = [owner.entry(memory_id, vectors[i].tolist(), tags=("rare",) if i % 100 == 0 else ("common",))
               for i, memory_id in enumerate(ids)]
    for start in range(0, count, 1_000):
        await index.upsert(entries[start:start + 1_000])
    rare = {ids[i] for i in range(0, count, 100)}
    scans_before = await hnsw_scans(vectors_url, index.table)
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    for _ in range(3):
        query = rng.normal(size=dimensions)
        hits = await index.query(owner.id, (query / np.linalg.norm(query)).tolist(), limit=limit,
                                 filters=SearchFilters(tags=("rare",)))
        assert len(hits) == limit
        assert set(ids_of(hits)) <= rare

    assert not [record for record in caplog.records if record.name == LOGGER]  # no exact fallback was needed
    await engine.dispose()  # a closing backend flushes its statistics
    for _ in range(50):
        if await hnsw_scans(vectors_url, index.table) >= scans_before + 3:
            break
        await asyncio.sleep(0.1)
    assert await hnsw_scans(vectors_url, index.table) >= scans_before + 3


async def test_a_large_owner_whose_hnsw_scan_stops_short_is_searched_again_exactly(vectors_url: str) -> None:
    """An HNSW scan that gives up (here after one tuple, hnsw.max_scan_tuples) never makes a filter lose hits."""
    engine = create_async_engine(make_url(vectors_url), connect_args={
        "server_settings": {"hnsw.max_scan_tuples": "1"}})
    try:
        index = PgVectorIndex(engine, model=MODEL, dimensions=4, ef_search=10, exact_scan_max_rows=0)
        owner = await new_owner(engine)
        ids = await owner.memories(300)
        picks = {150, 290}  # far from the query: not among the first candidates the graph yields
        await index.upsert([owner.entry(memory_id, at_angle(i * 0.3), tags=("pick",) if i in picks else ())
                            for i, memory_id in enumerate(ids)])

        hits = await index.query(owner.id, at_angle(0), limit=5, filters=SearchFilters(tags=("pick",)))

        assert ids_of(hits) == [ids[150], ids[290]]
    finally:
        await engine.dispose()


async def test_two_adapters_starting_at_once_both_succeed(fresh_url: str) -> None:
    engines = [create_engine(fresh_url) for _ in range(4)]
    try:
        indexes = [PgVectorIndex(engine, model=MODEL, dimensions=4) for engine in engines]
        owner = await new_owner(engines[0])
        ids = await owner.memories(len(indexes))

        await asyncio.gather(*(index.upsert([owner.entry(memory_id, at_angle(10 * i))])
                               for i, (index, memory_id) in enumerate(zip(indexes, ids, strict=True))))

        for index in indexes:
            assert ids_of(await index.query(owner.id, at_angle(0), limit=10, filters=ALL)) == ids
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_table_and_its_indexes_are_made_at_first_use(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=6)
    owner = await new_owner(engine)

    assert await index.query(owner.id, [1.0] * 6, limit=1, filters=ALL) == []

    async with engine.connect() as connection:
        definitions = (await connection.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'memory_vectors_6' ORDER BY indexname"))).scalars()
        assert [definition.split(" USING ", 1)[1] for definition in definitions] == [
            "hnsw (embedding vector_cosine_ops)", "btree (owner_id)", "btree (memory_id)"]
        assert await connection.scalar(text(
            "SELECT confdeltype FROM pg_constraint WHERE conrelid = 'memory_vectors_6'::regclass AND contype = 'f'"
            " AND confrelid = 'memories'::regclass")) == b"c"  # ON DELETE CASCADE


async def test_a_dropped_hnsw_index_is_named_with_the_statement_that_builds_it_not_built_on_the_full_table(
        engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    first = PgVectorIndex(engine, model=MODEL, dimensions=5, exact_scan_max_rows=0)
    owner = await new_owner(engine)
    ids = await owner.memories(3)
    await first.upsert([owner.entry(memory_id, at_angle(10 * i, 5)) for i, memory_id in enumerate(ids)])
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_memory_vectors_5_embedding"))
    caplog.set_level(logging.WARNING, logger=LOGGER)

    restarted = PgVectorIndex(engine, model=MODEL, dimensions=5, exact_scan_max_rows=0)
    assert ids_of(await restarted.query(owner.id, at_angle(0, 5), limit=10, filters=ALL)) == ids

    [warning] = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    statement = warning.split("build it with ", 1)[1]
    assert statement.startswith("CREATE INDEX CONCURRENTLY ix_memory_vectors_5_embedding")
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT to_regclass('ix_memory_vectors_5_embedding')")) is None
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(statement))  # the operator's fix, as the warning spells it
    assert ids_of(await restarted.query(owner.id, at_angle(0, 5), limit=10, filters=ALL)) == ids


async def test_vectors_of_the_wrong_size_are_refused(engine: AsyncEngine) -> None:
    index = PgVectorIndex(engine, model=MODEL, dimensions=4)
    owner = await new_owner(engine)
    [memory_id] = await owner.memories(1)

    with pytest.raises(ValueError, match="3-dimensional vector for a 4-dimensional index"):
        await index.upsert([owner.entry(memory_id, [1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="5-dimensional vector for a 4-dimensional index"):
        await index.query(owner.id, [1.0, 0.0, 0.0, 0.0, 0.0], limit=1, filters=ALL)
    with pytest.raises(ValueError, match="NaN or infinite"):
        await index.upsert([owner.entry(memory_id, [math.nan, 0.0, 0.0, 0.0])])
    assert await index.query(owner.id, at_angle(0), limit=1, filters=ALL) == []


async def test_a_table_of_another_dimension_is_refused_naming_both(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        await connection.execute(text("CREATE TABLE memory_vectors_7 (memory_id uuid PRIMARY KEY, "
                                      "owner_id uuid, model text, embedding vector(5), type text, "
                                      "tags text[], source text, created_at timestamptz)"))
    index = PgVectorIndex(engine, model=MODEL, dimensions=7)

    with pytest.raises(VectorIndexUnavailable, match=r"vector\(5\).*vector\(7\)"):
        await index.query(uuid.uuid4(), [1.0] * 7, limit=1, filters=ALL)


async def test_a_role_that_may_not_create_the_extension_is_told_how_to_get_it(fresh_url: str) -> None:
    role = f"memo_plain_{uuid.uuid4().hex[:8]}"
    await postgres_admin(f"CREATE ROLE {role} LOGIN")
    engine = create_engine(make_url(fresh_url).set(username=role))
    try:
        index = PgVectorIndex(engine, model=MODEL, dimensions=4)

        with pytest.raises(VectorIndexUnavailable, match="CREATE EXTENSION vector") as refused:
            await index.query(uuid.uuid4(), at_angle(0), limit=1, filters=ALL)
        assert "docs/operations.md" in refused.value.message
    finally:
        await engine.dispose()
        await postgres_admin(f"DROP ROLE IF EXISTS {role}")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_server_is_vector_index_unavailable() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/memo", connect_timeout_s=2)
    try:
        index = PgVectorIndex(engine, model=MODEL, dimensions=4)

        with pytest.raises(VectorIndexUnavailable):
            await index.query(uuid.uuid4(), at_angle(0), limit=1, filters=ALL)
        with pytest.raises(VectorIndexUnavailable):
            await index.upsert([VectorEntry(memory_id=uuid.uuid4(), owner_id=uuid.uuid4(), vector=at_angle(0),
                                            type=MemoryType.NOTE, tags=(), source=Source.API, created_at=NOW)])
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("version", "enough"), [("0.8.0", True), ("0.10.1", True), ("1.0", True),
                                                 ("0.7.4", False), ("0.5.1", False), ("", False), ("None", False)])
def test_pgvector_before_0_8_is_too_old(version: str, enough: bool) -> None:
    assert recent_enough(version) is enough


def test_only_a_postgresql_engine_is_taken() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    with pytest.raises(ValueError, match="PostgreSQL"):
        PgVectorIndex(engine, model=MODEL, dimensions=4)
    with pytest.raises(ValueError, match="dimensions"):
        PgVectorIndex(create_engine("postgresql+asyncpg://postgres@127.0.0.1/x"), model=MODEL, dimensions=4001)
