"""Metrics across processes: `memo worker`'s own scrape port, and `memo serve --workers N` summing every worker.

The server tests start real processes (marked `slow`) on PostgreSQL and Redis, as `--workers 2` needs them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest
import redis
from dishka import AsyncContainer
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from memo.application.ports import Clock, Embedder, UnitOfWork
from memo.application.run_jobs import JobHandlers
from memo.domain.jobs import Job
from memo.entrypoints.settings import Settings
from memo.entrypoints.worker import run_worker
from tests.support.postgres import create_database, database_url, drop_database
from tests.support.server import OUTPUT_FILE, free_port, group_members, kill_group, server_output, wait_until

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
needs_shared_stores = pytest.mark.skipif(not (POSTGRES_ADMIN_URL and REDIS_URL),
                                         reason="needs MEMO_TEST_POSTGRES_URL and MEMO_TEST_REDIS_URL")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parsed(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


# --- memo worker ---------------------------------------------------------------------------------------------------

async def run_one_job_on_a_worker(settings: Settings) -> tuple[httpx.Response, httpx.Response]:
    """A worker with metrics on its port runs one job that embeds a text; the scrape after it, and a stray path."""
    stop, ready = asyncio.Event(), asyncio.Event()
    seen: list[AsyncContainer] = []
    done = asyncio.Event()

    def handlers(container: AsyncContainer) -> JobHandlers:
        seen.append(container)
        ready.set()

        async def embed(_: Job) -> None:
            async with container() as scope:
                await (await scope.get(Embedder)).embed(["buy milk"])
            done.set()

        return {"embed": embed}

    worker = asyncio.create_task(run_worker(settings, stop=stop, handlers=handlers))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with seen[0]() as scope:
            uow, clock = await scope.get(UnitOfWork), await scope.get(Clock)
            async with uow:
                await uow.outbox.enqueue(Job.new(id=uuid.uuid4(), kind="embed", now=clock.now()))
                await uow.commit()
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.1)  # the outcome is settled and counted after the handler returns
        base = f"http://127.0.0.1:{settings.worker_metrics_port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            return await client.get("/metrics"), await client.get("/elsewhere")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)


async def test_the_worker_serves_its_own_job_and_embedding_metrics_on_its_port() -> None:
    scrape, stray = await run_one_job_on_a_worker(Settings.for_tests(worker_metrics_port=free_port()))

    assert scrape.status_code == 200, scrape.text
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = parsed(scrape.text)
    assert value(found, "memo_jobs_finished_total", kind="embed", outcome="done") == 1
    assert value(found, "memo_job_duration_seconds_count", kind="embed") == 1
    assert value(found, "memo_embedding_duration_seconds_count", outcome="ok") == 1
    assert value(found, "memo_jobs", state="pending") is None  # the queue's figures are the API's to serve
    assert (stray.status_code, stray.json()["code"]) == (404, "NOT_FOUND")


async def test_the_worker_port_refuses_addresses_outside_the_allow_list() -> None:
    scrape, _ = await run_one_job_on_a_worker(Settings.for_tests(worker_metrics_port=free_port(),
                                                                 metrics_allow=("10.0.0.0/8",)))

    assert scrape.status_code == 403
    assert scrape.json() == {"success": False, "code": "METRICS_NOT_ALLOWED",
                             "error": "Metrics are served only to the addresses in MEMO_METRICS_ALLOW."}


async def test_the_worker_port_is_closed_when_the_worker_stops() -> None:
    settings = Settings.for_tests(worker_metrics_port=free_port())
    await run_one_job_on_a_worker(settings)

    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{settings.worker_metrics_port}/metrics")


# --- the multiprocess folder, without a server -----------------------------------------------------------------------

FORKED_WORKERS = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from memo.entrypoints.metrics_setup import prepare_multiprocess_metrics, process_metrics, worker_process_exited
    from memo.entrypoints.settings import Settings

    settings = Settings.for_tests(data_dir=Path(sys.argv[1]))
    prepare_multiprocess_metrics(settings)  # prometheus_client is imported already: it must choose again
    children = []
    for requests in (3, 4):
        pid = os.fork()
        if pid == 0:
            metrics = process_metrics()  # built after the fork, as uvicorn's workers build the app
            for _ in range(requests):
                metrics.request_started()
                metrics.request_finished(method="GET", route="/api/memories", status=200, seconds=0.01)
            metrics.request_started()  # one still in progress when the worker dies
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    worker_process_exited(children[0])
    sys.stdout.buffer.write(process_metrics().exposition())
""")


