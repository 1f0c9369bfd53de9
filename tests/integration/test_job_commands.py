"""`memo jobs` and `memo worker` against a real SQLite data dir, the worker as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.jobs import SqlJobQueue
from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW, SequentialIds
from memo.domain.jobs import Job, JobState
from memo.entrypoints.cli import main
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Settings
from memo.entrypoints.worker import run_worker


def _url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'memo.db'}"


async def _enqueue(data_dir: Path, *kinds: str) -> list[Job]:
    await upgrade(_url(data_dir))
    ids = SequentialIds()
    jobs = [Job.new(id=ids.new_id(), kind=kind, now=TEST_NOW) for kind in kinds]
    engine = create_engine(_url(data_dir))
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            for job in jobs:
                await uow.outbox.enqueue(job)
            await uow.commit()
    finally:
        await engine.dispose()
    return jobs


async def _park(data_dir: Path, job: Job) -> None:
    engine = create_engine(_url(data_dir))
    try:
        queue = SqlJobQueue(engine)
        [claimed] = await queue.claim("w", limit=1, lease_s=30, now=TEST_NOW)
        assert claimed.id == job.id
        assert await queue.settle(claimed.failed_attempt("boom", TEST_NOW, max_attempts=1), worker_id="w")
    finally:
        await engine.dispose()


def memo(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_jobs_list_shows_jobs_by_state_and_retry_puts_a_failed_one_back(data_dir: Path) -> None:
    parked, waiting = asyncio.run(_enqueue(data_dir, "index", "answer"))
    asyncio.run(_park(data_dir, parked))

    failed = json.loads(memo("jobs", "list", "--state", "failed", "--json"))
    assert [(row["id"], row["state"], row["lastError"]) for row in failed] == [(str(parked.id), "failed", "boom")]
    assert str(waiting.id) in memo("jobs", "list")

    assert memo("jobs", "retry", str(parked.id)) == "retried 1 job(s)\n"
    assert json.loads(memo("jobs", "list", "--state", "failed", "--json")) == []
    result = CliRunner().invoke(main, ["jobs", "retry", str(parked.id)])
    assert result.exit_code != 0
    assert "is not parked as failed" in result.output


def test_jobs_retry_all_failed_retries_every_parked_job(data_dir: Path) -> None:
    first, second = asyncio.run(_enqueue(data_dir, "index", "index"))
    asyncio.run(_park(data_dir, first))
    asyncio.run(_park(data_dir, second))

    assert memo("jobs", "retry", "--all-failed") == "retried 2 job(s)\n"
    assert len(json.loads(memo("jobs", "list", "--state", "pending", "--json"))) == 2


@pytest.mark.parametrize("args", [(), ("00000000-0000-0000-0000-000000000001", "--all-failed")])
def test_jobs_retry_wants_exactly_one_target(data_dir: Path, args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, ["jobs", "retry", *args])

    assert result.exit_code == 2
    assert "name one JOB_ID or give --all-failed" in result.output


async def test_the_worker_runs_a_job_through_its_handler_in_a_scope_of_its_own(data_dir: Path) -> None:
    [job] = await _enqueue(data_dir, "note")
    stop = asyncio.Event()
    ran: list[Job] = []

    async def record(claimed: Job) -> None:
        ran.append(claimed)
        stop.set()

    await asyncio.wait_for(run_worker(Settings.from_env(dotenv=None), stop=stop,
                                      handlers=lambda _: {"note": record}), 10)

    assert [claimed.id for claimed in ran] == [job.id]
    engine = create_engine(_url(data_dir))
    try:
        stored = await SqlJobQueue(engine).get(job.id)
    finally:
        await engine.dispose()
    assert stored is not None
    assert stored.state is JobState.DONE


async def test_memo_worker_runs_jobs_and_exits_cleanly_on_sigterm(data_dir: Path) -> None:
    [job] = await _enqueue(data_dir, "nobody-handles-this")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "memo", "worker", env=os.environ.copy(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    engine = create_engine(_url(data_dir))
    try:
        queue = SqlJobQueue(engine)
        deadline = time.monotonic() + 20
        stored = await queue.get(job.id)
        while (stored is None or stored.last_error is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            stored = await queue.get(job.id)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 10)
        counts = await queue.counts(TEST_NOW)
    finally:
        if process.returncode is None:
            process.kill()
        await engine.dispose()

    assert process.returncode == 0, output.decode()
    assert stored is not None
    assert stored.last_error == "no handler is registered for job kind 'nobody-handles-this'"
    assert counts.last_heartbeat_at is not None
    assert b"stopped" in output


async def test_the_embedded_server_runs_jobs_in_process_and_reports_its_heartbeat(data_dir: Path) -> None:
    [job] = await _enqueue(data_dir, "nobody-handles-this")
    settings = Settings.from_env(dotenv=None)
    assert settings.runs_inprocess_worker

    async with AsyncTestClient(app=create_app(settings)) as client:
        engine = create_engine(_url(data_dir))
        try:
            deadline = time.monotonic() + 10
            stored = await SqlJobQueue(engine).get(job.id)
            while (stored is None or stored.last_error is None) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                stored = await SqlJobQueue(engine).get(job.id)
        finally:
            await engine.dispose()
        worker = (await client.get("/health")).json()["checks"]["worker"]

    assert stored is not None
    assert stored.last_error == "no handler is registered for job kind 'nobody-handles-this'"
    assert worker["status"] == "ok"
    assert worker["lastHeartbeatAt"] is not None


async def test_a_server_told_not_to_runs_no_worker(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMO_INPROCESS_WORKER", "false")
    await _enqueue(data_dir, "nobody-handles-this")

    async with AsyncTestClient(app=create_app(Settings.from_env(dotenv=None))) as client:
        await asyncio.sleep(0.3)
        worker = (await client.get("/health")).json()["checks"]["worker"]

    assert (worker["pending"], worker["lastHeartbeatAt"]) == (1, None)
