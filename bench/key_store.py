"""What a signed request's key lookup costs on each SQL store: microseconds of this process's CPU per lookup.

Run: `uv run python bench/key_store.py [--postgres-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
      [--lookups 5000]`

It makes a throwaway SQLite file and, with `--postgres-url`, a throwaway PostgreSQL database, migrates each, adds
one owner and key, and looks the key up `--lookups` times through the very key store a server uses
(`SqlAlchemyKeyStore`), then again with its cache switched off, as it was before the cache (every lookup a read).
It prints CPU and wall microseconds per lookup and how many key rows were read. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import create_database, database_url, drop_database

from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyKeyStore, SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW
from memo.domain.owners import ApiKey, Owner

OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_BE7C)
KEY_ID = "key_bench_lookup"
BOX = AesGcmSecretBox(generate_encryption_key())


async def seed(engine: AsyncEngine) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session, SqlAlchemyUnitOfWork(session) as uow:
        await uow.owners.add(Owner.create(id=OWNER, name="bench-lookup", now=TEST_NOW))
        await uow.api_keys.add(ApiKey(key_id=KEY_ID, owner_id=OWNER, label=None, created_at=TEST_NOW,
                                      sealed_secret=BOX.seal(b"secret", key_id=KEY_ID)))
        await uow.commit()


async def measure(engine: AsyncEngine, lookups: int, *, cached: bool) -> tuple[float, float, int]:
    reads: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _k, statement, *_: reads.append(statement) if "FROM api_keys" in statement else None)
    store = SqlAlchemyKeyStore(engine, BOX)
    if not cached:
        store._cache = None  # noqa: SLF001 - the store as it was before the cache, for the comparison only
    try:
        for _ in range(200):  # warm-up: connections, the listening session, statement caches
            await store.find_active(KEY_ID)
        reads.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(lookups):
            assert await store.find_active(KEY_ID) is not None
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await store.aclose()
    return cpu / lookups * 1e6, wall / lookups * 1e6, len(reads)


async def run(name: str, url: str, lookups: int) -> None:
    await upgrade(url)
    engine = create_engine(url)
    try:
        await seed(engine)
        for cached in (False, True):
            cpu, wall, reads = await measure(engine, lookups, cached=cached)
            print(f"{name:<10} {'cache' if cached else 'no cache':<9} cpu_us_per_lookup={cpu:7.1f} "
                  f"wall_us_per_lookup={wall:7.1f} key_reads={reads}/{lookups}", flush=True)
    finally:
        await engine.dispose()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="memo-keys-") as folder:
        await run("sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'memo.db'}", args.lookups)
    if args.postgres_url:
        name = await create_database("memo_bench_keys", args.postgres_url)
        try:
            await run("postgresql", database_url(name, args.postgres_url), args.lookups)
        finally:
            await drop_database(name, args.postgres_url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--lookups", type=int, default=5000)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
