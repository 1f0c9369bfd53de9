"""The migrations build exactly the ORM's schema, go down and up again cleanly, and are safe to run on every start."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from memo.adapters.storage.migrate import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    compare_type,
    current_revision,
    downgrade,
    include_object,
    upgrade,
)
from memo.adapters.storage.orm import metadata
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from memo.domain.search import FOLDS
from tests.support.postgres import POSTGRES_ADMIN_URL, throwaway_database

T = TypeVar("T")

HEAD = "0014"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database with nothing in it; SQLite in a folder that does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'not-yet' / 'memo.db'}"
        return
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run the PostgreSQL migrations")
    async with throwaway_database("memo_migrations") as url:
        yield url


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


# Migration 0007's vector tables exist on SQLite only and are written by memo.adapters.vectors.sqlite, not through
# the ORM metadata; test_the_vector_tables_of_0007_exist_on_sqlite_only checks them instead.
VECTOR_TABLES = frozenset({"memory_vectors", "memory_vector_generations", "memory_vector_tombstones"})


def _include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    table = name if type_ == "table" else getattr(getattr(item, "table", None), "name", None)
    return table not in VECTOR_TABLES and include_object(item, name, type_, reflected, compare_to)


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={
        "compare_type": compare_type, "compare_server_default": True, "version_table": VERSION_TABLE,
        "include_object": _include})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_to_head_builds_exactly_the_orm_schema(empty_database: str) -> None:
    await upgrade(empty_database)

    assert await current_revision(empty_database) == HEAD
    assert await _run(empty_database, _schema_diff) == []


async def test_downgrade_to_base_then_upgrade_again_round_trips(empty_database: str) -> None:
    await upgrade(empty_database)

    await downgrade(empty_database, "base")
    assert await current_revision(empty_database) is None
    assert await _run(empty_database, _tables) == {VERSION_TABLE}

    await upgrade(empty_database)
    assert await current_revision(empty_database) == HEAD
    assert await _run(empty_database, _schema_diff) == []


async def test_upgrading_an_up_to_date_database_changes_nothing_and_keeps_data(empty_database: str) -> None:
    await upgrade(empty_database)
    owner = Owner.create(id=SequentialIds().new_id(), name="kept", now=TEST_NOW)
    engine = create_engine(empty_database)
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            await uow.owners.add(owner)
            await uow.commit()

        await upgrade(empty_database)
        await upgrade(empty_database)

        assert await current_revision(empty_database) == HEAD
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            assert await uow.owners.by_name("kept") == owner
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_wait_for_each_other_instead_of_colliding(empty_database: str) -> None:
    await asyncio.gather(*(upgrade(empty_database) for _ in range(3)))

    assert await current_revision(empty_database) == HEAD
    assert await _run(empty_database, _schema_diff) == []


def _vector_objects(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = VECTOR_TABLES & set(inspector.get_table_names())
    found: dict[str, Any] = {table: [column["name"] for column in inspector.get_columns(table)] for table in tables}
    if "memory_vectors" in tables:
        found["indexes"] = [index["name"] for index in inspector.get_indexes("memory_vectors")]
        found["foreign_keys"] = [(key["referred_table"], key["options"].get("ondelete"))
                                 for key in inspector.get_foreign_keys("memory_vectors")]
    if connection.dialect.name == "sqlite":
        found["triggers"] = sorted(name for (name,) in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'memory_vectors'"))
    return found


async def test_the_vector_tables_of_0007_exist_on_sqlite_only(empty_database: str) -> None:
    await upgrade(empty_database)

    found = await _run(empty_database, _vector_objects)

    if "postgresql" in empty_database:  # pgvector's adapter keeps a table of its own
        assert found == {}
        return
    assert found == {
        "memory_vectors": ["memory_id", "owner_id", "model", "dimensions", "vector", "type", "tags", "source",
                           "created_at", "generation"],
        "memory_vector_generations": ["owner_id", "generation", "pruned_through"],
        "memory_vector_tombstones": ["owner_id", "generation", "memory_id"],
        "indexes": ["ix_memory_vectors_owner_generation"],
        "foreign_keys": [("memories", "CASCADE")],
        "triggers": ["memory_vectors_after_delete"],
    }


def _count_delta_objects(connection: Connection) -> tuple[bool, int]:
    """Whether migration 0014's table is there, and how many triggers on PostgreSQL feed it."""
    present = "memory_count_deltas" in inspect(connection).get_table_names()
    if connection.dialect.name != "postgresql":
        return present, 0
    triggers = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'memory_count_deltas_after_%'").scalar_one()
    return present, triggers