def test_a_scrape_sums_the_values_every_forked_worker_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"stale: from a server that ran before")
    (folder / "notes.txt").write_text("the operator's own file")

    done = subprocess.run([sys.executable, "-c", FORKED_WORKERS, str(tmp_path)], capture_output=True, text=True,  # noqa: S603
                          timeout=60, check=False, env={k: v for k, v in os.environ.items()
                                                        if k != "PROMETHEUS_MULTIPROC_DIR"})

    assert done.returncode == 0, done.stderr
    found = parsed(done.stdout)
    assert value(found, "memo_http_requests_total", method="GET", route="/api/memories", status="200") == 7
    assert value(found, "memo_http_requests_in_progress") == 1  # the exited worker's own left the sum
    assert (folder / "notes.txt").exists()
    assert not (folder / "counter_99999.db").exists()


# --- memo serve --workers 2 ------------------------------------------------------------------------------------------

# What the supervisor must do before it forks; run here by hand until `memo serve` calls it itself.
@pytest.fixture
def shared_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    assert POSTGRES_ADMIN_URL
    assert REDIS_URL
    name = asyncio.run(create_database("memo_metrics"))
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        yield {"DATABASE_URL": database_url(name), "REDIS_URL": REDIS_URL, "MEMO_DATA_DIR": str(tmp_path / "data"),
               "ENCRYPTION_KEY": "metrics-encryption-key-for-both-workers-0123456789"}
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
        asyncio.run(drop_database(name))


def start(folder: Path, port: int, env: Mapping[str, str], command: Sequence[str]) -> subprocess.Popen[str]:
    """`command serve --port P --workers 2` in a process group of its own, once both workers answer."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL", "PROMETHEUS_"))}
    with (folder / OUTPUT_FILE).open("a") as output:
        process = subprocess.Popen([*command, "serve", "--port", str(port), "--workers", "2"], cwd=folder,  # noqa: S603
                                   env={**clean, **env}, stdout=output, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"memo serve exited early:\n{server_output(folder)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200 and len(
                    group_members(process.pid)) == 3:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    kill_group(process)
    raise AssertionError(f"memo serve did not become healthy:\n{server_output(folder)}")


def unrouted_by_worker(folder: Path, workers: Sequence[int]) -> dict[int, float]:
    """Each worker's own count of unrouted requests, read from its own file alone."""
    counts = {}
    for pid in workers:
        files = [str(path) for path in folder.glob(f"counter_{pid}.db")]
        found = {(sample.name, frozenset(sample.labels.items())): sample.value
                 for family in MultiProcessCollector.merge(files) for sample in family.samples}  # type: ignore[no-untyped-call]
        counts[pid] = value(found, "memo_http_requests_total", method="GET", route="unmatched", status="404") or 0
    return counts


def scrape(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return parsed(response.text)


def both_workers_counted_in_one_scrape(process: subprocess.Popen[str], port: int, folder: Path) -> None:
    workers = [pid for pid in group_members(process.pid) if pid != process.pid]
    assert wait_until(lambda: any(folder.glob("*.db")), timeout_s=10), (
        f"no worker writes to {folder}: the supervisor must call prepare_multiprocess_metrics before it forks")
    sent = 0
    while sent < 400 and not all(unrouted_by_worker(folder, workers).values()):  # until both served some
        assert httpx.get(f"http://127.0.0.1:{port}/no/such/route", timeout=5).status_code == 404  # a new connection
        sent += 1
    shares = unrouted_by_worker(folder, workers)
    assert all(shares.values()), shares
    assert sum(shares.values()) == sent

    for _ in range(6):  # whichever worker answers the scrape, it answers for both
        assert value(scrape(port), "memo_http_requests_total", method="GET", route="unmatched", status="404") == sent

    os.kill(workers[0], signal.SIGKILL)  # the supervisor starts another; the dead one's counts stay in the sum
    assert wait_until(lambda: len(group_members(process.pid)) == 3 and workers[0] not in group_members(process.pid),
                      timeout_s=15)
    for _ in range(4):
        assert value(scrape(port), "memo_http_requests_total", method="GET", route="unmatched", status="404") == sent


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@needs_shared_stores
def test_every_worker_of_memo_serve_is_in_each_scrape(tmp_path: Path, shared_env: dict[str, str]) -> None:
    """The real command: its supervisor prepares the folder before it forks (serving.py's wiring)."""
    process = start(tmp_path, port := free_port(), shared_env, [sys.executable, "-m", "memo"])
    try:
        both_workers_counted_in_one_scrape(process, port, Path(shared_env["MEMO_DATA_DIR"]) / "metrics")
    finally:
        kill_group(process)
