"""What PRAGMA synchronous costs per committed memory on SQLite in WAL mode, through Memo's own storage stack.

Run: `uv run python bench/sqlite_synchronous.py [N] [DIR]` (DIR defaults to ./.memo-bench, i.e. the same disk
as the default data folder). Each mode gets a fresh migrated database; each iteration is one unit of work that
adds one memory and commits, as a POST /api/memories does.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import SystemClock, UuidV7Ids
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner


async def commit_times(url: str, count: int, mode: str) -> list[float]:
    await upgrade(url)
    engine = create_engine(url, sqlite_synchronous=mode)
    clock, ids = SystemClock(), UuidV7Ids()
    owner = Owner.create(id=ids.new_id(), name="bench", now=clock.now())
    async with AsyncSession(engine, expire_on_commit=False) as session, SqlAlchemyUnitOfWork(session) as uow:
        await uow.owners.add(owner)
        await uow.commit()
    times = []
    for index in range(count):
        memory = Memory.create(id=ids.new_id(), owner_id=owner.id, content=f"memory {index}", type=MemoryType.NOTE,
                               tags=("bench", f"t{index % 7}"), now=clock.now())
        started = time.perf_counter()
        async with AsyncSession(engine, expire_on_commit=False) as session, SqlAlchemyUnitOfWork(session) as uow:
            await uow.memories.add(memory)
            await uow.commit()
        times.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    return times


async def main(count: int, folder: Path) -> None:
    for mode in ("NORMAL", "FULL"):
        shutil.rmtree(folder, ignore_errors=True)
        times = await commit_times(f"sqlite+aiosqlite:///{folder / 'bench.db'}", count, mode)
        quantiles = statistics.quantiles(times, n=20)
        print(f"synchronous={mode:<6} n={count} median={statistics.median(times):.3f} ms "
              f"p95={quantiles[18]:.3f} ms mean={statistics.fmean(times):.3f} ms")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500,
                     Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".memo-bench")))
