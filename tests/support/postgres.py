"""Throwaway PostgreSQL databases and a seeded key: the one place the suite and bench/ create and drop databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

from memo.application.dto import IssuedKey
from memo.application.manage_keys import CreateOwner, IssueApiKey
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")


def _admin_url(admin_url: str | None) -> URL:
    url = admin_url or POSTGRES_ADMIN_URL
    if not url:
        raise RuntimeError("no PostgreSQL server: set MEMO_TEST_POSTGRES_URL")
    return make_url(url)


async def postgres_admin(statement: str, admin_url: str | None = None) -> None:
    """One statement on the admin database, outside any transaction, as CREATE and DROP DATABASE need."""
    url = _admin_url(admin_url)
    connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                       password=url.password, database=url.database or "postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def database_url(name: str, admin_url: str | None = None) -> str:
    """The URL of database `name` on the admin URL's server, password included."""
    return _admin_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def create_database(prefix: str, admin_url: str | None = None) -> str:
    """Create an empty database and return its name; drop it with `drop_database`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE DATABASE "{name}"', admin_url)
    return name


async def drop_database(name: str, admin_url: str | None = None) -> None:
    await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url)


@asynccontextmanager
async def throwaway_database(prefix: str, admin_url: str | None = None) -> AsyncIterator[str]:
    """The URL of a new empty database, dropped on the way out even if connections are still open."""
    name = await create_database(prefix, admin_url)
    try:
        yield database_url(name, admin_url)
    finally:
        await drop_database(name, admin_url)


async def seed_owner_and_key(settings: Settings, owner: str = "alice") -> IssuedKey:
    """Through a container of its own: the app's engine must be born on the loop that serves it."""
    seeding = make_container(settings)
    try:
        async with seeding() as scope:
            await (await scope.get(CreateOwner))(owner)
            return await (await scope.get(IssueApiKey))(owner)
    finally:
        await seeding.close()
