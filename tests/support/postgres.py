"""Throwaway PostgreSQL databases and a seeded key, for tests that run whole apps or servers."""

from __future__ import annotations

import os
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from memo.application.dto import IssuedKey
from memo.application.manage_keys import CreateOwner, IssueApiKey
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")


async def postgres_admin(statement: str) -> None:
    assert POSTGRES_ADMIN_URL
    url = make_url(POSTGRES_ADMIN_URL)
    connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                       database=url.database or "postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(prefix: str) -> str:
    """Create an empty database and return its name; drop it with `drop_database`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE DATABASE "{name}"')
    return name


async def drop_database(name: str) -> None:
    await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed_owner_and_key(settings: Settings, owner: str = "alice") -> IssuedKey:
    """Through a container of its own: the app's engine must be born on the loop that serves it."""
    seeding = make_container(settings)
    try:
        async with seeding() as scope:
            await (await scope.get(CreateOwner))(owner)
            return await (await scope.get(IssueApiKey))(owner)
    finally:
        await seeding.close()
