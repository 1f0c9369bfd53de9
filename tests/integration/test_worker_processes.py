"""Workers as real processes on one database: a SIGKILLed worker's job runs again after its lease; two workers
never run one job twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.domain.jobs import Job, JobState
from tests.integration.conftest import SqlStorage

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

# A worker whose handlers append the job id to a file, then either return or hang (to be killed mid-job).
WORKER = textwrap.dedent("""
    import asyncio, sys
    from memo.entrypoints.settings import Settings
    from memo.entrypoints.worker import run_worker

    async def record(job):
        with open(sys.argv[1], "a") as ran:
            ran.write(f"{job.id}\\n")
        if job.kind == "hang":
            await asyncio.Event().wait()
        await asyncio.sleep(0.01)

    asyncio.run(run_worker(Settings.from_env(dotenv=None), handlers=lambda _: {"hang": record, "quick": record}))
""")


def _sql(storage: Storage) -> SqlStorage:
    if not isinstance(storage, SqlStorage):
        pytest.skip("worker processes need a database they can share")
    return storage


async def _start(storage: SqlStorage, ran: Path, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": storage.engine.url.render_as_string(hide_password=False),
           "MEMO_DATA_DIR": str(tmp_path / "data"), "MEMO_ENV": "development", "MEMO_PROFILE": "embedded",
           "LOG_LEVEL": "warning"}
    return await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, str(ran), env=env,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _enqueue(storage: Storage, kind: str, count: int) -> list[Job]:
    ids = SequentialIds(start=500)
    jobs = [Job.new(id=ids.new_id(), kind=kind, now=TEST_NOW) for _ in range(count)]
    async with storage.uow() as uow:
        for job in jobs:
            await uow.outbox.enqueue(job)
        await uow.commit()
    return jobs


async def _wait_for(done: Callable[[], Awaitable[bool]], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await done() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def test_a_job_whose_worker_was_killed_mid_job_runs_again_after_its_lease(
        storage: Storage, tmp_path: Path) -> None:
    sql = _sql(storage)
    [job] = await _enqueue(sql, "hang", 1)
    ran = tmp_path / "ran.txt"
    process = await _start(sql, ran, tmp_path)
    try:
        await _wait_for(lambda: asyncio.to_thread(ran.exists))
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
    queue = sql.job_queue()
    held = await queue.get(job.id)
    assert held is not None
    assert held.state is JobState.RUNNING
    assert held.lease_expires_at is not None

    assert await queue.claim("w2", limit=1, lease_s=60, now=held.lease_expires_at - timedelta(seconds=1)) == []
    [again] = await queue.claim("w2", limit=1, lease_s=60, now=held.lease_expires_at + timedelta(seconds=1))

    assert (again.id, again.attempts, again.lease_owner) == (job.id, 2, "w2")


@pytest.mark.postgres
async def test_two_worker_processes_on_one_database_never_run_a_job_twice(storage: Storage, tmp_path: Path) -> None:
    sql = _sql(storage)
    if sql.name != "postgresql":
        pytest.skip("several worker processes are a PostgreSQL deployment")
    jobs = await _enqueue(sql, "quick", 40)
    ran = tmp_path / "ran.txt"
    processes = [await _start(sql, ran, tmp_path) for _ in range(2)]
    queue = sql.job_queue()

    async def all_done() -> bool:
        return len(await queue.by_state(JobState.DONE, limit=100)) == len(jobs)

    try:
        await _wait_for(all_done, timeout_s=30)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 10)

    runs = ran.read_text().split()
    assert sorted(runs) == sorted(str(job.id) for job in jobs)
    assert [process.returncode for process in processes] == [0, 0]
