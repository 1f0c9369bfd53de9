"""What a long read on the SQLite file does to everything else the event loop serves, before and after the readers.

Run: `uv run python bench/read_stalls.py [--memories 100000] [--searches 20]`

It makes a throwaway SQLite file, migrates it and stores `--memories` memories of one owner (bench/search_corpus.py's
mix, so `search=garden` matches about a tenth of them), then, for each way a list can read, runs `--searches` lists
with that search, eight at a time, while two other coroutines measure what the rest of the server would feel:

- a ticker that asks to wake every millisecond and records how late it woke (the loop's stall);
- a stream of small creates through the writer, one after another, timing each (what a write waits).

Last, what an unfiltered page costs on the inline reader at offsets 0, just under `INLINE_ROWS` and ten times it.

"reads in the writer's turn" are the lists as a unit of work reads them (`UnitOfWorkReads` over the SQLite unit of
work: inline on the loop, one turn of the writer each), which is how every read ran before `sqlite_readers.py`;
"reader connections" are `SqliteReads`, which the server uses now. Prints one table. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search_corpus  # type: ignore[import-not-found]  # bench/, beside this file

from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import create_engine
from memo.adapters.storage.sqlite_readers import INLINE_ROWS, SqliteReads, close_readers, readers_of
from memo.adapters.storage.sqlite_reads import counted_page, driver_reads
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand, MemoryQuery
from memo.application.ports import MemoryReads
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner

OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_57A1)
IN_FLIGHT = 8
WRITE_IDS = SequentialIds(start=10**9)  # one sequence for every measure: they share the file


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def seed(path: Path, count: int) -> None:
    await upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    writer = writer_of(engine)
    assert writer is not None
    rng, ids = random.Random(7), SequentialIds(start=1)
    try:
        async with SqliteUnitOfWork(writer) as uow:
            await uow.owners.add(Owner.create(id=OWNER, name="stalls", now=TEST_NOW))
            await uow.commit()
        for start in range(0, count, 5_000):
            batch = []
            for index in range(start, min(count, start + 5_000)):
                text, tags = search_corpus.content(rng, index)
                batch.append(Memory.create(id=ids.new_id(), owner_id=OWNER, content=text, type=MemoryType.NOTE,
                                           tags=tuple(tags), now=TEST_NOW))
            async with SqliteUnitOfWork(writer) as uow:
                await uow.memories.add_many(batch)
                await uow.commit()
    finally:
        await writer.aclose()
        await engine.dispose()


async def measure(path: Path, searches: int, reads_of: Callable[[AsyncEngine], MemoryReads]) -> dict[str, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    writer = writer_of(engine)
    assert writer is not None
    stalls: list[float] = []
    writes: list[float] = []
    lists: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls.append((time.perf_counter() - asked - 0.001) * 1000)

    async def writing() -> None:
        create = CreateMemory(uow=SqliteUnitOfWork(writer), clock=FixedClock(), ids=WRITE_IDS)
        while not done.is_set():
            began = time.perf_counter()
            await create(CreateMemoryCommand(owner_id=OWNER, content="a small note while others search"))
            writes.append((time.perf_counter() - began) * 1000)

    async def listing(queue: asyncio.Queue[int]) -> None:
        while not queue.empty():
            queue.get_nowait()
            began = time.perf_counter()
            await reads_of(engine).find(OWNER, MemoryQuery(search="garden", limit=20))
            lists.append((time.perf_counter() - began) * 1000)

    try:
        await reads_of(engine).find(OWNER, MemoryQuery(search="garden", limit=20))  # warm: caches, connections
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(searches):
            queue.put_nowait(number)
        background = [asyncio.create_task(ticker()), asyncio.create_task(writing())]
        began = time.perf_counter()
        await asyncio.gather(*(listing(queue) for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - began
        done.set()
        await asyncio.gather(*background)
    finally:
        await writer.aclose()
        await close_readers(engine)
        await engine.dispose()
    return {"lists/s": searches / elapsed, "list p50": statistics.median(lists), "list max": max(lists),
            "stall p99": percentile(stalls, 0.99), "stall max": max(stalls), "writes": len(writes),
            "write p50": statistics.median(writes), "write max": max(writes)}


async def page_costs(path: Path, repeats: int = 200) -> dict[int, float]:
    """Microseconds of an unfiltered page of 20 on the inline reader, by offset: what `INLINE_ROWS` bounds."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    readers = readers_of(engine)
    assert readers is not None
    costs: dict[int, float] = {}
    try:
        reads = driver_reads(readers.inline.dialect)
        async with readers.driver(inline=True) as driver:  # whatever the offset, to see what the bound saves
            for offset in (0, INLINE_ROWS - 20, 10 * INLINE_ROWS):
                query = MemoryQuery(limit=20, offset=offset)
                await counted_page(reads, driver, OWNER, query)
                began = time.perf_counter()
                for _ in range(repeats):
                    await counted_page(reads, driver, OWNER, query)
                costs[offset] = (time.perf_counter() - began) / repeats * 1e6
    finally:
        await close_readers(engine)
        await engine.dispose()
    return costs


async def main(memories: int, searches: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memo.db"
        await seed(path, memories)

        def in_turn(engine: AsyncEngine) -> MemoryReads:
            writer = writer_of(engine)
            assert writer is not None
            return UnitOfWorkReads(SqliteUnitOfWork(writer))

        def readers(engine: AsyncEngine) -> MemoryReads:
            found = readers_of(engine)
            assert found is not None
            return SqliteReads(found)

        print(f"{memories:,} memories, {searches} lists with search=garden, {IN_FLIGHT} at a time, beside a "
              "ticker every 1 ms and one create after another; times in ms")
        print("| reads | lists/s | list p50 | list max | loop stall p99 | loop stall max | creates done | "
              "create p50 | create max |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, reads_of in (("in the writer's turn (before)", in_turn), ("reader connections (now)", readers)):
            got = await measure(path, searches, reads_of)
            print(f"| {name} | {got['lists/s']:.1f} | {got['list p50']:.1f} | {got['list max']:.1f} | "
                  f"{got['stall p99']:.1f} | {got['stall max']:.1f} | {int(got['writes'])} | "
                  f"{got['write p50']:.1f} | {got['write max']:.1f} |")
        costs = await page_costs(path)
        print("\nan unfiltered page of 20 on the inline reader, by offset: "
              + ", ".join(f"{offset:,}: {cost:.0f} us" for offset, cost in costs.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=40)
    options = parser.parse_args()
    asyncio.run(main(options.memories, options.searches))
