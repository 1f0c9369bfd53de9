"""Signed-request throughput of Memo under wrk: prints figures, asserts nothing.

Run: `uv run python bench/run.py [--quick] [--servers uvicorn,granian] [--repeat 3] [--peer DIR]
      [--postgres [ADMIN_URL] [--redis-url URL] [--postgres-memories 100000]] [--json FILE]`

Each measurement gets a fresh server process on a free 127.0.0.1 port, in a fresh temporary MEMO_DATA_DIR,
pinned to CPU 0 while wrk runs on CPU 1 (when taskset and two CPUs exist), so the server has one core to itself
and the load generator never competes with it. Every repeat is one full pass over all scenarios ("rounds"), so
slow drift of a shared machine hits every scenario alike instead of one of them. A short warm-up run comes
first; its rate sizes the measured run's file of pre-signed requests (rate x duration x 2), because Memo
refuses a replayed nonce and a wrapped file would measure refusals. Files are regenerated for every run, since
their timestamps are only good for 300 s.

Scenarios (`profile route`): create = POST /api/memories with a ~1 KiB body; list = GET /api/memories?limit=20,
a page of 20 with its `pagination.total`, over `--seed` memories (10,000 by default); get = GET
/api/memories/{id} cycling through those ids; `create (unguarded)` is create with the authenticator swapped for a
trusting one (bench/apps.py), so its gap to create is what the signature check costs; `create (no metrics or
access log)` is create with MEMO_METRICS=false and MEMO_ACCESS_LOG=false, so its gap to create is what metrics and
access lines cost. `--peer DIR` adds the original Express design: `peer create` (v1 signatures) and `peer list`
(its GET is unsigned, so the v1 headers its requests carry are ignored; it answers `pagination.total` too), and
the ratios `embedded/peer create` and `embedded/peer list`. Every list and get server, the peer's too, is seeded
through its own signed POST, 32 in flight (the time it took is printed), so memories are stored as a client
stores them; the preflight checks that the list's total is the number seeded.

`--postgres [ADMIN_URL]` (default off; the server defaults to postgresql://postgres@127.0.0.1:5432) adds, in the
same rounds, so side by side with the embedded create: `postgres create` (the normal app on a fresh throwaway
database per run with REDIS_URL=`--redis-url`, a pool of 20, one worker pinned as the others; the key from the
CLI), `postgres list search` (a page of 20 with its total for `search=garden`, the same query every request) and
`postgres list search (new query each request)` (`garden -<word>`, a word no memory holds and never asked
before, so the same matches but nothing a cache keyed by the query can answer), both over one database loaded
once per run with `--postgres-memories` memories of bench/search_corpus.py (bench/postgres.py's mix; the
preflight checks the total is the number that hold `garden`, counted apart from the full-text index); and, once
per round, `postgres webhook`: bench/webhook.py's open loop, one message per notification at 200/s, on memo
serve on a throwaway database with Redis (its rps: notifications acked per second). Every database is dropped at
the end of its measurement or of the run. For these rows "other CPU %" includes PostgreSQL and Redis.

At the end it prints issue 11's aims table: each aim, per server where it matters, its figure, the goal and met /
not met ("not measured" when its scenarios did not run; the verdict says so when the set-up is not the issue's,
e.g. fewer memories); bench/aims.py computes it, and `--json` holds it. The PostgreSQL aims this run did not
measure can come from the `--json` of runs of their own: `--postgres-json` (a `bench/postgres.py --redis-url ...`
run, which measures the embedded create it divides by in the same run) and `--webhook-json` (a
`bench/webhook.py --postgres` run); the row names where its figure comes from.

Servers: `uvicorn` (the default) is the server users run, `memo serve`'s own set-up (bench/serve.py:
`serving.serve` with httptools, Memo's deadlines and `GracefulServer`, only the app factory swapped for one of
bench/apps.py); `granian` is the alternative, for comparison.

Every process started here runs in its own session and is stopped by its process group id on exit, on error
and on Ctrl-C; every step has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx
import search_corpus
from aims import WEBHOOK_RATE, WEBHOOK_SERVER, aims, aims_table
from signed_requests import create_body, write_requests

from memo.client import sign_request, sign_v1

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "signed.lua"
HOST = "127.0.0.1"
HUGE_LIMIT = "100000000"  # the highest RATE_LIMIT_* Settings.from_env accepts
# Settings.from_env reads these: a developer's shell must not turn the embedded default into something else.
SETTINGS_PREFIXES = ("MEMO_", "DATABASE_", "REDIS_", "RATE_LIMIT_", "SEND_RATE_LIMIT_", "LOG_", "WHATSAPP_",
                     "OPENAI_", "PINECONE_", "BENCH_")
SETTINGS_NAMES = {"HOST", "PORT", "API_SECRET_KEY", "ENCRYPTION_KEY", "CORS_ORIGINS"}

FACTORIES = {("embedded", False): "embedded_app", ("test", False): "test_app",
             ("embedded", True): "embedded_unguarded_app", ("test", True): "unguarded_app",
             ("postgres", False): "embedded_app"}  # the normal app from the environment: DATABASE_URL picks it
DEFAULT_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


@dataclass(frozen=True)
class Scenario:
    profile: str  # embedded | test | peer | postgres
    route: str  # create | list | get | list search | list search (new query each request) | webhook
    unguarded: bool = False
    quiet: bool = False  # MEMO_METRICS=false and MEMO_ACCESS_LOG=false: what metrics and access lines cost

    @property
    def name(self) -> str:
        return (f"{self.profile} {self.route}" + (" (unguarded)" if self.unguarded else "")
                + (" (no metrics or access log)" if self.quiet else ""))

    @property
    def seeded(self) -> bool:
        return self.route in {"list", "get"}

    @property
    def searched(self) -> bool:
        """Over the PostgreSQL database loaded once per run (Postgres.search_url), not seeded by its server."""
        return self.route.startswith("list search")

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in f"{self.profile}-{self.route}")


SCENARIOS = [Scenario("embedded", "create"), Scenario("embedded", "list"), Scenario("embedded", "get"),
             Scenario("embedded", "create", unguarded=True),
             Scenario("test", "create"), Scenario("test", "list"), Scenario("test", "get"),
             Scenario("test", "create", unguarded=True),
             Scenario("embedded", "create", quiet=True), Scenario("test", "create", quiet=True)]
QUIET_ENV = {"MEMO_METRICS": "false", "MEMO_ACCESS_LOG": "false"}
PEER_CREATE, PEER_LIST = Scenario("peer", "create"), Scenario("peer", "list")
PEERS = [PEER_CREATE, PEER_LIST]
PG_SEARCH = Scenario("postgres", "list search")
PG_SEARCH_NEW = Scenario("postgres", "list search (new query each request)")
PG_WEBHOOK_ACK = Scenario("postgres", "webhook")  # run once per round, on memo serve itself (bench/webhook.py)
POSTGRES = [Scenario("postgres", "create"), PG_SEARCH, PG_SEARCH_NEW]
SEED_CONCURRENCY = 32  # concurrent creates while seeding: Memo's group commit shares a COMMIT between them


@dataclass
class Run:
    scenario: str
    server: str
    round: int
    ok: bool = False
    problem: str = ""
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    non2xx: int = 0
    errors: int = 0
    wrapped: int = 0
    lines: int = 0
    warmup_rps: float = 0.0
    server_cpu_pct: float | None = None
    wrk_cpu_pct: float | None = None
    other_cpu_pct: float | None = None
    busy_before_pct: float | None = None
    refusals: dict[str, int] = field(default_factory=dict)
    src_digest: str = ""


# ---------------------------------------------------------------- processes


class Processes:
    """Every child runs in its own session; stopping one signals its process group, by id, and nothing else."""

    def __init__(self) -> None:
        self.live: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.live[proc.pid] = proc
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError):  # a worker the parent left behind, or a stuck parent
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self.live.pop(proc.pid, None)

    def stop_all(self) -> None:
        for proc in list(self.live.values()):
            self.stop(proc, grace_s=5.0)


PROCS = Processes()


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinning(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if PIN else []


def _can_pin() -> bool:
    try:
        return shutil.which("taskset") is not None and {0, 1} <= os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return False


PIN = _can_pin()


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # loopback only
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------- CPU accounting


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far: user+nice+system, and everything."""
    with Path("/proc/stat").open() as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return values[0] + values[1] + values[2], sum(values)


