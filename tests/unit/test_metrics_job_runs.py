"""What the worker loop reports of each job it took up: the figures the job metrics are made of."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.system import FixedClock, SequentialIds
from memo.application.run_jobs import JobHandler, JobOutcome, JobRun, RunJobs
from memo.domain.jobs import Job


class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.queue = InMemoryJobQueue(self.store)
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.runs: list[JobRun] = []

    async def enqueue(self, kind: str = "note") -> Job:
        job = Job.new(id=self.ids.new_id(), kind=kind, now=self.clock.now())
        async with InMemoryUnitOfWork(self.store) as uow:
            await uow.outbox.enqueue(job)
            await uow.commit()
        return job

    def worker(self, handlers: dict[str, JobHandler], **options: int) -> RunJobs:
        return RunJobs(queue=self.queue, handlers=handlers, clock=self.clock, worker_id="w1",
                       jitter=lambda bound: bound, observe=self.runs.append, **options)


@pytest.fixture
def world() -> World:
    return World()


async def done(_: Job) -> None:
    await asyncio.sleep(0.02)


async def broken(_: Job) -> None:
    raise ConnectionError("upstream down")


async def test_a_job_done_is_reported_done_with_its_attempt_wait_and_run_time(world: World) -> None:
    await world.enqueue()
    world.clock.advance(seconds=30)  # due for half a minute before a worker takes it up

    await world.worker({"note": done}).run_batch()

    [run] = world.runs
    assert (run.kind, run.outcome, run.attempts, run.waited_s, run.finished) == ("note", JobOutcome.DONE, 1, 30.0,
                                                                                 True)
    assert run.ran_s is not None
    assert run.ran_s >= 0.02


async def test_a_failed_attempt_is_reported_retrying_and_the_last_one_failed(world: World) -> None:
    await world.enqueue()
    worker = world.worker({"note": broken}, max_attempts=2)

    await worker.run_batch()
    world.clock.advance(seconds=3600)  # past the backoff
    await worker.run_batch()

    assert [(run.outcome, run.attempts, run.finished) for run in world.runs] == [
        (JobOutcome.RETRYING, 1, False), (JobOutcome.FAILED, 2, True)]


async def test_a_kind_without_a_handler_is_reported_as_not_run(world: World) -> None:
    await world.enqueue(kind="mystery")

    await world.worker({}, max_attempts=1).run_batch()

    [run] = world.runs
    assert (run.kind, run.outcome, run.ran_s) == ("mystery", JobOutcome.FAILED, None)


async def test_a_job_whose_lease_went_to_another_worker_is_reported_lost(world: World) -> None:
    job = await world.enqueue()

    async def overtaken(_: Job) -> None:  # meanwhile its lease ran out and another worker claimed it
        world.store.jobs[job.id] = replace(world.store.jobs[job.id], lease_owner="w2")

    await world.worker({"note": overtaken}).run_batch()

    assert [(run.outcome, run.finished) for run in world.runs] == [(JobOutcome.LOST, False)]


async def test_an_observer_that_raises_is_logged_and_the_jobs_still_run(world: World,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    await world.enqueue()
    await world.enqueue()
    ran: list[Job] = []

    async def record(job: Job) -> None:
        ran.append(job)

    def failing(_: JobRun) -> None:
        raise RuntimeError("metrics are broken")

    worker = replace(world.worker({"note": record}), observe=failing)
    with caplog.at_level(logging.ERROR, logger="memo.application.run_jobs"):
        assert await worker.run_batch() == 2

    assert len(ran) == 2
    assert [job.state.value for job in world.store.jobs.values()] == ["done", "done"]
    assert "the job observer failed on a note job" in caplog.text
