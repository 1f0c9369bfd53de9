"""Signed requests straight into Memo's ASGI app, in process: the app's own cost per request, no socket, no parser.

Run: `uv run python bench/asgi_calls.py [--profile test|embedded] [--route create|get|list|search] [--count 5000]
[--concurrency 32] [--seed 200] [--search TEXT] [--quiet] [--unguarded] [--cprofile FILE] [--callgrind]
[--app MODULE:ATTR]`

Why: wrk through a server measures the whole stack, and on a shared machine its figures move by a quarter from
one minute to the next. This drives the very app `memo serve` runs (bench/apps.py's factories, so middleware,
metrics, access log, guard and handlers are all there) with pre-signed requests from `--concurrency` tasks on one
event loop, and prints microseconds per request of CPU time and of wall time. CPU time still moves with the
machine's load (the two CPUs here are threads of one core); instructions do not: `valgrind --tool=callgrind
--instr-atstart=no .venv/bin/python bench/asgi_calls.py --callgrind --count 300` counts those of the measured
requests only (divide the total by the count), the same to a few parts in ten thousand from run to run.
`--cprofile FILE` writes a cProfile of the measured part for `python -m pstats`. Access lines go to /dev/null.
`--route search` is the list with `search=` (`--search`, by default a word every seeded memory holds) over the
`--seed` memories the get, list and search routes first create, `--concurrency` at a time as clients would.

Figures printed: requests, status counts, CPU µs/request of the event loop's thread and of the whole process,
wall µs/request, requests/s of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from litestar import Litestar
from litestar.types import ASGIApp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import apps  # noqa: E402
from signed_requests import create_body  # noqa: E402

from memo.adapters.storage.migrate import upgrade  # noqa: E402
from memo.client import sign_request  # noqa: E402
from memo.entrypoints.logs import configure_logging  # noqa: E402
from memo.entrypoints.settings import Settings  # noqa: E402

KEY_ID = "bench-asgi-key-0001"


def _scope(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    path, _, query = target.partition("?")
    raw = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
           (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}


async def _call(app: ASGIApp, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a client that sent everything and waits: as a server would
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _requests(route: str, count: int, secret: str, ids: list[str],
              search: str = "") -> list[tuple[dict[str, Any], bytes]]:
    out = []
    for index in range(count):
        if route == "create":
            method, target, body = "POST", "/api/memories", create_body(index)
        elif route == "get":
            method, target, body = "GET", f"/api/memories/{ids[index % len(ids)]}", b""
        elif route == "search":
            method, target, body = "GET", f"/api/memories?limit=20&search={quote(search)}", b""
        else:
            method, target, body = "GET", "/api/memories?limit=20", b""
        headers = sign_request(method=method, url_or_path_and_query=target, body=body, key_id=KEY_ID,
                               secret=secret)
        out.append((_scope(method, target, headers, body), body))
    return out


async def _drive(app: ASGIApp, calls: list[tuple[dict[str, Any], bytes]], concurrency: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue = iter(calls)

    async def lane() -> None:
        for scope, body in queue:
            statuses[await _call(app, scope, body)] += 1

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return statuses


async def _seed_ids(app: ASGIApp, secret: str, count: int, concurrency: int) -> list[str]:
    ids = []
    queue = iter(_requests("create", count, secret, []))

    async def lane() -> None:
        for scope, body in queue:
            captured: list[bytes] = []

            async def send(message: dict[str, Any], captured: list[bytes] = captured) -> None:
                if message["type"] == "http.response.body":
                    captured.append(message.get("body", b""))

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, receive, send)
            ids.append(json.loads(b"".join(captured))["data"]["id"])

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return ids


async def _build(args: argparse.Namespace, data: str, devnull: TextIO) -> Any:  # noqa: ANN401 - any ASGI app
    """The app to drive: one of bench/apps.py's factories, as `memo serve` would build it, or `--app`."""
    if args.app:
        module, _, name = args.app.partition(":")
        return getattr(importlib.import_module(module), name)
    if args.quiet:
        os.environ.update(MEMO_METRICS="false", MEMO_ACCESS_LOG="false")
    if args.profile == "embedded":
        os.environ["MEMO_DATA_DIR"] = data
        os.environ.setdefault("RATE_LIMIT_MAX_REQUESTS", "100000000")
        os.environ.setdefault("RATE_LIMIT_IP_MAX_REQUESTS", "100000000")
        settings = Settings.from_env()
        await upgrade(settings.sqlalchemy_url)  # as `memo serve` does before it starts
        app = apps.embedded_unguarded_app() if args.unguarded else apps.embedded_app()
    else:
        settings = apps.test_settings(**({"metrics": False, "access_log": False} if args.quiet else {}))
        app = apps.unguarded_app(settings) if args.unguarded else apps.test_app(settings)
    configure_logging(settings, stream=devnull)  # the factory logged to stdout; the figures go there
    return app