def group_ticks(pgid: int) -> int:
    """utime+stime of every live process in one process group (the server and its workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # field 5 of stat is the process group
            total += int(fields[11]) + int(fields[12])
    return total


def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (up to --quiet-wait s) until the machine is idle while our server is, so the run does not start on top of
    another job; returns the last busy share seen, in % of the whole machine."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy0, total0 = machine_ticks()
        time.sleep(1)
        busy1, total1 = machine_ticks()
        share = 100 * (busy1 - busy0) / max(total1 - total0, 1)
        if share <= args.max_noise or time.monotonic() >= deadline:
            return round(share, 1)
        print(f"  machine {share:.0f}% busy before the run: waiting for it to calm down", file=sys.stderr)
        time.sleep(4)


def children_ticks() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- wrk


def run_wrk(url: str, file: Path, seconds: float, args: argparse.Namespace, *, log: Path,
            server_pgid: int | None) -> dict[str, Any]:
    """One wrk run over a signed file; returns its BENCHJSON summary plus CPU shares measured around it."""
    cmd = [*pinning("1"), "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
           "-s", str(LUA), url, "--", str(file), str(args.threads)]
    busy0, total0 = machine_ticks()
    server0 = group_ticks(server_pgid) if server_pgid else 0
    wrk0 = children_ticks()
    started = time.monotonic()
    proc = PROCS.start(cmd, env=dict(os.environ), cwd=BENCH, log=log)
    try:
        proc.wait(timeout=seconds + 120)  # loading a big file into Lua takes a few seconds before the clock starts
    except subprocess.TimeoutExpired:
        PROCS.stop(proc)
        raise RuntimeError(f"wrk did not finish:\n{tail(log)}") from None
    PROCS.live.pop(proc.pid, None)
    wall = time.monotonic() - started
    busy1, total1 = machine_ticks()
    server1 = group_ticks(server_pgid) if server_pgid else 0
    wrk_used = children_ticks() - wrk0
    found = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("BENCHJSON ")]
    if not found:
        raise RuntimeError(f"wrk gave no summary (exit {proc.returncode}):\n{tail(log)}")
    result: dict[str, Any] = json.loads(found[-1].split(" ", 1)[1])
    hz = os.sysconf("SC_CLK_TCK")
    server_used = server1 - server0
    # The server idles while wrk loads its file, so its share is taken over wrk's measured time: ~100 % means it
    # was saturated. "other" is what neither the server nor wrk used, as a share of the whole machine.
    result["server_cpu_pct"] = round(100 * server_used / (result["duration_s"] * hz), 1) if server_pgid else None
    result["wrk_cpu_pct"] = round(100 * wrk_used / (wall * hz), 1)
    other = (busy1 - busy0) - server_used - wrk_used
    result["other_cpu_pct"] = round(max(0.0, 100 * other / max(total1 - total0, 1)), 1) if server_pgid else None
    return result


# ---------------------------------------------------------------- the servers


def clean_env(extra: list[str]) -> dict[str, str]:
    """The shell's environment without anything Settings reads, plus the --server-env the user asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES) and k not in SETTINGS_NAMES}
    env.update(item.split("=", 1) for item in extra)
    return env


