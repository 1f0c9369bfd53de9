"""The WhatsApp webhook under an open-loop load: signed notifications at a fixed rate, acked and stored.

Run: `uv run python bench/webhook.py [--postgres [ADMIN_URL]] [--no-embedded] [--rate 200] [--batch-rate 10]
      [--batch-size 50] [--duration 15] [--warmup 2] [--media-every 10] [--concurrency 128] [--json FILE]`

For each store it starts one `memo serve` (one API process, pinned to CPU 0 when taskset and two CPUs exist; this
client runs on CPU 1), creates the owner of the business number with `memo owners create NAME
--whatsapp-phone-number-id ID` against the same database, and sends `POST /api/whatsapp/webhook` signed as Meta
signs (`X-Hub-Signature-256: sha256=<HMAC-SHA256(WHATSAPP_APP_SECRET, body)>`), every message with a fresh id so
each one is stored, never a duplicate. Two scenarios per store: one message per notification at `--rate`, and
`--batch-size` messages per notification at `--batch-rate`. Every `--media-every`th message is an image, so a
media job goes into the outbox in the same transaction; WHATSAPP_API_BASE_URL points at a closed local port so a
download fails at once instead of waiting on the internet.

Stores:
- embedded: the plain default (SQLite in a temporary MEMO_DATA_DIR, the in-process worker on, as the embedded
  default has it);
- `--postgres [ADMIN_URL]`: a throwaway database on that server (default postgresql://postgres@127.0.0.1:5432,
  dropped at the end), with REDIS_URL (`--redis-url`) and MEMO_INPROCESS_WORKER=true, so the job loop runs inside
  the API process as on the embedded default. PostgreSQL and Redis are not pinned: they share both cores.

The scheduler is open-loop: request i fires at start + i / rate whether or not earlier ones were answered, over at
most `--concurrency` keep-alive connections (raw asyncio sockets, bodies signed before the clock starts, so the
client costs a few % of its core). A request that finds every connection busy waits for one, and its latency is
counted from the moment it was due, so a slow server is never hidden by a late client. Ack latency is from that
moment to the last byte of the answer. Per scenario it prints the offered and achieved rates (notifications and
messages per second), p50/p90/p99/max, errors by status (0 = no answer), memories stored versus messages sent
(counted in the database), the server's CPU share and the peak RSS of its whole process tree (sampled every
0.25 s). It exits 1 if any request failed, any answer's `processed` was not its message count, or stored != sent.

The servers run the committed code: `src/` at HEAD is exported once (`git archive`) and put first on PYTHONPATH,
so other people's edits in progress are not measured (`--live-src` runs the working tree instead).

`--nodelay` is a diagnostic, not how Memo runs: it starts the server through a launcher that hands uvicorn the
listening socket `memo serve` makes, re-wrapped with proto=IPPROTO_TCP, so that asyncio sets TCP_NODELAY on every
accepted connection (for a socket made with proto 0 it does not; see docs/benchmarks.md, "WhatsApp webhook").

bench/run.py `--postgres` measures the ack aim of issue 11 with the same pieces (`on_postgres`, one message per
notification at 200/s), once per round beside its other scenarios.

Every process started here runs in its own session and is stopped by its process group id on exit, on error and
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import os
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import asyncpg
from run import (
    PIN,
    PROCS,
    clean_env,
    free_port,
    group_ticks,
    hide_password,
    machine_ticks,
    memo_cli,
    pinning,
    tail,
    wait_ready,
)
from sqlalchemy.engine import make_url
from stall import tree_rss_mib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, for the suite's helpers
from tests.support.postgres import create_database, database_url, drop_database  # noqa: E402

HOST = "127.0.0.1"
PATH = "/api/whatsapp/webhook"
FIXTURES = ROOT / "tests" / "fixtures" / "whatsapp"
PHONE_NUMBER_ID = "123456789012345"  # the fixtures' business number
DEFAULT_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
OWNER = "bench"
OK = 200
MAX_IDLE_S = 2.0  # well under the server's keep-alive timeout (5 s)
# `--nodelay` only: memo's own CLI, with the listening socket of serving.listen re-wrapped as proto=IPPROTO_TCP, so
# asyncio's _set_nodelay (which checks sock.proto) sets TCP_NODELAY on the accepted connections.
NODELAY_LAUNCHER = """
import socket, sys
import memo.entrypoints.serving as serving
plain_listen = serving.listen
def listen(host, port, backlog):
    plain = plain_listen(host, port, backlog)
    sock = socket.socket(plain.family, plain.type, socket.IPPROTO_TCP, fileno=plain.detach())
    sock.set_inheritable(True)
    return sock