async def test_the_count_deltas_of_0014_exist_on_postgresql_only(empty_database: str) -> None:
    await upgrade(empty_database)

    found = await _run(empty_database, _count_delta_objects)

    # insert, delete, update and truncate, on memories and on memory_tags
    assert found == ((True, 8) if "postgresql" in empty_database else (False, 0))


def test_migrations_ship_inside_the_package() -> None:
    shipped = {path.relative_to(MIGRATIONS_DIR).as_posix() for path in MIGRATIONS_DIR.rglob("*") if path.is_file()}

    assert {"env.py", "script.py.mako", "versions/0001_initial.py", "versions/0002_full_text_search.py"} <= shipped


def _search_objects(connection: Connection) -> set[str]:
    """The full-text objects of migration 0002 present in the database."""
    inspector = inspect(connection)
    if connection.dialect.name == "postgresql":
        found = {f"column {column['name']}" for column in inspector.get_columns("memories")}
        found |= {f"index {index['name']}" for index in inspector.get_indexes("memories")}
        return found & {"column content_tsv", "index ix_memories_content_tsv"}
    rows = connection.exec_driver_sql("SELECT type, name FROM sqlite_master WHERE name LIKE 'memor%'")
    return {f"{kind} {name}" for kind, name in rows} & {
        "table memories_fts", "table memory_rowids", "trigger memories_fts_after_insert",
        "trigger memories_fts_after_update", "trigger memories_fts_after_delete"}


async def _found(engine_url: str, owner: Owner, search: str) -> list[str]:
    engine = create_engine(engine_url)
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            page = await uow.memories.find(owner.id, MemoryQuery(search=search))
        return [memory.content for memory in page.items]
    finally:
        await engine.dispose()


async def test_full_text_search_indexes_memories_written_before_it_and_goes_down_and_up_cleanly(
        empty_database: str) -> None:
    await upgrade(empty_database, "0001")
    ids = SequentialIds()
    owner = Owner.create(id=ids.new_id(), name="early", now=TEST_NOW)
    engine = create_engine(empty_database)
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            await uow.owners.add(owner)
            for content in ("written before full-text search", "another early note"):
                await uow.memories.add(Memory.create(id=ids.new_id(), owner_id=owner.id, content=content,
                                                     type=MemoryType.NOTE, now=TEST_NOW))
            await uow.commit()
    finally:
        await engine.dispose()
    expected = 2 if "postgresql" in empty_database else 5

    await upgrade(empty_database)
    assert len(await _run(empty_database, _search_objects)) == expected
    assert await _found(empty_database, owner, "Full-Text") == ["written before full-text search"]

    await downgrade(empty_database, "0001")
    assert await _run(empty_database, _search_objects) == set()
    diff = await _run(empty_database, _schema_diff)  # only the later tables are missing
    named = [(item[0], f"{item[2]}.{item[3].name}" if item[0] == "add_column" else item[1].name) for item in diff]
    assert sorted(named) == [
        ("add_column", "api_keys.last_used_at"), ("add_column", "api_keys.previous_sealed_secret"),
        ("add_column", "api_keys.previous_valid_until"), ("add_index", "ix_jobs_owner_state"),
        ("add_index", "ix_jobs_state_run_after"),
        ("add_index", "ix_memory_index_states_owner_id"), ("add_index", "ix_nonces_expires_at"),
        ("add_index", "ix_whatsapp_messages_owner_direction"), ("add_index", "ix_whatsapp_messages_owner_memory"),
        ("add_table", "jobs"),
        ("add_table", "memory_index_states"), ("add_table", "nonces"), ("add_table", "whatsapp_messages"),
        ("add_table", "whatsapp_statuses"), ("add_table", "worker_heartbeats")]

    await upgrade(empty_database)
    assert await _found(empty_database, owner, "early -written") == ["another early note"]


def test_the_postgresql_column_folds_characters_as_the_domain_does() -> None:
    migration = importlib.import_module("memo.adapters.storage.migrations.versions.0002_full_text_search")

    assert migration.FOLDS == FOLDS
