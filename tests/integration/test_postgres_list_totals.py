"""PostgreSQL list totals: migration 0014's count deltas add up to `count(*)` whoever writes, folds keep them, and
a filtered count is reused exactly while the owner's change version stands (`memo.adapters.storage.list_totals`).

Writes come from the repositories, from raw SQL in sessions of their own (as another server or `psql` would), and
from many sessions at once; every answer is compared with a fresh `count(*)`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.storage.list_totals import COMPACT_ABOVE, ListTotals
from memo.adapters.storage.migrate import downgrade, upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery, SortField, SortOrder
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from tests.integration.conftest import SqlStorage
from tests.support.postgres import POSTGRES_ADMIN_URL, throwaway_database

pytestmark = pytest.mark.postgres

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11E)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0E)
INSERT_MEMORY = ("INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, updated_at, "
                 "version) VALUES ($1, $2, $3, 'note', '[]', '{}', 'api', $4, $4, 1)")


class Lists:
    """Units of work as the container makes them on PostgreSQL: one session each, the process's one ListTotals."""

    def __init__(self, engine: AsyncEngine, totals: ListTotals) -> None:
        self.engine = engine
        self.totals = totals
        self._ids = SequentialIds(start=1_000)
        self._made = 0

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(AsyncSession(self.engine, expire_on_commit=False), list_totals=self.totals)

    async def total(self, owner: UUID = ALICE, **query: Any) -> int:
        async with self.uow() as uow:
            return (await uow.memories.find(owner, MemoryQuery(**query))).total

    def memory(self, content: str = "a note", *, owner: UUID = ALICE, tags: tuple[str, ...] = ()) -> Memory:
        self._made += 1
        return Memory.create(id=self._ids.new_id(), owner_id=owner, content=content, type=MemoryType.NOTE,
                             tags=tags, metadata=None, now=TEST_NOW + timedelta(seconds=self._made))

    async def store(self, *memories: Memory) -> None:
        async with self.uow() as uow:
            for memory in memories:
                await uow.memories.add(memory)
            await uow.commit()


async def connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                 password=parsed.password, database=parsed.database)


@pytest.fixture
async def lists(postgres_url: str) -> AsyncIterator[Lists]:
    """The migrated test database holding ALICE and BOB, with no memory yet."""
    engine = create_engine(postgres_url)
    totals = ListTotals(engine)
    made = Lists(engine, totals)
    async with made.uow() as uow:
        for owner_id, name in ((ALICE, "alice-totals"), (BOB, "bob-totals")):
            await uow.owners.add(Owner.create(id=owner_id, name=name, now=TEST_NOW))
        await uow.commit()
    try:
        yield made
    finally:
        await totals.aclose()
        await SqlStorage("postgresql", engine).close()  # empties every table for the next test, then disposes