serving.listen = listen
from memo.entrypoints.cli import main
sys.exit(main())
"""


# ---------------------------------------------------------------- notifications


class Notifications:
    """Meta-shaped notifications built from the fixtures, each message with an id never used before."""

    def __init__(self, run_id: str, media_every: int) -> None:
        self._text = json.loads((FIXTURES / "text.json").read_text())
        self._image = json.loads((FIXTURES / "image.json").read_text())
        self._run_id = run_id
        self._media_every = media_every
        self._next = 0
        self.media = 0

    def _message(self) -> dict[str, Any]:
        number = self._next
        self._next += 1
        media = self._media_every > 0 and number % self._media_every == self._media_every - 1
        template = self._image if media else self._text
        message: dict[str, Any] = copy.deepcopy(template["entry"][0]["changes"][0]["value"]["messages"][0])
        message["id"] = f"wamid.bench.{self._run_id}.{number}"
        message["timestamp"] = str(int(time.time()))
        if media:
            self.media += 1
            message["image"]["id"] = f"{self._run_id}{number}"
            message["image"]["caption"] = f"receipt {number}"
        else:
            message["text"]["body"] = f"bench note {number}: remind me about the dentist at 3pm, and buy milk"
        return message

    def body(self, messages: int) -> bytes:
        notification = copy.deepcopy(self._text)
        notification["entry"][0]["changes"][0]["value"]["messages"] = [self._message() for _ in range(messages)]
        return json.dumps(notification, separators=(",", ":")).encode()


def signed_request(body: bytes, secret: bytes, port: int) -> bytes:
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: facebookexternalua\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: sha256={signature}\r\n\r\n")
    return head.encode() + body


# ---------------------------------------------------------------- the client


class Connection:
    """One keep-alive HTTP/1.1 connection: one request at a time, answers with Content-Length only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.open = True
        self.last_used = time.monotonic()

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                self.open = False
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked answers are not read by this client")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.open = False
        self.writer.close()


class Pool:
    """At most `size` connections in flight; idle ones are reused (the most recent first), broken ones dropped.

    A connection idle for more than MAX_IDLE_S is closed rather than reused: the server closes one idle for
    MEMO_KEEPALIVE_TIMEOUT_S (5 s), and a request sent just as it does would be lost on the way, as it would for
    any client (Meta retries those).
    """

    def __init__(self, port: int, size: int) -> None:
        self._port = port
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []
        self.opened = 0

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        async with self._slots:
            connection = None
            while self._idle and connection is None:
                connection = self._idle.pop()
                if connection.reader.at_eof() or time.monotonic() - connection.last_used > MAX_IDLE_S:
                    connection.close()
                    connection = None
            if connection is None:
                reader, writer = await asyncio.open_connection(HOST, self._port)
                connection = Connection(reader, writer)
                self.opened += 1
            try:
                answer = await connection.exchange(request)
            except BaseException:
                connection.close()
                raise
            if connection.open:
                connection.last_used = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


@dataclass
class Phase:
    """What one open-loop run saw."""

    sent: int = 0
    messages: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wrong_processed: int = 0
    processed: int = 0
    max_fire_lag_ms: float = 0.0
    wall_s: float = 0.0
    problems: Counter[str] = field(default_factory=Counter)


