"""The container hands the worker a job queue over the same data the units of work write to."""

from __future__ import annotations

from uuid import UUID

from memo.adapters.system import TEST_NOW
from memo.application.ports import JobQueue, UnitOfWork
from memo.domain.jobs import Job
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings


async def test_a_job_committed_through_the_unit_of_work_is_seen_by_the_job_queue() -> None:
    container = make_container(Settings.for_tests())
    job = Job.new(id=UUID(int=7), kind="note", now=TEST_NOW)
    try:
        async with container() as scope:
            uow = await scope.get(UnitOfWork)
            async with uow:
                await uow.outbox.enqueue(job)
                await uow.commit()
        queue = await container.get(JobQueue)
        assert await queue.get(job.id) == job
    finally:
        await container.close()
