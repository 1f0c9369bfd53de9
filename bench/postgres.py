"""Memo on PostgreSQL with 100,000 memories: signed create, list with search, and get, on one worker and two.

Run: `uv run python bench/postgres.py [--admin-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
      [--memories 100000] [--duration 10] [--redis-url redis://127.0.0.1:6379/13] [--json FILE]`

It makes a throwaway database, migrates it with `memo db upgrade`, makes a key with the CLI, loads the memories
straight into the tables (bench/search_corpus.py: one owner; `plumber` in 1 % of them, `garden` in 10 %), then
starts `memo serve` on it and drives signed requests with wrk. The searches: a rare word, the common word the
same every request, the common word with a new query every request (`garden -<word>`, a word no memory holds,
never the same twice: the same matches, but nothing a cache keyed by the query could answer), and a phrase with
an exclusion. The same run measures signed creates on the embedded default (SQLite), so the
PostgreSQL/embedded ratio compares like with like. One worker runs pinned to CPU 0 with wrk on CPU 1; two
workers share both CPUs with wrk and PostgreSQL, as on a real 2-core box. The searches run once more at 4
connections, for their latency when the server is not saturated. Everything it starts is stopped at the end;
the database is dropped. Prints figures, asserts nothing. bench/run.py `--postgres` measures its create and
common-word searches side by side with the other scenarios of issue 11's aims.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from run import PROCS, clean_env, free_port, memo_cli, pinning, run_wrk, wait_ready
from search_corpus import COMMON_SEARCH, NEW_QUERY_SEARCH, fill_in, load
from signed_requests import write_requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the suite's helpers
from tests.support.postgres import create_database, database_url, drop_database

HUGE = "100000000"
SCENARIOS = (
    ("create", "POST", "/api/memories"),
    ("list search=plumber (rare)", "GET", "/api/memories?search=plumber&limit=20"),
    ("list search=garden (common)", "GET", COMMON_SEARCH),
    ("list search=garden -<unique> (each new)", "GET", NEW_QUERY_SEARCH),  # a new query every request
    ('list search="paint fence" -car', "GET", "/api/memories?search=%22paint%20fence%22%20-car&limit=20"),
    ("list newest 20", "GET", "/api/memories?limit=20"),
    ("get by id", "GET", "/api/memories/{id}"),
)
LIGHT = SCENARIOS[1:5]  # the searches again at 4 connections: their latency when the server is not saturated


def measure(env: dict[str, str], work: Path, key: dict[str, str], *, workers: int, name: str, method: str,
            target: str, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    log = work / f"serve-{port}.log"
    cpu = pinning("0") if workers == 1 else []
    exe = Path(sys.executable).with_name("memo")
    server = PROCS.start([*cpu, str(exe), "serve", "--port", str(port), "--workers", str(workers)], env=env,
                         cwd=work, log=log)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", server, log)
        wrk_args = SimpleNamespace(threads=1, connections=args.connections)
        file = work / "requests.tsv"
        lines = int(min(args.max_requests, max(args.duration * 6000, 20_000)))
        for_file, values = fill_in(target, lines, ids)
        write_requests(file, count=lines, method=method, target=for_file, key_id=key["keyId"], secret=key["secret"],
                       ids=values)
        run_wrk(f"http://127.0.0.1:{port}", file, 2, wrk_args, log=work / "warmup.log", server_pgid=server.pid)
        for_file, values = fill_in(target, lines, ids)  # new words again: none the warm-up asked
        write_requests(file, count=lines, method=method, target=for_file, key_id=key["keyId"], secret=key["secret"],
                       ids=values)
        result = run_wrk(f"http://127.0.0.1:{port}", file, args.duration, wrk_args, log=work / "wrk.log",
                         server_pgid=server.pid)
    finally:
        PROCS.stop(server)
    row = {"scenario": name, "workers": workers, **{k: result[k] for k in ("rps", "p50_ms", "p99_ms", "non2xx")}}
    print(f"{name:<34} workers={workers}  {row['rps']:>8.0f} req/s  p50 {row['p50_ms']:>7.2f} ms  "
          f"p99 {row['p99_ms']:>7.2f} ms  non-2xx {row['non2xx']}", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("MEMO_TEST_POSTGRES_URL",
                                                              "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=None, help="share nonces and limits in Redis, as production does")
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=400_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    name = asyncio.run(create_database("memo_bench", args.admin_url))
    url = database_url(name, args.admin_url)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="memo-pg-bench-") as folder:
            work = Path(folder)
            base = clean_env([])
            common = {"RATE_LIMIT_MAX_REQUESTS": HUGE, "RATE_LIMIT_IP_MAX_REQUESTS": HUGE, "LOG_LEVEL": "warning"}
            pg_env = {**base, **common, "DATABASE_URL": url, "MEMO_DATA_DIR": str(work / "pg"),
                      "DATABASE_POOL_SIZE": "20"}
            if args.redis_url:
                pg_env["REDIS_URL"] = args.redis_url
            memo_cli(pg_env, work, "db", "upgrade")
            memo_cli(pg_env, work, "owners", "create", "bench")
            key = json.loads(memo_cli(pg_env, work, "keys", "create", "--owner", "bench", "--json"))
            started = time.monotonic()
            ids = asyncio.run(load(url, "bench", args.memories))
            print(f"loaded {args.memories} memories in {time.monotonic() - started:.1f} s "
                  f"(redis: {'yes' if args.redis_url else 'no, in process'})", flush=True)
            for workers in (int(w) for w in args.workers.split(",")):
                for label, method, target in SCENARIOS:
                    rows.append(measure(pg_env, work, key, workers=workers, name=f"postgresql {label}",
                                        method=method, target=target, ids=ids if "{id}" in target else [],
                                        args=args))
            light = argparse.Namespace(**{**vars(args), "connections": 4})
            for label, method, target in LIGHT:
                rows.append(measure(pg_env, work, key, workers=1, name=f"postgresql {label} -c4", method=method,
                                    target=target, ids=[], args=light))
            sqlite_env = {**base, **common, "MEMO_DATA_DIR": str(work / "sqlite")}
            memo_cli(sqlite_env, work, "owners", "create", "bench")
            sqlite_key = json.loads(memo_cli(sqlite_env, work, "keys", "create", "--owner", "bench", "--json"))
            rows.append(measure(sqlite_env, work, sqlite_key, workers=1, name="embedded (sqlite) create",
                                method="POST", target="/api/memories", ids=[], args=args))
    finally:
        PROCS.stop_all()
        asyncio.run(drop_database(name, args.admin_url))
    pg_create = next(r["rps"] for r in rows if r["scenario"] == "postgresql create" and r["workers"] == 1)
    sqlite_create = rows[-1]["rps"]
    print(f"\npostgresql create / embedded create (one worker each): {pg_create / sqlite_create:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"memories": args.memories, "redis": bool(args.redis_url), "rows": rows},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