async def open_loop(pool: Pool, requests: list[tuple[bytes, int]], rate: float, timeout_s: float) -> Phase:
    """Fire request i at start + i / rate, never waiting for an answer first; latency counted from when it was due."""
    loop = asyncio.get_running_loop()
    phase = Phase(sent=len(requests), messages=sum(count for _, count in requests))
    last_done = 0.0

    async def fire(request: bytes, count: int, due: float) -> None:
        nonlocal last_done
        try:
            async with asyncio.timeout(timeout_s):
                status, body = await pool.exchange(request)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, RuntimeError) as error:
            phase.statuses[0] += 1
            phase.problems[type(error).__name__] += 1
            return
        done = loop.time()
        last_done = max(last_done, done)
        phase.latencies_ms.append((done - due) * 1000)
        phase.statuses[status] += 1
        if status == OK:
            processed = json.loads(body).get("processed")
            phase.processed += processed if isinstance(processed, int) else 0
            phase.wrong_processed += processed != count
        elif len(phase.problems) < 20:
            phase.problems[f"{status} {body[:200].decode(errors='replace')}"] += 1

    start = loop.time() + 0.05
    tasks = []
    for index, (request, count) in enumerate(requests):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        phase.max_fire_lag_ms = max(phase.max_fire_lag_ms, (loop.time() - due) * 1000)
        tasks.append(asyncio.create_task(fire(request, count, due)))
    await asyncio.gather(*tasks)
    phase.wall_s = (last_done or loop.time()) - start
    return phase


# ---------------------------------------------------------------- measuring the server


class RssSampler:
    """The peak RSS of the process trees, sampled every `every_s` from a thread."""

    def __init__(self, roots: list[int], every_s: float = 0.25) -> None:
        self._roots, self._every_s = roots, every_s
        self._stop = threading.Event()
        self.peak_mib = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, sum(tree_rss_mib(root) for root in self._roots))
            self._stop.wait(self._every_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Store:
    """Counts rows in the database the server writes to, from outside it."""

    def __init__(self, sqlite_path: Path | None = None, postgres_url: str | None = None) -> None:
        self._sqlite_path, self._postgres_url = sqlite_path, postgres_url

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self._sqlite_path is not None:
            with contextlib.closing(sqlite3.connect(f"file:{self._sqlite_path}?mode=ro", uri=True)) as db:
                return list(db.execute(sql).fetchall())
        url = make_url(self._postgres_url or "")
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                           password=url.password, database=url.database)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    async def memories(self) -> int:
        return int((await self.query("SELECT count(*) FROM memories"))[0][0])

    async def received(self) -> int:
        return int((await self.query("SELECT count(*) FROM whatsapp_messages WHERE direction = 'received'"))[0][0])

    async def jobs(self) -> dict[str, str]:
        rows = await self.query("SELECT kind, state, count(*), sum(attempts) FROM jobs GROUP BY kind, state "
                                "ORDER BY kind, state")
        return {f"{kind} {state} (attempts)": f"{count} ({attempts})" for kind, state, count, attempts in rows}

    async def last_job_error(self) -> str | None:
        rows = await self.query("SELECT last_error FROM jobs WHERE last_error IS NOT NULL LIMIT 1")
        return str(rows[0][0]) if rows else None


# ---------------------------------------------------------------- a scenario


@dataclass
class Result:
    store: str
    batch: int
    offered_nps: float
    achieved_nps: float
    offered_mps: float
    achieved_mps: float
    notifications: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    sent_messages: int
    stored_messages: int
    received_records: int
    wrong_processed: int
    peak_rss_mib: float
    server_cpu_pct: float
    client_cpu_pct: float
    other_cpu_pct: float
    max_fire_lag_ms: float
    connections: int
    problems: dict[str, int]
    jobs_after: dict[str, str] = field(default_factory=dict)  # the store's jobs by kind and state, after its runs

    @property
    def ok(self) -> bool:
        return not self.errors and not self.wrong_processed and self.stored_messages == self.sent_messages


