"""The worker loop over the in-memory queue and a fixed clock: outcomes, unknown kinds, leases, stopping."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.dto import SecurityEvent
from memo.application.errors import StorageUnavailable
from memo.application.run_jobs import JobHandler, RunJobs
from memo.domain.jobs import Job, JobState


class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.queue = InMemoryJobQueue(self.store)
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.ran: list[Job] = []

    async def enqueue(self, count: int = 1, kind: str = "note") -> list[Job]:
        jobs = [Job.new(id=self.ids.new_id(), kind=kind, now=self.clock.now()) for _ in range(count)]
        async with InMemoryUnitOfWork(self.store) as uow:
            for job in jobs:
                await uow.outbox.enqueue(job)
            await uow.commit()
        return jobs

    async def record(self, job: Job) -> None:
        self.ran.append(job)

    def worker(self, handlers: dict[str, JobHandler] | None = None, **options: float) -> RunJobs:
        return RunJobs(queue=self.queue, handlers={"note": self.record} if handlers is None else handlers,
                       clock=self.clock, worker_id="w1", jitter=lambda bound: bound, **options)  # type: ignore[arg-type]

    def state(self, job: Job) -> Job:
        return self.store.jobs[job.id]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_job_is_run_by_the_handler_of_its_kind_and_marked_done(world: World) -> None:
    [job] = await world.enqueue()

    assert await world.worker().run_batch() == 1

    assert [ran.id for ran in world.ran] == [job.id]
    assert world.state(job).state is JobState.DONE
    assert world.state(job).lease_owner is None


async def test_a_failing_handler_is_a_failed_attempt_that_backs_off_with_its_error(world: World) -> None:
    async def broken(_: Job) -> None:
        raise ConnectionError("upstream down")

    [job] = await world.enqueue()

    await world.worker({"note": broken}).run_batch()

    stored = world.state(job)
    assert (stored.state, stored.attempts, stored.last_error) == (
        JobState.PENDING, 1, "ConnectionError: upstream down")
    assert stored.run_after == TEST_NOW + timedelta(seconds=2)


async def test_a_job_kind_without_a_handler_fails_with_a_clear_error(world: World) -> None:
    [job] = await world.enqueue(kind="mystery")

    await world.worker().run_batch()

    assert world.state(job).last_error == "no handler is registered for job kind 'mystery'"
    assert world.ran == []


async def test_a_job_that_keeps_failing_is_parked_after_max_attempts(world: World) -> None:
    async def broken(_: Job) -> None:
        raise ValueError

    [job] = await world.enqueue()
    worker = world.worker({"note": broken}, max_attempts=3)
    for _ in range(3):
        world.clock.set(world.state(job).run_after)
        assert await worker.run_batch() == 1

    world.clock.advance(days=1)
    assert await worker.run_batch() == 0
    assert (world.state(job).state, world.state(job).attempts, world.state(job).last_error) == (
        JobState.FAILED, 3, "ValueError")


async def test_a_job_parked_as_failed_is_a_security_audit_event_and_a_retried_attempt_is_not(
        world: World) -> None:
    async def broken(_: Job) -> None:
        raise ValueError

    [job] = await world.enqueue(kind="memory.index")
    audit = RecordingAuditLog()
    worker = world.worker({"memory.index": broken}, max_attempts=2)
    worker.audit = audit
    await worker.run_batch()
    assert audit.events == []  # one attempt failed: it backs off, nobody needs telling yet

    world.clock.set(world.state(job).run_after)
    await worker.run_batch()

    assert world.state(job).state is JobState.FAILED
    assert audit.events == [SecurityEvent(reason=f"JOB_PARKED memory.index {job.id}", key_id=None,
                                          client_ip="local", path="local", owner_id=job.owner_id)]


async def test_a_job_whose_worker_dies_every_time_is_parked_without_running_again(world: World) -> None:
    [job] = await world.enqueue()
    for _ in range(3):  # claimed, then the worker is killed: the lease runs out and the job is due again
        assert len(await world.queue.claim("doomed", limit=1, lease_s=60, now=world.clock.now())) == 1
        world.clock.advance(seconds=61)

    assert await world.worker(max_attempts=3).run_batch() == 1

    stored = world.state(job)
    assert (stored.state, stored.attempts) == (JobState.FAILED, 4)
    assert stored.last_error is not None
    assert stored.last_error.startswith("the worker running it stopped before it finished, 3 times")
    assert world.ran == []


async def test_stopping_finishes_the_job_in_hand_and_releases_the_rest(world: World) -> None:
    jobs = await world.enqueue(3)
    stop = asyncio.Event()

    async def stop_during(job: Job) -> None:
        stop.set()  # as SIGTERM would, while this job runs
        world.ran.append(job)

    await world.worker({"note": stop_during}).run(stop)

    assert [ran.id for ran in world.ran] == [jobs[0].id]
    assert world.state(jobs[0]).state is JobState.DONE
    for unstarted in jobs[1:]:
        assert (world.state(unstarted).state, world.state(unstarted).attempts) == (JobState.PENDING, 0)


async def test_the_loop_beats_its_heartbeat_and_waits_when_nothing_is_due(world: World) -> None:
    stop = asyncio.Event()
    worker = world.worker(idle_s=0.01)
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.05)
    [job] = await world.enqueue()
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 1)

    assert world.store.heartbeats == {"w1": TEST_NOW}
    assert world.state(job).state is JobState.DONE


async def test_an_idle_loop_writes_its_heartbeat_once_per_interval_not_once_per_poll(world: World) -> None:
    beats: list[object] = []
    stop = asyncio.Event()
    polls = 0

    async def heartbeat(worker_id: str, now: object) -> None:
        beats.append(now)

    async def claim(*_: object, **__: object) -> list[Job]:
        nonlocal polls
        polls += 1
        world.clock.advance(seconds=4)
        if polls == 7:  # polls at 0, 4, ... 24 s
            stop.set()
        return []

    world.queue.heartbeat = heartbeat  # type: ignore[method-assign,assignment]
    world.queue.claim = claim  # type: ignore[method-assign,assignment]

    await asyncio.wait_for(world.worker(idle_s=0.001, heartbeat_every_s=10).run(stop), 1)

    assert beats == [TEST_NOW, TEST_NOW + timedelta(seconds=12), TEST_NOW + timedelta(seconds=24)]


async def test_the_loop_deletes_done_jobs_past_their_keep_once_per_interval(world: World) -> None:
    pruned: list[tuple[object, int]] = []
    stop = asyncio.Event()
    polls = 0

    async def prune_done(finished_before: object, *, limit: int) -> int:
        pruned.append((finished_before, limit))
        return 0

    async def claim(*_: object, **__: object) -> list[Job]:
        nonlocal polls
        polls += 1
        world.clock.advance(seconds=1_000)
        if polls == 8:  # polls at 0, 1000, ... 7000 s
            stop.set()
        return []

    world.queue.prune_done = prune_done  # type: ignore[method-assign]
    world.queue.claim = claim  # type: ignore[method-assign,assignment]

    await asyncio.wait_for(world.worker(idle_s=0.001, keep_done_s=86_400, prune_every_s=3_600).run(stop), 1)

    day = timedelta(days=1)
    assert pruned == [(TEST_NOW - day, 1_000), (TEST_NOW + timedelta(seconds=4_000) - day, 1_000)]


async def test_a_long_job_keeps_its_lease_while_it_runs(world: World) -> None:
    [job] = await world.enqueue()
    lease_s = 0.06

    async def slow(_: Job) -> None:
        world.clock.advance(seconds=50)
        await asyncio.sleep(lease_s)  # the lease keeper beats every third of the lease meanwhile
        assert world.state(job).lease_expires_at == TEST_NOW + timedelta(seconds=50 + lease_s)
        world.clock.advance(seconds=50)

    await world.worker({"note": slow}, lease_s=lease_s).run_batch()

    assert world.state(job).state is JobState.DONE


async def test_a_worker_that_lost_the_lease_does_not_overwrite_the_new_owner(world: World) -> None:
    [job] = await world.enqueue()

    async def stalls(_: Job) -> None:  # meanwhile the lease ran out and another worker claimed the job
        world.clock.advance(seconds=120)
        await world.queue.claim("w2", limit=1, lease_s=60, now=world.clock.now())

    await world.worker({"note": stalls}).run_batch()

    assert (world.state(job).state, world.state(job).lease_owner) == (JobState.RUNNING, "w2")


async def test_storage_unavailable_pauses_the_loop_instead_of_ending_it(world: World) -> None:
    stop = asyncio.Event()
    calls = 0

    async def unavailable(worker_id: str, now: object) -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            stop.set()
        raise StorageUnavailable

    world.queue.heartbeat = unavailable  # type: ignore[method-assign,assignment]

    await asyncio.wait_for(world.worker(idle_s=0.001).run(stop), 1)

    assert calls == 3


async def test_a_worker_cancelled_mid_job_gives_every_claimed_job_back_at_once(world: World) -> None:
    jobs = await world.enqueue(3)
    started = asyncio.Event()

    async def hangs(_: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(world.worker({"note": hangs}).run_batch())
    await asyncio.wait_for(started.wait(), 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    in_hand = world.state(jobs[0])
    assert (in_hand.state, in_hand.attempts, in_hand.lease_owner, in_hand.run_after) == (
        JobState.PENDING, 1, None, TEST_NOW)  # due again now, the interrupted attempt spent
    for unstarted in jobs[1:]:
        assert (world.state(unstarted).state, world.state(unstarted).attempts) == (JobState.PENDING, 0)
    assert len(await world.queue.claim("w2", limit=10, lease_s=60, now=TEST_NOW)) == 3


async def test_a_long_batch_writes_the_heartbeat_between_its_jobs(world: World) -> None:
    beats: list[object] = []

    async def heartbeat(worker_id: str, now: object) -> None:
        beats.append(now)

    async def slow(_: Job) -> None:
        world.clock.advance(seconds=11)

    world.queue.heartbeat = heartbeat  # type: ignore[method-assign,assignment]
    await world.enqueue(3)

    await world.worker({"note": slow}, heartbeat_every_s=10).run_batch()

    assert beats == [TEST_NOW + timedelta(seconds=11), TEST_NOW + timedelta(seconds=22)]