def src_digest(src: Path) -> str:
    """Short hash of the Python files under `src`, so each run says which code it measured."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_src(base: Path) -> Path:
    """A copy of src/ taken once, put first on the servers' PYTHONPATH: src/ may be edited while the bench runs
    (the editable install points at it), and every round must measure the same code."""
    copy = base / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def memo_cli(env: dict[str, str], cwd: Path, *cli_args: str) -> str:
    """The `memo` command of this environment, as a user would run it."""
    exe = Path(sys.executable).with_name("memo")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "memo"]
    done = subprocess.run([*cmd, *cli_args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False, start_new_session=True)
    if done.returncode != 0:
        raise RuntimeError(f"memo {' '.join(cli_args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def server_cmd(server: str, factory: str, port: int) -> list[str]:
    if server == "granian":  # ASGI, one worker, no access log: the alternative server, for comparison
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", HOST,
                "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
                f"apps:{factory}"]
    # the server users run: memo serve's own uvicorn set-up (httptools, Memo's deadlines), one worker
    return [sys.executable, str(BENCH / "serve.py"), factory, str(port), "--host", HOST]


@dataclass
class Target:
    """A running server, what signs for it, and how to stop it."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    scheme: str
    key_id: str
    secret: str
    ids: list[str] = field(default_factory=list)
    expected_total: int | None = None  # what the preflight's list must answer as its pagination.total


