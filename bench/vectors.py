"""The SQLite vector index of the embedded default: query latency, upsert throughput and owner loads.

Run: `uv run python bench/vectors.py [--sizes 10000 100000] [--owners 1 100] [--queries 300] [--dims 384]
      [--batch 64] [--dir DIR] [--json FILE]`; numpy's OpenBLAS threads matter on a busy machine: compare a run
      with OPENBLAS_NUM_THREADS=1.

For each size and spread it makes a fresh migrated SQLite file (in DIR, default a temporary folder), writes the
memory rows straight into the table (full-text triggers dropped first: vectors need none, and they would make the
set-up, not the index, the slow part), then through `SqliteVectorIndex` on Memo's own engine:

- upserts every vector in batches of 64 (--batch), one transaction each, as the indexing job does (vectors/s);
- loads each owner on its first query (ms for the largest owner);
- queries random unit vectors of random owners, top 10: no filter, a type filter (half the rows) and a tag filter
  (a tenth), each timed around `await index.query(...)`, so the change-count read is included (p50/p99 ms);
- after another process's write of one vector (a second engine on the same file), the next query first catches
  up with it (ms): reads the rows written and the tombstones laid since its count, not the whole owner.

Vectors are random Gaussian, unit length; the scores are exact either way. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.migrate import upgrade
from memo.adapters.vectors.sqlite import SqliteVectorIndex
from memo.domain.memory import MemoryType, Source
from memo.domain.retrieval import SearchFilters, VectorEntry

MODEL = "bench-model"
START = datetime(2026, 1, 1, tzinfo=UTC)
FILTERS = {"no filter": SearchFilters(), "type (1/2)": SearchFilters(type=MemoryType.REMINDER),
           "tag (1/10)": SearchFilters(tags=("rare",))}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def seed(url: str, owners: list[uuid.UUID], rows: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(owner, memory) pairs, memories spread round-robin over the owners."""
    engine = create_engine(url)
    pairs = [(owners[index % len(owners)], uuid.uuid4()) for index in range(rows)]
    try:
        async with engine.begin() as connection:
            for (name,) in (await connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'memories'")).all():
                await connection.exec_driver_sql(f"DROP TRIGGER {name}")
            await connection.exec_driver_sql(
                "INSERT INTO owners (id, name, created_at) VALUES (?, ?, '2026-01-01 00:00:00.000000')",
                [(owner.bytes, f"owner-{index}") for index, owner in enumerate(owners)])
            await connection.exec_driver_sql(
                "INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, updated_at,"
                " version) VALUES (?, ?, 'a memory', 'note', '[]', '{}', 'api', '2026-01-01 00:00:00.000000',"
                " '2026-01-01 00:00:00.000000', 1)", [(memory.bytes, owner.bytes) for owner, memory in pairs])
    finally:
        await engine.dispose()
    return pairs


def entries(pairs: list[tuple[uuid.UUID, uuid.UUID]], vectors: np.ndarray, owners: int) -> list[VectorEntry]:
    """Half of each owner's memories are reminders and a tenth are tagged `rare`."""
    made = []
    for index, (owner, memory) in enumerate(pairs):
        nth = index // owners  # the memory's rank among its owner's
        made.append(VectorEntry(memory_id=memory, owner_id=owner, vector=vectors[index],
                                type=MemoryType.REMINDER if nth % 2 else MemoryType.NOTE,
                                tags=("rare",) if nth % 10 == 0 else ("common",), source=Source.API,
                                created_at=START + timedelta(seconds=index)))
    return made


async def run(size: int, owner_count: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    path = folder / f"vectors-{size}-{owner_count}.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    owners = [uuid.uuid4() for _ in range(owner_count)]
    pairs = await seed(url, owners, size)
    rng = np.random.default_rng(size + owner_count)
    vectors = rng.normal(size=(size, args.dims)).astype(np.float32)
    batch = entries(pairs, vectors, owner_count)
    engine, other = create_engine(url), create_engine(url)
    try:
        index = SqliteVectorIndex(engine, model=MODEL, dimensions=args.dims)
        started = time.perf_counter()
        for start in range(0, size, args.batch):
            await index.upsert(batch[start:start + args.batch])
        upsert_s = time.perf_counter() - started

        fresh = SqliteVectorIndex(engine, model=MODEL, dimensions=args.dims)
        query = rng.normal(size=args.dims).tolist()
        started = time.perf_counter()
        await fresh.query(owners[0], query, limit=10, filters=SearchFilters())
        load_ms = (time.perf_counter() - started) * 1000
        for owner in owners[1:]:
            await fresh.query(owner, query, limit=10, filters=SearchFilters())

        figures: dict[str, Any] = {"vectors": size, "owners": owner_count, "batch": args.batch,
                                   "upsert_per_s": size / upsert_s,
                                   "first_query_load_ms": load_ms}
        for name, filters in FILTERS.items():
            times = []
            for _ in range(args.queries):
                owner = owners[int(rng.integers(owner_count))]
                vector = rng.normal(size=args.dims).tolist()
                started = time.perf_counter()
                hits = await fresh.query(owner, vector, limit=10, filters=filters)
                times.append((time.perf_counter() - started) * 1000)
                assert len(hits) == 10  # every owner holds 10 or more of each kind
            figures[name] = {"p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99)}

        worker = SqliteVectorIndex(other, model=MODEL, dimensions=args.dims)
        await worker.upsert(batch[:1])  # another process's write: the API's array of that owner is now behind
        started = time.perf_counter()
        await fresh.query(owners[0], query, limit=10, filters=SearchFilters())
        figures["catch_up_after_other_process_ms"] = (time.perf_counter() - started) * 1000
        return figures
    finally:
        await engine.dispose()
        await other.dispose()
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def show(figures: dict[str, Any]) -> None:
    print(f"{figures['vectors']:>7,} vectors over {figures['owners']:>3} owner(s): "
          f"upsert {figures['upsert_per_s']:,.0f}/s in batches of {figures['batch']}, "
          f"first query (load) {figures['first_query_load_ms']:.0f} ms, "
          f"after another process's write {figures['catch_up_after_other_process_ms']:.1f} ms")
    for name in FILTERS:
        print(f"    top 10, {name:<10}  p50 {figures[name]['p50_ms']:6.2f} ms  p99 {figures[name]['p99_ms']:6.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--owners", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="memo-vectors-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in args.sizes:
            for owner_count in args.owners:
                figures = await run(size, owner_count, args, folder)
                show(figures)
                results.append(figures)
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