def wait_quiet(pgids: list[int], args: argparse.Namespace) -> None:
    """Wait (up to --quiet-wait s) until what runs besides the server (and its worker's retries) is under
    --max-noise % of the machine."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy0, total0 = machine_ticks()
        server0 = sum(group_ticks(g) for g in pgids)
        time.sleep(1)
        busy1, total1 = machine_ticks()
        server1 = sum(group_ticks(g) for g in pgids)
        share = 100 * max(0, (busy1 - busy0) - (server1 - server0)) / max(total1 - total0, 1)
        if share <= args.max_noise or time.monotonic() >= deadline:
            return
        print(f"  the machine is {share:.0f}% busy besides the server: waiting for it to calm down", file=sys.stderr)
        time.sleep(4)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(share * len(ordered) + 0.999999) - 1))]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def scenario(name: str, *, port: int, pgids: list[int], store: Store, notes: Notifications, secret: bytes,
                   batch: int, rate: float, args: argparse.Namespace) -> Result:
    def build(seconds: float) -> list[tuple[bytes, int]]:
        return [(signed_request(notes.body(batch), secret, port), batch) for _ in range(round(rate * seconds))]

    warmup, measured = build(args.warmup), build(args.duration)  # signed before the clock starts
    pool = Pool(port, args.concurrency)
    before = await store.memories()
    await asyncio.to_thread(wait_quiet, pgids, args)  # not on top of another job: wait for the machine to be idle
    try:
        warm = await open_loop(pool, warmup, rate, args.timeout) if warmup else Phase()
        if warm.statuses.get(OK, 0) != warm.sent:
            print(f"  warm-up errors: {dict(warm.statuses)} {dict(warm.problems)}", file=sys.stderr)
        hz = os.sysconf("SC_CLK_TCK")
        ticks0, client0, wall0 = sum(group_ticks(g) for g in pgids), cpu_s(), time.monotonic()
        busy0, total0 = machine_ticks()
        with RssSampler(pgids) as rss:
            phase = await open_loop(pool, measured, rate, args.timeout)
        wall = time.monotonic() - wall0
        busy1, total1 = machine_ticks()
        server_ticks = sum(group_ticks(g) for g in pgids) - ticks0
        client_ticks = (cpu_s() - client0) * hz
        server_pct = 100 * server_ticks / (wall * hz)
        client_pct = 100 * client_ticks / (wall * hz)
        # what neither the server nor this client used (PostgreSQL, Redis, other jobs), in % of one core
        other_pct = max(0.0, 100 * ((busy1 - busy0) - server_ticks - client_ticks) / (total1 - total0)
                        * (os.cpu_count() or 1))
    finally:
        pool.close()
    stored = await store.memories() - before
    sent = phase.messages + warm.messages
    ok_count = phase.statuses.get(OK, 0)
    errors = {str(status): count for status, count in sorted(phase.statuses.items()) if status != OK}
    if warm.statuses.get(OK, 0) != warm.sent:
        errors["warm-up"] = warm.sent - warm.statuses.get(OK, 0)
    wall_s = phase.wall_s or float("nan")
    return Result(
        store=name, batch=batch, offered_nps=rate, achieved_nps=ok_count / wall_s, offered_mps=rate * batch,
        achieved_mps=ok_count * batch / wall_s, notifications=phase.sent,
        p50_ms=percentile(phase.latencies_ms, 0.50), p90_ms=percentile(phase.latencies_ms, 0.90),
        p99_ms=percentile(phase.latencies_ms, 0.99), max_ms=max(phase.latencies_ms, default=float("nan")),
        errors=errors, sent_messages=sent, stored_messages=stored, received_records=await store.received(),
        wrong_processed=phase.wrong_processed + warm.wrong_processed,
        peak_rss_mib=rss.peak_mib, server_cpu_pct=server_pct, client_cpu_pct=client_pct, other_cpu_pct=other_pct,
        max_fire_lag_ms=phase.max_fire_lag_ms, connections=pool.opened, problems=dict(phase.problems))


# ---------------------------------------------------------------- a store


def server_env(base: dict[str, str], data: Path, secret: str) -> dict[str, str]:
    closed = free_port()  # bound once and released: nothing listens there, so a media download fails at once
    return {**base, "MEMO_DATA_DIR": str(data), "LOG_LEVEL": "warning", "WHATSAPP_APP_SECRET": secret,
            "WHATSAPP_API_BASE_URL": f"http://{HOST}:{closed}",
            "WHATSAPP_ACCESS_TOKEN": "bench-" + secrets.token_hex(8),
            "WHATSAPP_CONNECT_TIMEOUT_S": "0.5", "WHATSAPP_READ_TIMEOUT_S": "1"}


def both_loads(args: argparse.Namespace) -> list[tuple[int, float]]:
    """(messages per notification, notifications per second) of the two scenarios every store runs."""
    return [(1, args.rate), (args.batch_size, args.batch_rate)]


async def run_store(name: str, env: dict[str, str], work: Path, store: Store, *, secret: str,
                    args: argparse.Namespace, loads: list[tuple[int, float]] | None = None) -> list[Result]:
    """One server on the store, then each of `loads` (both_loads by default) against it, one after the other."""
    memo_cli(env, work, "db", "upgrade")
    memo_cli(env, work, "owners", "create", OWNER, "--whatsapp-phone-number-id", PHONE_NUMBER_ID)
    port = free_port()
    log = work / f"serve-{name}.log"
    exe = Path(sys.executable).with_name("memo")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "memo"]
    if args.nodelay:
        cmd = [sys.executable, "-c", NODELAY_LAUNCHER]
    server = PROCS.start([*pinning("0"), *cmd, "serve", "--port", str(port)], env=env, cwd=work, log=log)
    results: list[Result] = []
    try:
        wait_ready(f"http://{HOST}:{port}/health", server, log)
        notes = Notifications(secrets.token_hex(4), args.media_every)
        affinity = os.sched_getaffinity(0)
        if PIN:
            os.sched_setaffinity(0, {1})  # the client on the other core (memo_cli and PostgreSQL are not pinned)
        try:
            for batch, rate in loads or both_loads(args):
                result = await scenario(name, port=port, pgids=[server.pid], store=store, notes=notes,
                                        secret=secret.encode(), batch=batch, rate=rate, args=args)
                print(line(result), flush=True)
                if result.problems:
                    print(f"  problems: {result.problems}", flush=True)
                results.append(result)
        finally:
            os.sched_setaffinity(0, affinity)
        await asyncio.sleep(args.settle)  # let the worker take the last media jobs
        jobs, last_error = await store.jobs(), await store.last_job_error()
        print(f"  {name} jobs after the run: {jobs or 'none'}; {notes.media} media messages sent; "
              f"a job's last error: {last_error or 'none'}", flush=True)
        for result in results:
            result.jobs_after = jobs
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{tail(log)}")
    finally:
        PROCS.stop(server)
    if args.keep:
        print(f"  server log: {log}", flush=True)
    return results


def line(r: Result) -> str:
    errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0"
    return (f"{r.store:<9} batch {r.batch:>3}  offered {r.offered_nps:>5.0f} n/s {r.offered_mps:>6.0f} msg/s  "
            f"achieved {r.achieved_nps:>6.1f} n/s {r.achieved_mps:>6.0f} msg/s  "
            f"p50 {r.p50_ms:>6.1f}  p90 {r.p90_ms:>6.1f}  p99 {r.p99_ms:>6.1f}  max {r.max_ms:>7.1f} ms  "
            f"errors {errors}  stored {r.stored_messages}/{r.sent_messages}  processed-mismatch {r.wrong_processed}  "
            f"peak RSS {r.peak_rss_mib:.0f} MiB  CPU server {r.server_cpu_pct:.0f}% client {r.client_cpu_pct:.0f}% "
            f"other {r.other_cpu_pct:.0f}%  fire lag max {r.max_fire_lag_ms:.1f} ms  conns {r.connections}")


def table(results: list[Result]) -> str:
    rows = [("| store | msgs / notification | offered n/s (msg/s) | achieved n/s (msg/s) | p50 ms | p90 ms | p99 ms "
             "| max ms | errors | stored / sent | peak RSS MiB | server CPU % |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0"
        rows.append(f"| {r.store} | {r.batch} | {r.offered_nps:.0f} ({r.offered_mps:.0f}) | "
                    f"{r.achieved_nps:.1f} ({r.achieved_mps:.0f}) | {r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} | "
                    f"{r.max_ms:.1f} | {errors} | {r.stored_messages:,} / {r.sent_messages:,} | "
                    f"{r.peak_rss_mib:.0f} | {r.server_cpu_pct:.0f} |")
    return "\n".join(rows)


async def main_async(args: argparse.Namespace, work: Path, base: dict[str, str]) -> list[Result]:
    secret = secrets.token_hex(32)
    results: list[Result] = []
    if not args.no_embedded:
        data = work / "embedded"
        env = server_env(base, data, secret)  # MEMO_INPROCESS_WORKER unset: the embedded default runs it
        results += await run_store("embedded", env, work, Store(sqlite_path=data / "memo.db"), secret=secret,
                                   args=args)
    if args.postgres:
        results += await on_postgres(base, work, secret=secret, admin_url=args.postgres, redis_url=args.redis_url,
                                     args=args)
    return results


async def on_postgres(base: dict[str, str], work: Path, *, secret: str, admin_url: str, redis_url: str,
                      args: argparse.Namespace, loads: list[tuple[int, float]] | None = None) -> list[Result]:
    """The store `postgres`: a throwaway database on the admin URL's server (dropped on the way out) with REDIS_URL
    and the job loop in the API process. bench/run.py `--postgres` calls it once per round for the ack aim."""
    name = await create_database("memo_bench_webhook", admin_url)
    url = database_url(name, admin_url)
    try:
        env = {**server_env(base, work / "postgres", secret), "DATABASE_URL": url, "REDIS_URL": redis_url,
               "MEMO_INPROCESS_WORKER": "true"}
        return await run_store("postgres", env, work, Store(postgres_url=url), secret=secret, args=args, loads=loads)
    finally:
        await drop_database(name, admin_url)


def git(*git_args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *git_args], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def export_src(work: Path) -> Path:
    """src/ as committed at HEAD, so the servers never run someone's half-made edit; with clients/typescript/src,
    which the page's static/signer links to (relatively), or the app refuses to start without the page's files."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "src", "clients/typescript/src"],
                             capture_output=True, check=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True, timeout=60)
    return work / "src"