def served_env(args: argparse.Namespace, *, bench: bool = True) -> dict[str, str]:
    """clean_env with the src/ snapshot first on PYTHONPATH (and bench/, for bench/serve.py and bench/apps.py)."""
    env = clean_env(args.server_env)
    paths = (str(BENCH) if bench else "", str(args.src_snapshot or ""), env.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def memo_env(args: argparse.Namespace, data: Path, database_url: str = "") -> dict[str, str]:
    """A Memo server's environment: its own data folder, limits that count but never refuse, and for `postgres`
    the database and Redis (and a pool of 20 for 32 connections, as bench/postgres.py has it)."""
    data.mkdir(parents=True, exist_ok=True)
    env = served_env(args)
    env.update(MEMO_DATA_DIR=str(data), RATE_LIMIT_MAX_REQUESTS=HUGE_LIMIT, RATE_LIMIT_IP_MAX_REQUESTS=HUGE_LIMIT)
    if database_url:
        env.update(DATABASE_URL=database_url, REDIS_URL=args.pg.redis_url)
        env.setdefault("DATABASE_POOL_SIZE", "20")  # unless --server-env sets it
    return env


def server_database(scenario: Scenario, args: argparse.Namespace, fresh: str) -> str:
    """Where a `postgres` server keeps its memories: the search database, or the fresh one made for it."""
    if scenario.searched:
        return str(args.pg.search_url)
    return databases().database_url(fresh, args.pg.admin_url) if fresh else ""


def start_memo(server: str, scenario: Scenario, work: Path, args: argparse.Namespace, database: str = "") -> Target:
    # the search database's key is sealed with the local ENCRYPTION_KEY of the data folder it was made in
    env = memo_env(args, args.pg.data if scenario.searched else work / "data", database)
    if scenario.quiet:
        env.update(QUIET_ENV)
    if scenario.searched:  # the key made when the search database was loaded
        key_id, secret = args.pg.key_id, args.pg.secret
    elif scenario.profile in {"embedded", "postgres"}:
        memo_cli(env, work, "owners", "create", "bench")  # migrates the database too
        issued = json.loads(memo_cli(env, work, "keys", "create", "--owner", "bench", "--json"))
        key_id, secret = issued["keyId"], issued["secret"]
    else:
        key_id, secret = "bench_" + secrets.token_hex(6), secrets.token_urlsafe(32)
    env.update(BENCH_KEY_ID=key_id, BENCH_KEY_SECRET=secret)
    port = free_port()
    log = work / "server.log"
    proc = PROCS.start([*pinning("0"), *server_cmd(server, FACTORIES[scenario.profile, scenario.unguarded], port)],
                       env=env, cwd=work, log=log)
    target = Target(f"http://{HOST}:{port}", proc, log, "v2", key_id, secret,
                    expected_total=args.pg.holding_common if scenario.searched else None)
    wait_ready(target.base + "/health", proc, log)
    return target


def peer_dir(given: Path) -> Path:
    """A copy of the peer with its node_modules; `npm ci` in place when writable, else in a cache folder."""
    if (given / "node_modules").is_dir():
        return given
    place = given
    # root passes os.access whatever the mode: a folder laid without write bits (shared/) is read-only all the same
    if not os.access(given, os.W_OK) or not given.stat().st_mode & 0o222:
        lock = hashlib.sha256((given / "package-lock.json").read_bytes()).hexdigest()[:12]
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "memo-bench" / f"peer-{lock}"
        if (cache / "node_modules").is_dir():
            return cache
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("server.js", "package.json", "package-lock.json"):
            shutil.copyfile(given / name, cache / name)
        place = cache
    print(f"npm ci in {place} ...", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=place, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, start_new_session=True)
    return place


def start_peer(folder: Path, work: Path, scenario: Scenario) -> Target:
    secret = secrets.token_hex(32)
    port = free_port()
    # Only what server.js reads is set (its README's way of starting it); nothing else leaks in from the shell.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env.update(HOST=HOST, PORT=str(port), MEMO_SECRET=secret, RATE_LIMIT_MAX="1000000000")
    if scenario.seeded:  # none of its own 100 preloaded memories: it holds exactly what _seed gives it, as Memo does
        env["SEED_COUNT"] = "0"
    log = work / "server.log"
    proc = PROCS.start([*pinning("0"), "node", "server.js"], env=env, cwd=folder, log=log)
    target = Target(f"http://{HOST}:{port}", proc, log, "v1", "", secret)
    wait_ready(target.base + "/health", proc, log)
    return target


# ---------------------------------------------------------------- requests


def route_target(route: str) -> tuple[str, str]:
    return {"create": ("POST", "/api/memories"), "list": ("GET", "/api/memories?limit=20"),
            "get": ("GET", "/api/memories/{id}"), PG_SEARCH.route: ("GET", search_corpus.COMMON_SEARCH),
            PG_SEARCH_NEW.route: ("GET", search_corpus.NEW_QUERY_SEARCH)}[route]


def signed_headers(target: Target, method: str, path: str, body: bytes) -> dict[str, str]:
    if target.scheme == "v1":
        return sign_v1(body=body, secret=target.secret)
    return sign_request(method=method, url_or_path_and_query=path, body=body, key_id=target.key_id,
                        secret=target.secret)


async def _seed(target: Target, count: int, concurrency: int = SEED_CONCURRENCY) -> list[str]:
    ids: list[str] = []
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=target.base, timeout=10, limits=limits) as client:

        async def create(index: int) -> httpx.Response:
            """Memo's creates carry an Idempotency-Key, so one whose answer was lost with its connection is sent
            again (signed afresh) and answers the memory it made; the peer's are sent once."""
            body = create_body(index)
            retry_safe = target.scheme == "v2"
            extra = {"Idempotency-Key": f"bench-seed-{index}"} if retry_safe else {}
            for attempt in range(3 if retry_safe else 1):
                headers = {**signed_headers(target, "POST", "/api/memories", body),
                           "Content-Type": "application/json", **extra}
                try:
                    return await client.post("/api/memories", content=body, headers=headers)
                except httpx.TransportError:
                    if attempt == 2 or not retry_safe:
                        raise
            raise AssertionError("unreachable")

        async def worker() -> None:
            for index in numbers:
                response = await create(index)
                if response.status_code not in {200, 201}:
                    raise RuntimeError(f"seeding got {response.status_code}: {response.text[:300]}")
                ids.append(response.json()["data"]["id"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def preflight(target: Target, scenario: Scenario) -> None:
    """One signed request of the scenario, so a wrong key or route shows as a message, not as 100% non-2xx."""
    method, path = route_target(scenario.route)
    path = path.replace("{id}", target.ids[0] if target.ids else "")
    path = path.replace("{word}", search_corpus.absent_words(1)[0])
    body = create_body(0) if method == "POST" else b""
    headers = signed_headers(target, method, path, body)
    if body:
        headers["Content-Type"] = "application/json"
    response = httpx.request(method, target.base + path, content=body or None, headers=headers, timeout=10)
    if not response.is_success:
        raise RuntimeError(f"preflight {method} {path} got {response.status_code}: {response.text[:300]}")
    if scenario.route == "list" and (total := response.json()["pagination"]["total"]) != len(target.ids):
        raise RuntimeError(f"preflight list answers a total of {total}, not the {len(target.ids)} seeded")
    if target.expected_total is not None and (total := response.json()["pagination"]["total"]) != target.expected_total:
        raise RuntimeError(f"preflight {path} answers a total of {total}, not the {target.expected_total} loaded")
    if scenario.unguarded:  # proof that the swap took: an unsigned request must pass too
        response = httpx.request(method, target.base + path, content=body or None,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        if not response.is_success:
            raise RuntimeError(f"the unguarded app refused an unsigned request: {response.status_code}")


def refusal_reasons(log: Path, offset: int) -> dict[str, int]:
    """Security events Memo logged (one JSON line per refusal) after `offset`, by reason: why non-2xx happened."""
    reasons: dict[str, int] = {}
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    for line in text.splitlines():
        if '"security event"' in line:
            with contextlib.suppress(ValueError):
                reason = json.loads(line).get("reason", "?")
                reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def load(target: Target, scenario: Scenario, run: Run, args: argparse.Namespace, *, work: Path,
         estimates: dict[tuple[str, str], float]) -> None:
    """Warm-up, then the measured run; fills `run`."""
    method, path = route_target(scenario.route)

    def signed_file(count: int, name: str) -> Path:
        out = work / name
        for_file, values = search_corpus.fill_in(path, count, target.ids)  # {word}: new words, file after file
        write_requests(out, count=count, method=method, target=for_file, scheme=target.scheme, key_id=target.key_id,
                       secret=target.secret, body_bytes=args.body_bytes, ids=values)
        return out

    key = (run.server, scenario.name)
    run.busy_before_pct = wait_quiet(args)
    if args.warmup > 0:
        guess = estimates.get(key, args.guess_rps)
        file = signed_file(min(args.max_requests, math.ceil(guess * args.warmup * 2)), "warmup.tsv")
        warm = run_wrk(target.base, file, args.warmup, args, log=work / "wrk-warmup.log", server_pgid=None)
        file.unlink()
        run.warmup_rps = warm["rps"]
    # rate x duration x 2 lines, at least min_rps x duration: a peer that is still warming up (Node's JIT)
    # can double its rate after the warm-up. A run that wrapped anyway is redone once with a bigger file.
    rate = max(run.warmup_rps, estimates.get(key, 0.0), args.min_rps)
    for _attempt in range(2):
        count = min(args.max_requests, math.ceil(rate * args.duration * 2))
        file = signed_file(count, "run.tsv")
        log_offset = target.log.stat().st_size
        result = run_wrk(target.base, file, args.duration, args, log=work / "wrk.log", server_pgid=target.proc.pid)
        file.unlink()
        if not result["wrapped"] or count >= args.max_requests:
            break
        rate = max(rate, result["rps"]) * 1.5
    for name in ("requests", "duration_s", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "non2xx", "errors",
                 "wrapped", "lines", "server_cpu_pct", "wrk_cpu_pct", "other_cpu_pct"):
        setattr(run, name, result[name])
    run.ok = True
    estimates[key] = max(estimates.get(key, 0.0), run.rps)
    if scenario.profile != "peer":
        run.refusals = refusal_reasons(target.log, log_offset)


def measure(server: str, scenario: Scenario, round_no: int, args: argparse.Namespace, *, base: Path,
            estimates: dict[tuple[str, str], float]) -> Run:
    """One fresh server for one scenario: start, seed, check, load, stop. `postgres create` gets a fresh database
    of its own, as the embedded create a fresh data folder, dropped after it."""
    run = Run(scenario.name, server, round_no)
    work = Path(tempfile.mkdtemp(prefix=f"{server.replace(' ', '-')}-{scenario.slug}-", dir=base))
    target: Target | None = None
    fresh_database = ""
    try:
        if scenario == PG_WEBHOOK_ACK:
            run.src_digest = args.src_digest or src_digest(ROOT / "src")
            measure_webhook(run, args, work)
            return run
        if scenario.profile == "peer":
            target = start_peer(args.peer_path, work, scenario)
        else:
            run.src_digest = args.src_digest or src_digest(ROOT / "src")
            if scenario.profile == "postgres" and not scenario.searched:
                fresh_database = asyncio.run(databases().create_database("memo_bench_create", args.pg.admin_url))
            target = start_memo(server, scenario, work, args, server_database(scenario, args, fresh_database))
        if scenario.seeded:
            started = time.monotonic()
            target.ids = asyncio.run(_seed(target, args.seed))
            print(f"  seeded {len(target.ids):,} memories into {scenario.name} in {time.monotonic() - started:.1f} s",
                  file=sys.stderr)
        preflight(target, scenario)
        load(target, scenario, run, args, work=work, estimates=estimates)
    except (RuntimeError, OSError, httpx.HTTPError, subprocess.SubprocessError, ValueError, KeyError,
            asyncpg.PostgresError) as error:
        run.problem = f"{type(error).__name__}: {error}"
    finally:
        if target is not None:
            PROCS.stop(target.proc)
        if fresh_database:
            drop_quietly(fresh_database, args.pg.admin_url)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return run


# ---------------------------------------------------------------- PostgreSQL, for --postgres


@dataclass
class Postgres:
    """--postgres: the server's admin URL, the Redis the servers share, and the database loaded once per run that
    every `postgres list search` server reads (searches write no memory, so its total stays what was loaded)."""

    admin_url: str
    redis_url: str
    memories: int
    search_db: str = ""
    key_id: str = ""
    secret: str = ""
    data: Path = Path()  # MEMO_DATA_DIR of the search servers: its local ENCRYPTION_KEY sealed their key
    holding_common: int = 0  # memories that hold search_corpus.COMMON_WORD: the total every search answers

    @property
    def search_url(self) -> str:
        return databases().database_url(self.search_db, self.admin_url)


def databases() -> ModuleType:
    """tests/support/postgres.py, the one place the suite and bench/ make and drop databases; imported only for
    --postgres, since it loads Memo's container."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.support.postgres as helpers  # noqa: PLC0415

    return helpers


def drop_quietly(name: str, admin_url: str) -> None:
    try:
        asyncio.run(databases().drop_database(name, admin_url))
    except (OSError, asyncpg.PostgresError) as error:
        print(f"could not drop database {name}: {type(error).__name__}: {error}", file=sys.stderr)


def prepare_search(args: argparse.Namespace, work: Path) -> None:
    """The search database: migrated and keyed through the CLI, then search_corpus's memories loaded straight into
    its tables, once per run; the total the searches must answer is counted apart from the full-text index."""
    pg: Postgres = args.pg
    pg.search_db = asyncio.run(databases().create_database("memo_bench_search", pg.admin_url))
    pg.data = work / "data"
    env = memo_env(args, pg.data, pg.search_url)
    memo_cli(env, work, "owners", "create", "bench")  # migrates the database too
    issued = json.loads(memo_cli(env, work, "keys", "create", "--owner", "bench", "--json"))
    pg.key_id, pg.secret = issued["keyId"], issued["secret"]
    started = time.monotonic()
    asyncio.run(search_corpus.load(pg.search_url, "bench", pg.memories))
    pg.holding_common = asyncio.run(search_corpus.holding(pg.search_url, search_corpus.COMMON_WORD))
    print(f"  loaded {pg.memories:,} memories into PostgreSQL database {pg.search_db} in "
          f"{time.monotonic() - started:.1f} s; {pg.holding_common:,} hold '{search_corpus.COMMON_WORD}'",
          file=sys.stderr)


def measure_webhook(run: Run, args: argparse.Namespace, work: Path) -> None:
    """bench/webhook.py's open loop, one message per notification at the aim's rate, on a throwaway PostgreSQL
    database with Redis: memo serve itself, pinned to CPU 0, the client on CPU 1. Fills `run` (rps: notifications
    acked per second)."""
    import webhook  # noqa: PLC0415 - webhook.py imports this module; it is loaded only for --postgres

    options = argparse.Namespace(rate=WEBHOOK_RATE, duration=args.duration, warmup=args.warmup, media_every=10,
                                 concurrency=128, timeout=30.0, settle=0.0, quiet_wait=args.quiet_wait,
                                 max_noise=args.max_noise, keep=args.keep, nodelay=False)
    results = asyncio.run(webhook.on_postgres(served_env(args, bench=False), work, secret=secrets.token_hex(32),
                                              admin_url=args.pg.admin_url, redis_url=args.pg.redis_url,
                                              args=options, loads=[(1, WEBHOOK_RATE)]))
    result = results[0]
    run.requests, run.duration_s, run.rps = result.notifications, args.duration, result.achieved_nps
    run.p50_ms, run.p90_ms, run.p99_ms, run.max_ms = result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms
    run.non2xx = sum(count for status, count in result.errors.items() if status.isdigit() and status != "0")
    run.errors = result.errors.get("0", 0)
    run.server_cpu_pct = round(result.server_cpu_pct, 1)
    run.wrk_cpu_pct = round(result.client_cpu_pct, 1)  # the load generator: webhook.py's client
    run.other_cpu_pct = round(result.other_cpu_pct / (os.cpu_count() or 1), 1)  # webhook.py: % of one core
    if result.ok:
        run.ok = True
    else:
        run.problem = (f"errors {result.errors}, stored {result.stored_messages} of {result.sent_messages}, "
                       f"{result.wrong_processed} answers with the wrong `processed`")


# ---------------------------------------------------------------- report


def describe(run: Run) -> str:
    if not run.ok:
        return f"FAILED: {run.problem}"
    flags = []
    if run.non2xx or run.errors:
        flags.append(f"non2xx {run.non2xx} errors {run.errors} {run.refusals or ''}".rstrip())
    if run.wrapped:
        flags.append(f"WRAPPED {run.wrapped}x ({run.lines} lines)")
    cpu = (f"cpu: server {run.server_cpu_pct}% wrk {run.wrk_cpu_pct}% other {run.other_cpu_pct}%, "
           f"{run.busy_before_pct}% before"
           if run.server_cpu_pct is not None else "")
    return (f"{run.rps:,.0f} rps  p50 {run.p50_ms:.2f} ms  p99 {run.p99_ms:.2f} ms  max {run.max_ms:.0f} ms  "
            f"(warm-up {run.warmup_rps:,.0f} rps; {cpu}) {'; '.join(flags)}")


@dataclass
class Summary:
    scenario: str
    server: str
    n: int
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    errors: int
    wrapped: int
    server_cpu_pct: float | None
    other_cpu_max: float | None


def summarise(runs: list[Run]) -> list[Summary]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        if run.ok:
            groups.setdefault((run.scenario, run.server), []).append(run)
    out = []
    for (scenario, server), rs in groups.items():
        rates = [r.rps for r in rs]
        out.append(Summary(scenario, server, len(rs), statistics.median(rates), min(rates), max(rates),
                           statistics.median(r.p50_ms for r in rs), statistics.median(r.p90_ms for r in rs),
                           statistics.median(r.p99_ms for r in rs), max(r.max_ms for r in rs),
                           sum(r.non2xx for r in rs), sum(r.errors for r in rs), sum(r.wrapped for r in rs),
                           statistics.median(cpu) if (cpu := [r.server_cpu_pct for r in rs
                                                             if r.server_cpu_pct is not None]) else None,
                           max((v for r in rs for v in (r.other_cpu_pct, r.busy_before_pct) if v is not None),
                               default=None)))
    return out


COSTS = ("guard cost", "metrics and access log cost")  # ratios() entries that are shares, printed as percentages


def ratios(summaries: list[Summary], servers: list[str]) -> dict[str, float]:
    rps = {(s.scenario, s.server): s.rps for s in summaries}
    peer_create, peer_list = rps.get((PEER_CREATE.name, "node")), rps.get((PEER_LIST.name, "node"))
    out: dict[str, float] = {}
    for server in servers:
        for profile in ("embedded", "test"):
            guarded, unguarded = rps.get((f"{profile} create", server)), rps.get((f"{profile} create (unguarded)",
                                                                                 server))
            if guarded and unguarded:
                out[f"guard cost, {profile}, {server}"] = 1 - guarded / unguarded
            quiet = rps.get((f"{profile} create (no metrics or access log)", server))
            if guarded and quiet:
                out[f"metrics and access log cost, {profile} create, {server}"] = 1 - guarded / quiet
        embedded, test = rps.get(("embedded create", server)), rps.get(("test create", server))
        if embedded and test:
            out[f"test/embedded create, {server}"] = test / embedded
        if embedded and peer_create:
            out[f"embedded/peer create, {server}"] = embedded / peer_create
        if test and peer_create:
            out[f"test/peer create, {server}"] = test / peer_create
        embedded_list = rps.get(("embedded list", server))
        if embedded_list and peer_list:
            out[f"embedded/peer list, {server}"] = embedded_list / peer_list
    return out


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(summaries: list[Summary]) -> str:
    rows = ["| scenario | server | rps | rps min-max | p50 ms | p99 ms | non-2xx | n | server CPU % | other CPU % |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        bad = f"{s.non2xx}" + (f" +{s.errors} errors" if s.errors else "") + (" WRAPPED" if s.wrapped else "")
        rows.append(f"| {s.scenario} | {s.server} | {s.rps:,.0f} | {s.rps_min:,.0f}-{s.rps_max:,.0f} | "
                    f"{s.p50_ms:.2f} | {s.p99_ms:.2f} | {bad} | {s.n} | {percent(s.server_cpu_pct)} | "
                    f"{percent(s.other_cpu_max)} |")
    return "\n".join(rows)


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError), Path("/proc/cpuinfo").open() as info:
        model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    versions = {}
    for module in ("granian", "uvicorn", "httptools", "litestar", "msgspec", "sqlalchemy", "dishka"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version  # noqa: PLC0415

            versions[module] = version(module)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                            check=False, timeout=10).stdout.strip()
    src_changes = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                                 text=True, check=False, timeout=10).stdout.split("\n")
    node = shutil.which("node")
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release(), "commit": commit,
            "src_changes": [line.strip() for line in src_changes if line.strip()], "pinned": PIN, "versions": versions,
            "node": subprocess.run([node, "--version"], capture_output=True, text=True, check=False,
                                   timeout=10).stdout.strip() if node else None}


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up, one repeat")
    parser.add_argument("--servers", default="uvicorn",
                        help="comma list of uvicorn (memo serve's own set-up, the default) and granian")
    parser.add_argument("--scenarios", default="",
                        help="comma list of names to keep, e.g. 'test create,test create (unguarded)'")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (max 120)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each run (0: none)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the table shows medians")
    parser.add_argument("--seed", type=int, default=10_000, help="memories seeded before list/get (peer too)")
    parser.add_argument("--body-bytes", type=int, default=1024)
    parser.add_argument("--guess-rps", type=float, default=15_000, help="sizes the warm-up file")
    parser.add_argument("--min-rps", type=float, default=5_000, help="floor of the rate that sizes a run's file")
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap on lines per signed file")
    parser.add_argument("--peer", type=Path, help="the Express reference peer (e.g. ../shared/bench/express-seed)")
    parser.add_argument("--json", type=Path, help="write every run, the medians and the ratios here")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_ADMIN, default=None, metavar="ADMIN_URL",
                        help="add the PostgreSQL scenarios, on throwaway databases of this server (default "
                             f"{DEFAULT_ADMIN}): postgres create, the two list searches, the webhook ack")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="REDIS_URL of the PostgreSQL servers")
    parser.add_argument("--postgres-memories", type=int, default=100_000,
                        help="memories loaded into the search database (the aim's set-up: 100,000)")
    parser.add_argument("--postgres-json", type=Path,
                        help="the --json of a bench/postgres.py run (with --redis-url): the PostgreSQL aims this run "
                             "does not measure come from it")
    parser.add_argument("--webhook-json", type=Path,
                        help="the --json of a bench/webhook.py --postgres run: the ack p99, when this run has none")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for the Memo servers (repeatable), e.g. MEMO_SQLITE_SYNCHRONOUS=FULL")
    parser.add_argument("--max-noise", type=float, default=10.0,
                        help="%% of the machine busy (server idle) above which a run waits before it starts")
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="seconds a run waits for a quiet machine")
    parser.add_argument("--live-src", action="store_true",
                        help="serve src/ as it is at each server start instead of a snapshot taken at the start")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the temporary data folders go (default: the system temp dir); "
                             "the embedded default's SQLite file lives there, so pick the disk you care about")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs, databases)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeat = 3.0, 1.0, 1
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.server_list or set(args.server_list) - {"granian", "uvicorn"}:
        parser.error("--servers takes granian and/or uvicorn")
    if not 0 < args.duration <= 120 or not 0 <= args.warmup <= 30:
        parser.error("--duration must be in (0, 120] and --warmup in [0, 30]: the signed files expire in 300 s")
    if args.repeat < 1 or args.connections < args.threads or args.threads < 1:
        parser.error("--repeat >= 1 and --connections >= --threads >= 1")
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    if not args.postgres and any(name.strip().startswith("postgres ") for name in args.scenarios.split(",")):
        parser.error("the postgres scenarios need --postgres")
    if args.postgres_memories < 100:
        parser.error("--postgres-memories must be at least 100")
    args.pg = Postgres(args.postgres, args.redis_url, args.postgres_memories) if args.postgres else None
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    return args


def hide_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def public_args(args: argparse.Namespace) -> dict[str, str]:
    """The options for --json, without the key of the search database and with URLs' passwords hidden."""
    return {k: hide_password(str(v)) if k in {"postgres", "redis_url"} else str(v) for k, v in vars(args).items()
            if k != "pg"}


def report(runs: list[Run], args: argparse.Namespace, info: dict[str, Any]) -> None:
    """The medians table and the ratios on stdout; everything, raw runs included, to --json."""
    summaries = summarise(runs)
    found = ratios(summaries, args.server_list)
    if summaries:
        print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, median of {args.repeat}; "
              f"{info['nproc']} CPUs ({info['cpu_model']}), server pinned to CPU 0 and wrk to CPU 1: {PIN}\n")
        print(table(summaries))
        print("\nserver CPU %: median share of one core the server used during the measured runs (~100: saturated, "
              "so the rate is the server's, not wrk's).")
        print("other CPU %: the most CPU (share of the whole machine) that processes other than the server and wrk "
              "used in any run of the row, during it or in the idle second before; above ~10 another job shared the "
              "machine and the row is noisy.\n")
        for name, value in found.items():
            print(f"{name}: {value:.0%}" if name.split(",")[0] in COSTS else f"{name}: {value:.2f}")
    postgres = json.loads(args.postgres_json.read_text()) if args.postgres_json else None
    webhook = json.loads(args.webhook_json.read_text()) if args.webhook_json else None
    targets = aims({(s.scenario, s.server): s.rps for s in summaries},
                   {(s.scenario, s.server): s.p99_ms for s in summaries}, args.server_list, rounds=args.repeat,
                   memories=args.postgres_memories, connections=args.connections, postgres=postgres, webhook=webhook)
    print(f"\nIssue 11's aims (medians of {args.repeat} round(s); the issue asks for at least 3):\n")
    print(aims_table(targets))
    digests = sorted({r.src_digest for r in runs if r.src_digest})
    if len(digests) > 1:
        print(f"WARNING: src/ changed during the run (digests {', '.join(digests)}): rounds measured different code",
              file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": public_args(args),
                                         "runs": [asdict(r) for r in runs],
                                         "summary": [asdict(s) for s in summaries], "ratios": found,
                                         "aims": [asdict(a) for a in targets]},
                                        indent=2))