@pytest.fixture
async def other_session(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of its own, as another server or `psql` would have."""
    connection = await connect(postgres_url)
    try:
        yield connection
    finally:
        await connection.close()


async def counted(session: asyncpg.Connection) -> dict[UUID, int]:
    return dict(await session.fetch("SELECT owner_id, count(*) FROM memories GROUP BY owner_id"))


async def summed(session: asyncpg.Connection) -> dict[UUID, int]:
    """Each owner's total as the deltas say, owners whose memories are all gone left out as `counted` does."""
    rows = await session.fetch("SELECT owner_id, sum(total) FROM memory_count_deltas GROUP BY owner_id")
    return {owner: total for owner, total in rows if total != 0}


async def changes(session: asyncpg.Connection, owner: UUID = ALICE) -> int:
    return int(await session.fetchval(
        "SELECT coalesce(sum(changes), 0) FROM memory_count_deltas WHERE owner_id = $1", owner))


async def delta_rows(session: asyncpg.Connection, owner: UUID = ALICE) -> int:
    return int(await session.fetchval("SELECT count(*) FROM memory_count_deltas WHERE owner_id = $1", owner))


_COUNTS_MATCHES = re.compile(r"count\(\*\)[^()]*FROM memories\b")  # not the count of delta rows


def match_counts(engine: AsyncEngine) -> list[str]:
    """Every statement from now on that counts a list's matches (the page's own or on its own)."""
    seen: list[str] = []

    def listen(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if _COUNTS_MATCHES.search(statement):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    return seen


async def test_the_unfiltered_total_is_the_count_after_inserts_deletes_updates_and_a_change_of_owner(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    memories = [lists.memory(f"note {n}") for n in range(5)]
    await lists.store(*memories)
    assert await lists.total() == 5

    async with lists.uow() as uow:
        await uow.memories.remove(ALICE, memories[0].id)
        await uow.memories.replace(memories[1].revise(content="edited", now=TEST_NOW), expected_version=1)
        await uow.commit()
    assert await lists.total() == 4

    await other_session.execute("UPDATE memories SET owner_id = $1 WHERE id = ANY($2::uuid[])", BOB,
                                [memories[2].id, memories[3].id])
    assert (await lists.total(), await lists.total(BOB)) == (2, 2)
    await other_session.execute("DELETE FROM memories WHERE owner_id = $1", BOB)
    await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, "raw", TEST_NOW)

    assert await lists.total() == 3
    assert await lists.total(BOB) == 0
    assert await summed(other_session) == await counted(other_session) == {ALICE: 3}


async def test_a_deleted_owner_takes_its_deltas_with_it_and_leaves_the_others_right(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    await lists.store(lists.memory("hers", tags=("home",)), lists.memory("his", owner=BOB, tags=("work",)))

    await other_session.execute("DELETE FROM owners WHERE id = $1", ALICE)

    assert await other_session.fetchval("SELECT count(*) FROM memory_count_deltas WHERE owner_id = $1", ALICE) == 0
    assert await lists.total(BOB) == 1
    assert await summed(other_session) == await counted(other_session) == {BOB: 1}


async def test_one_statement_inserting_for_several_owners_counts_each_of_them(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    await other_session.execute(
        "INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, updated_at, version) "
        "SELECT gen_random_uuid(), CASE WHEN n % 3 = 0 THEN $1::uuid ELSE $2::uuid END, 'bulk ' || n, 'note', '[]', "
        "'{}', 'api', now(), now(), 1 FROM generate_series(1, 30) AS n", ALICE, BOB)

    assert (await lists.total(), await lists.total(BOB)) == (10, 20)
    assert await summed(other_session) == await counted(other_session)


async def test_a_truncate_takes_every_total_to_zero_and_still_moves_the_change_count(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    await lists.store(lists.memory("garden", tags=("home",)), lists.memory("garden too", owner=BOB))
    assert await lists.total(search="garden") == 1
    assert await lists.total(tags=("home",)) == 1
    await other_session.execute("TRUNCATE memory_tags")  # alone: the tags filter's answers change
    assert await lists.total(tags=("home",)) == 0
    before = await changes(other_session)

    await other_session.execute("TRUNCATE memories CASCADE")  # memory_tags, index states etc. go with it

    assert (await lists.total(), await lists.total(BOB), await lists.total(search="garden")) == (0, 0, 0)
    assert await changes(other_session) > before


async def test_sixteen_sessions_creating_at_once_add_up_to_the_count(
        lists: Lists, postgres_url: str, other_session: asyncpg.Connection) -> None:
    sessions = [await connect(postgres_url) for _ in range(16)]

    async def create(session: asyncpg.Connection) -> None:
        for n in range(20):
            async with session.transaction():
                await session.execute(INSERT_MEMORY, uuid4(), ALICE if n % 2 else BOB, "at once", TEST_NOW)
                await session.execute("SELECT pg_sleep(0.001)")  # holds the transaction open across the others'

    try:
        await asyncio.gather(*(create(session) for session in sessions))
    finally:
        for session in sessions:
            await session.close()

    assert (await lists.total(), await lists.total(BOB)) == (160, 160)
    assert await summed(other_session) == await counted(other_session) == {ALICE: 160, BOB: 160}
    assert await changes(other_session) == 160


async def test_a_fold_leaves_one_row_with_both_sums(lists: Lists, other_session: asyncpg.Connection) -> None:
    for n in range(5):
        await lists.store(lists.memory(f"note {n}", tags=("home",)))
    await other_session.execute("DELETE FROM memories WHERE content = 'note 0'")
    total, version = await lists.total(), await changes(other_session)

    await lists.totals.compact(ALICE)

    assert await delta_rows(other_session) == 1
    assert await changes(other_session) == version
    assert await lists.total() == total == 4


async def test_folds_racing_each_other_and_concurrent_inserts_keep_the_sums(
        lists: Lists, postgres_url: str, other_session: asyncpg.Connection) -> None:
    writers = [await connect(postgres_url) for _ in range(4)]

    async def insert(session: asyncpg.Connection) -> None:
        for _ in range(25):
            await session.execute(INSERT_MEMORY, uuid4(), ALICE, "racing", TEST_NOW)

    async def fold() -> None:
        for _ in range(10):
            await asyncio.gather(lists.totals.compact(ALICE), lists.totals.compact(ALICE))

    try:
        await asyncio.gather(fold(), *(insert(session) for session in writers))
    finally:
        for session in writers:
            await session.close()
    await lists.totals.compact(ALICE)

    assert await delta_rows(other_session) == 1
    assert await changes(other_session) == 100
    assert await lists.total() == 100
    assert await summed(other_session) == await counted(other_session)


async def test_a_list_that_sees_more_rows_than_the_bound_folds_them_in_the_background(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    for n in range(COMPACT_ABOVE + 1):
        await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, f"one by one {n}", TEST_NOW)
    assert await lists.total() == COMPACT_ABOVE + 1

    await lists.totals.settled()

    assert await delta_rows(other_session) == 1
    assert await lists.total() == COMPACT_ABOVE + 1


async def test_a_fold_never_commits_the_callers_unit_of_work(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    for n in range(COMPACT_ABOVE + 1):
        await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, f"one by one {n}", TEST_NOW)

    async with lists.uow() as uow:  # left without a commit: rolled back
        await uow.memories.add(lists.memory("never committed"))
        assert (await uow.memories.find(ALICE, MemoryQuery())).total == COMPACT_ABOVE + 2
        await lists.totals.settled()

    assert await delta_rows(other_session) == 1
    assert await counted(other_session) == {ALICE: COMPACT_ABOVE + 1}
    assert await lists.total() == COMPACT_ABOVE + 1


async def test_a_failed_fold_is_logged_without_the_database_secret_and_lists_go_on(
        lists: Lists, other_session: asyncpg.Connection, caplog: pytest.LogCaptureFixture) -> None:
    unreachable = create_engine(make_url("postgresql+asyncpg://memo:s3cret-pw@127.0.0.1:1/memo"),
                                connect_timeout_s=1.0)
    failing = ListTotals(unreachable)
    for n in range(COMPACT_ABOVE + 1):
        await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, f"one by one {n}", TEST_NOW)

    try:
        with caplog.at_level(logging.WARNING, logger="memo.adapters.storage.list_totals"):
            async with SqlAlchemyUnitOfWork(AsyncSession(lists.engine), list_totals=failing) as uow:
                assert (await uow.memories.find(ALICE, MemoryQuery())).total == COMPACT_ABOVE + 1
            await failing.settled()
    finally:
        await unreachable.dispose()

    assert [record.getMessage() for record in caplog.records if "folding" in record.getMessage()] != []
    assert "s3cret" not in caplog.text
    assert "127.0.0.1" not in caplog.text
    assert await delta_rows(other_session) == COMPACT_ABOVE + 1
    assert await lists.total() == COMPACT_ABOVE + 1


async def test_a_filtered_total_is_not_counted_again_while_nothing_changed(lists: Lists) -> None:
    await lists.store(lists.memory("garden party", tags=("home",)), lists.memory("garden shed"),
                      lists.memory("kitchen"))
    counts = match_counts(lists.engine)

    answers = [await lists.total(search="garden") for _ in range(5)]
    answers += [await lists.total(search="garden", limit=1, offset=n, sort_by=SortField.UPDATED_AT,
                                  sort_order=SortOrder.ASC) for n in range(3)]  # the page past the end too

    assert answers == [2] * 8
    assert len(counts) == 1
    assert await lists.total(search="garden", tags=("home",)) == 1  # another filter is counted on its own
    assert len(counts) == 2


async def test_a_filtered_total_is_right_on_the_very_next_list_after_a_write_from_another_session(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    shed = lists.memory("garden shed", tags=("home",))
    await lists.store(lists.memory("garden party", tags=("home",)), shed)
    assert await lists.total(search="garden") == 2
    assert await lists.total(tags=("home",)) == 2

    await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, "garden gate", TEST_NOW)
    assert await lists.total(search="garden") == 3

    await other_session.execute("UPDATE memories SET content = 'tool shed' WHERE id = $1", shed.id)
    assert await lists.total(search="garden") == 2

    await other_session.execute("DELETE FROM memories WHERE content = 'garden party'")
    assert await lists.total(search="garden") == 1

    assert await lists.total(tags=("home",)) == 1  # kept at the version before the tag goes
    await other_session.execute("DELETE FROM memory_tags WHERE memory_id = $1", shed.id)
    assert await lists.total(tags=("home",)) == 0
    await other_session.execute("INSERT INTO memory_tags (memory_id, tag, owner_id) VALUES ($1, 'home', $2)",
                                shed.id, ALICE)
    assert await lists.total(tags=("home",)) == 1

    await other_session.execute("UPDATE memory_tags SET tag = 'work' WHERE memory_id = $1", shed.id)
    assert await lists.total(tags=("home",)) == 0


async def test_a_filtered_total_counted_beside_uncommitted_writes_is_not_kept(
        lists: Lists, postgres_url: str, other_session: asyncpg.Connection) -> None:
    """A count read by a transaction that wrote holds its own writes: kept, a rollback could leave the version it
    was read at to be met again by other commits. Here the delta rows' ids interleave so that it would."""
    await lists.store(lists.memory("garden party"))
    slow = await connect(postgres_url)
    try:
        slow_commit = slow.transaction()
        await slow_commit.start()
        await slow.execute(INSERT_MEMORY, uuid4(), ALICE, "kitchen", TEST_NOW)  # the first delta id of the three
        async with lists.uow() as uow:  # never committed
            await uow.memories.add(lists.memory("garden gate"))  # the second
            await other_session.execute(INSERT_MEMORY, uuid4(), ALICE, "hallway", TEST_NOW)  # the third, committed
            assert (await uow.memories.find(ALICE, MemoryQuery(search="garden"))).total == 2
        await slow_commit.commit()
    finally:
        await slow.close()

    assert await lists.total(search="garden") == 1


async def test_a_filtered_total_of_an_owner_deleted_and_made_again_is_counted_again(
        lists: Lists, other_session: asyncpg.Connection) -> None:
    insert_two = ("INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, "
                  "updated_at, version) SELECT gen_random_uuid(), $1::uuid, $2, 'note', '[]', '{}', 'api', now(), "
                  "now(), 1 FROM generate_series(1, 2)")
    await other_session.execute(insert_two, ALICE, "garden")
    assert await lists.total(search="garden") == 2

    await other_session.execute("DELETE FROM owners WHERE id = $1", ALICE)
    await other_session.execute("INSERT INTO owners (id, name, created_at) VALUES ($1, 'alice-again', now())", ALICE)
    await other_session.execute(insert_two, ALICE, "kitchen")  # the same sum of changes as before

    assert await lists.total(search="garden") == 0


@pytest.fixture
async def database_at_0013() -> AsyncIterator[str]:
    """A database at revision 0013 holding Alice's three memories (one tagged) and Bob's one."""
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run the PostgreSQL migrations")
    async with throwaway_database("memo_count_deltas") as url:
        await upgrade(url, "0013")
        session = await connect(url)
        try:
            await session.execute("INSERT INTO owners (id, name, created_at) VALUES ($1, 'alice', now()), "
                                  "($2, 'bob', now())", ALICE, BOB)
            for owner in (ALICE, ALICE, ALICE, BOB):
                await session.execute(INSERT_MEMORY, uuid4(), owner, "written before 0014", TEST_NOW)
        finally:
            await session.close()
        yield url


async def test_the_upgrade_counts_the_memories_written_before_it_and_the_downgrade_removes_it_all(
        database_at_0013: str) -> None:
    await upgrade(database_at_0013)
    engine = create_engine(database_at_0013)
    totals = ListTotals(engine)
    lists = Lists(engine, totals)
    session = await connect(database_at_0013)
    try:
        assert (await lists.total(), await lists.total(BOB)) == (3, 1)
        assert await summed(session) == {ALICE: 3, BOB: 1}
        await lists.store(lists.memory("after 0014"))
        assert await lists.total() == 4

        await downgrade(database_at_0013, "0013")

        left = await session.fetchval(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'memo_memor%' AND proname <> 'memo_api_keys_changed'")
        triggers = await session.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'memory_count_deltas%'")
        assert (left, triggers) == (0, 0)
        assert await session.fetchval("SELECT to_regclass('memory_count_deltas')") is None
        await session.execute(INSERT_MEMORY, uuid4(), ALICE, "after the downgrade", TEST_NOW)  # no trigger left
    finally:
        await session.close()
        await totals.aclose()
        await engine.dispose()