def measure(args: argparse.Namespace) -> tuple[list[Result], str]:
    work = Path(tempfile.mkdtemp(prefix="memo-webhook-bench-"))
    try:
        base = clean_env([])
        commit = git("rev-parse", "--short", "HEAD")
        if not args.live_src:
            base["PYTHONPATH"] = os.pathsep.join(p for p in (str(export_src(work)), base.get("PYTHONPATH", "")) if p)
        dirty = bool(git("status", "--porcelain", "--", "src"))
        print(f"measuring {'the working tree at' if args.live_src else 'src/ at'} {commit}"
              f"{' (with uncommitted changes in src/)' if args.live_src and dirty else ''}; "
              f"pinned: {'server CPU 0, client CPU 1' if PIN else 'no'}; TCP_NODELAY on the server's connections: "
              f"{'yes (--nodelay launcher)' if args.nodelay else 'as memo serve sets it'}", flush=True)
        return asyncio.run(main_async(args, work, base)), commit
    finally:
        PROCS.stop_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_ADMIN, default=None, metavar="ADMIN_URL",
                        help=f"also run on a throwaway database on this server (default {DEFAULT_ADMIN})")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded (SQLite) default")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="REDIS_URL for the PostgreSQL run")
    parser.add_argument("--rate", type=float, default=200.0, help="notifications/s with one message each")
    parser.add_argument("--batch-size", type=int, default=50, help="messages per notification, second scenario")
    parser.add_argument("--batch-rate", type=float, default=10.0, help="notifications/s of --batch-size messages")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at the same rate first, not measured")
    parser.add_argument("--media-every", type=int, default=10, help="every Nth message is an image (0: none)")
    parser.add_argument("--concurrency", type=int, default=128, help="most requests in flight (connections)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as failed")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds for the worker before jobs are counted")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait, before each scenario, for the machine to be idle")
    parser.add_argument("--max-noise", type=float, default=10.0, help="%% of the machine busy that counts as idle")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the server logs")
    parser.add_argument("--live-src", action="store_true", help="run the working tree's src/, not HEAD's")
    parser.add_argument("--nodelay", action="store_true",
                        help="diagnostic: the server's accepted connections with TCP_NODELAY (see the docstring)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    results, commit = measure(args)
    print()
    print(table(results))
    if args.json:
        options = {k: hide_password(str(v)) if k in {"postgres", "redis_url"} else str(v)
                   for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"commit": commit, "pinned": PIN, "results": [asdict(r) for r in results],
                                         "args": options}, indent=2))
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED: {r.store} batch {r.batch}: errors {r.errors}, stored {r.stored_messages} of "
              f"{r.sent_messages}, {r.wrong_processed} answers with the wrong `processed`", file=sys.stderr)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