def make_plan(args: argparse.Namespace, wanted: set[str]) -> list[tuple[str, Scenario]]:
    """One round, in order: every server's scenarios (PostgreSQL's with --postgres), the peer's, the webhook ack."""
    scenarios = [s for s in SCENARIOS + (POSTGRES if args.pg else []) if not wanted or s.name in wanted]
    plan = [(server, s) for server in args.server_list for s in scenarios]
    peers = [peer for peer in PEERS if not wanted or peer.name in wanted]
    if args.peer and peers:
        try:
            args.peer_path = peer_dir(args.peer.resolve())
            plan.extend(("node", peer) for peer in peers)
        except (OSError, subprocess.SubprocessError) as error:
            print(f"peer left out: {error}", file=sys.stderr)
    if args.pg and (not wanted or PG_WEBHOOK_ACK.name in wanted):
        plan.append((WEBHOOK_SERVER, PG_WEBHOOK_ACK))
    return plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    base = Path(tempfile.mkdtemp(prefix="memo-bench-", dir=args.work_dir))
    args.src_snapshot = None if args.live_src else snapshot_src(base)
    args.src_digest = src_digest(args.src_snapshot) if args.src_snapshot else ""
    info = machine()
    info["src_digest"] = args.src_digest or "live"
    print(f"# {info['nproc']} CPUs, {info['cpu_model']}; python {info['python']}; {info['versions']}; "
          f"commit {info['commit']}; src changes {info['src_changes'] or 'none'}; "
          f"src {'snapshot ' + args.src_digest if args.src_snapshot else 'live'}; pinned={PIN}", file=sys.stderr)
    print(f"# wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, warm-up {args.warmup:g}s, "
          f"{args.repeat} round(s), work dir {base}", file=sys.stderr)
    runs: list[Run] = []
    estimates: dict[tuple[str, str], float] = {}
    try:
        plan = make_plan(args, wanted)
        if any(scenario.searched for _, scenario in plan):
            try:
                prepare_search(args, base / "postgres-search")
            except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as error:
                print(f"PostgreSQL searches left out: {type(error).__name__}: {error}", file=sys.stderr)
                plan = [(server, scenario) for server, scenario in plan if not scenario.searched]
        for round_no in range(1, args.repeat + 1):
            for server, scenario in plan:
                run = measure(server, scenario, round_no, args, base=base, estimates=estimates)
                runs.append(run)
                print(f"[{round_no}/{args.repeat}] {server:8} {scenario.name:26} {describe(run)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: stopping everything started here", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave servers behind
        PROCS.stop_all()
        if args.pg and args.pg.search_db:
            drop_quietly(args.pg.search_db, args.pg.admin_url)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        report(runs, args, info)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    # webhook.py (and postgres.py) import `run`: they must get this module, with its one PROCS, not a second copy
    sys.modules.setdefault("run", sys.modules[__name__])
    sys.exit(main())