async def _measure(args: argparse.Namespace, app: Any, secret: str) -> tuple[Counter[int], float, float, float]:  # noqa: ANN401
    """Statuses, and loop CPU, process CPU and wall seconds of `--count` requests after a warm-up."""
    ids = await _seed_ids(app, secret, args.seed, args.concurrency) if args.route != "create" else []
    await _drive(app, _requests(args.route, min(500, args.count), secret, ids, args.search), args.concurrency)
    calls = _requests(args.route, args.count, secret, ids, args.search)
    profiler = cProfile.Profile() if args.cprofile else None
    if args.callgrind:
        _callgrind("on")
    cpu, loop, wall = time.process_time(), time.thread_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    statuses = await _drive(app, calls, args.concurrency)
    if profiler:
        profiler.disable()
    cpu, loop, wall = time.process_time() - cpu, time.thread_time() - loop, time.perf_counter() - wall
    if args.callgrind:
        _callgrind("off")
    if profiler:
        profiler.dump_stats(args.cprofile)
    return statuses, loop, cpu, wall


async def main_async(args: argparse.Namespace, devnull: TextIO) -> int:
    secret = secrets.token_urlsafe(32)
    os.environ["BENCH_KEY_ID"], os.environ["BENCH_KEY_SECRET"] = KEY_ID, secret
    with tempfile.TemporaryDirectory(prefix="memo-asgi-") as data:
        app = await _build(args, data, devnull)
        async with app.lifespan():
            if args.profile == "embedded" and not args.unguarded and not args.app:
                await _seed_key(app, secret)
            statuses, loop, cpu, wall = await _measure(args, app, secret)
    n = args.count
    print(f"profile={args.profile} route={args.route} requests={n} concurrency={args.concurrency} "
          f"statuses={dict(statuses)}")
    print(f"loop_cpu_us_per_request={loop / n * 1e6:.1f} cpu_us_per_request={cpu / n * 1e6:.1f} "
          f"wall_us_per_request={wall / n * 1e6:.1f} rps_wall={n / wall:.0f}")
    return 0 if set(statuses) <= {200, 201} else 1


async def _seed_key(app: Litestar, secret: str) -> None:
    container = app.state.dishka_container
    owner_id = await apps.ensure_owner(container, apps.BENCH_OWNER)
    await apps.ensure_key(container, owner_id, KEY_ID, secret)


def _callgrind(state: str) -> None:
    """Switch callgrind's instrumentation of this process on or off, so only the measured requests are counted."""
    subprocess.run(["callgrind_control", "--instr=" + state, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("test", "embedded"), default="test")
    parser.add_argument("--route", choices=("create", "get", "list", "search"), default="create")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=200, help="memories created first for get, list and search")
    parser.add_argument("--search", default="birthday", help="the search route's text (every seeded memory has "
                                                              "'birthday'; 'memo 4242' finds one)")
    parser.add_argument("--app", default="", help="module:attribute of another ASGI app to drive instead (a floor "
                                                   "to compare with); the module is looked up on sys.path")
    parser.add_argument("--quiet", action="store_true", help="metrics and access log off")
    parser.add_argument("--unguarded", action="store_true", help="the trusting authenticator of bench/apps.py")
    parser.add_argument("--callgrind", action="store_true",
                        help="under `valgrind --tool=callgrind --instr-atstart=no`: count the measured part only")
    parser.add_argument("--cprofile", type=Path, default=None, help="write a cProfile of the measured part here")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt), Path(os.devnull).open("w", encoding="utf-8") as devnull:
        return asyncio.run(main_async(args, devnull))
    return 130


if __name__ == "__main__":
    sys.exit(main())
