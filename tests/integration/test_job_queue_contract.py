"""One job-queue contract over every backend: the outbox commits with its data, leases hold, failures park."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.domain.jobs import Job, JobState
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
LEASE_S = 30.0


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds(start=100)


@pytest.fixture
async def owner(storage: Storage) -> UUID:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
        await uow.commit()
    return ALICE


async def _enqueue(storage: Storage, ids: SequentialIds, count: int = 1, *, kind: str = "index") -> list[Job]:
    jobs = [Job.new(id=ids.new_id(), kind=kind, now=TEST_NOW, payload={"n": n, "text": "é"}) for n in range(count)]
    async with storage.uow() as uow:
        for job in jobs:
            await uow.outbox.enqueue(job)
        await uow.commit()
    return jobs


async def _memory_with_job(storage: Storage, ids: SequentialIds, owner: UUID, *, commit: bool) -> tuple[Memory, Job]:
    memory = Memory.create(id=ids.new_id(), owner_id=owner, content="call the plumber", type=MemoryType.NOTE,
                           now=TEST_NOW)
    job = Job.new(id=ids.new_id(), kind="index", owner_id=owner, now=TEST_NOW, payload={"memoryId": str(memory.id)})
    async with storage.uow() as uow:
        await uow.memories.add(memory)
        await uow.outbox.enqueue(job)
        if commit:
            await uow.commit()
    return memory, job


async def test_a_job_enqueued_with_a_committed_memory_is_stored_with_it(
        storage: Storage, ids: SequentialIds, owner: UUID) -> None:
    memory, job = await _memory_with_job(storage, ids, owner, commit=True)

    assert await storage.job_queue().get(job.id) == job
    async with storage.uow() as uow:
        assert await uow.memories.get(owner, memory.id) is not None


async def test_a_job_enqueued_with_a_rolled_back_memory_does_not_exist(
        storage: Storage, ids: SequentialIds, owner: UUID) -> None:
    memory, job = await _memory_with_job(storage, ids, owner, commit=False)

    assert await storage.job_queue().get(job.id) is None
    assert await storage.job_queue().by_state() == []
    async with storage.uow() as uow:
        assert await uow.memories.get(owner, memory.id) is None


async def test_a_claim_takes_due_jobs_oldest_first_up_to_the_limit(storage: Storage, ids: SequentialIds) -> None:
    jobs = await _enqueue(storage, ids, 3)
    queue = storage.job_queue()

    claimed = await queue.claim("w1", limit=2, lease_s=LEASE_S, now=TEST_NOW)

    assert [job.id for job in claimed] == [jobs[0].id, jobs[1].id]
    assert all(job.state is JobState.RUNNING and job.lease_owner == "w1" and job.attempts == 1 for job in claimed)
    assert await queue.get(jobs[0].id) == claimed[0]


async def test_a_job_not_yet_due_is_not_claimed(storage: Storage, ids: SequentialIds) -> None:
    later = Job.new(id=ids.new_id(), kind="index", now=TEST_NOW, run_after=TEST_NOW + timedelta(seconds=5))
    async with storage.uow() as uow:
        await uow.outbox.enqueue(later)
        await uow.commit()
    queue = storage.job_queue()

    assert await queue.claim("w1", limit=5, lease_s=LEASE_S, now=TEST_NOW) == []
    assert [job.id for job in await queue.claim("w1", limit=5, lease_s=LEASE_S,
                                                now=TEST_NOW + timedelta(seconds=5))] == [later.id]


async def test_a_claimed_job_is_not_claimed_again_while_its_lease_holds(storage: Storage, ids: SequentialIds) -> None:
    await _enqueue(storage, ids)
    queue = storage.job_queue()
    await queue.claim("w1", limit=5, lease_s=LEASE_S, now=TEST_NOW)

    assert await queue.claim("w2", limit=5, lease_s=LEASE_S, now=TEST_NOW + timedelta(seconds=LEASE_S)) == []


async def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(storage: Storage, ids: SequentialIds) -> None:
    [job] = await _enqueue(storage, ids)
    queue = storage.job_queue()
    [first] = await queue.claim("w1", limit=5, lease_s=LEASE_S, now=TEST_NOW)
    after_lease = TEST_NOW + timedelta(seconds=LEASE_S + 1)

    [again] = await queue.claim("w2", limit=5, lease_s=LEASE_S, now=after_lease)

    assert (again.id, again.lease_owner, again.attempts) == (job.id, "w2", 2)
    assert not await queue.settle(first.done(after_lease), worker_id="w1")  # the dead worker's late word is refused
    assert await queue.settle(again.done(after_lease), worker_id="w2")
    assert (await queue.get(job.id)) == again.done(after_lease)


async def test_an_extended_lease_keeps_the_job_from_other_claimers(storage: Storage, ids: SequentialIds) -> None:
    await _enqueue(storage, ids)
    queue = storage.job_queue()
    [job] = await queue.claim("w1", limit=5, lease_s=LEASE_S, now=TEST_NOW)
    later = TEST_NOW + timedelta(seconds=20)

    assert await queue.settle(job.lease_extended(later, lease_s=LEASE_S), worker_id="w1")

    assert await queue.claim("w2", limit=5, lease_s=LEASE_S, now=TEST_NOW + timedelta(seconds=LEASE_S + 1)) == []


async def test_a_released_job_is_claimable_at_once_without_losing_an_attempt(
        storage: Storage, ids: SequentialIds) -> None:
    await _enqueue(storage, ids)
    queue = storage.job_queue()
    [job] = await queue.claim("w1", limit=5, lease_s=LEASE_S, now=TEST_NOW)

    assert await queue.settle(job.released(TEST_NOW), worker_id="w1")

    [again] = await queue.claim("w2", limit=5, lease_s=LEASE_S, now=TEST_NOW)
    assert (again.id, again.attempts) == (job.id, 1)


async def test_failed_attempts_back_off_then_park_the_job_with_its_last_error(
        storage: Storage, ids: SequentialIds) -> None:
    [job] = await _enqueue(storage, ids)
    queue = storage.job_queue()
    now = TEST_NOW
    for attempt in (1, 2, 3):
        [claimed] = await queue.claim("w1", limit=5, lease_s=LEASE_S, now=now)
        assert claimed.attempts == attempt
        assert await queue.settle(claimed.failed_attempt(f"error {attempt}", now, max_attempts=3,
                                                         jitter=lambda bound: bound), worker_id="w1")
        stored = await queue.get(job.id)
        assert stored is not None
        if attempt < 3:
            assert stored.state is JobState.PENDING
            assert stored.run_after == now + timedelta(seconds=2 ** attempt)
            assert await queue.claim("w1", limit=5, lease_s=LEASE_S, now=stored.run_after - timedelta(seconds=1)) == []
            now = stored.run_after

    assert stored.state is JobState.FAILED
    assert stored.last_error == "error 3"
    assert [failed.id for failed in await queue.by_state(JobState.FAILED)] == [job.id]
    assert await queue.claim("w1", limit=5, lease_s=LEASE_S, now=now + timedelta(days=30)) == []


async def _park(storage: Storage, ids: SequentialIds, count: int) -> list[Job]:
    jobs = await _enqueue(storage, ids, count)
    queue = storage.job_queue()
    for claimed in await queue.claim("w1", limit=count, lease_s=LEASE_S, now=TEST_NOW):
        assert await queue.settle(claimed.failed_attempt("boom", TEST_NOW, max_attempts=1), worker_id="w1")
    return jobs


async def test_a_retried_failed_job_is_pending_again_with_every_attempt(storage: Storage, ids: SequentialIds) -> None:
    first, second = await _park(storage, ids, 2)
    queue = storage.job_queue()
    later = TEST_NOW + timedelta(hours=1)

    assert await queue.retry(first.id, later)
    assert not await queue.retry(first.id, later)  # no longer failed

    retried = await queue.get(first.id)
    assert retried is not None
    assert (retried.state, retried.attempts, retried.run_after) == (JobState.PENDING, 0, later)
    assert [job.id for job in await queue.by_state(JobState.FAILED)] == [second.id]


async def test_pruning_deletes_old_done_jobs_only_up_to_the_limit(storage: Storage, ids: SequentialIds) -> None:
    queue = storage.job_queue()
    done = await _enqueue(storage, ids, 3)
    for claimed in await queue.claim("w1", limit=3, lease_s=LEASE_S, now=TEST_NOW):
        assert await queue.settle(claimed.done(TEST_NOW), worker_id="w1")
    [parked] = await _park(storage, ids, 1)
    [waiting] = await _enqueue(storage, ids, 1)
    week = TEST_NOW + timedelta(days=7)

    assert await queue.prune_done(TEST_NOW, limit=10) == 0  # finished at TEST_NOW: not before it
    assert await queue.prune_done(week, limit=2) == 2
    assert await queue.prune_done(week, limit=10) == 1

    remaining = {job.id: job.state for job in await queue.by_state()}
    assert remaining == {parked.id: JobState.FAILED, waiting.id: JobState.PENDING}
    assert [await queue.get(job.id) for job in done] == [None, None, None]


async def test_retrying_all_failed_jobs_puts_every_one_back(storage: Storage, ids: SequentialIds) -> None:
    jobs = await _park(storage, ids, 3)
    queue = storage.job_queue()

    assert await queue.retry_all_failed(TEST_NOW) == 3

    assert await queue.by_state(JobState.FAILED) == []
    assert [job.id for job in await queue.by_state(JobState.PENDING)] == [job.id for job in jobs]


async def test_the_counts_report_states_the_oldest_due_job_and_the_last_heartbeat(
        storage: Storage, ids: SequentialIds) -> None:
    queue = storage.job_queue()
    empty = await queue.counts(TEST_NOW)
    assert (empty.pending, empty.running, empty.failed, empty.oldest_due_at, empty.last_heartbeat_at) == (
        0, 0, 0, None, None)
    await _park(storage, ids, 1)
    await _enqueue(storage, ids, 3)
    await queue.claim("w1", limit=1, lease_s=LEASE_S, now=TEST_NOW)
    await queue.heartbeat("w1", TEST_NOW)
    await queue.heartbeat("w2", TEST_NOW + timedelta(seconds=5))
    await queue.heartbeat("w1", TEST_NOW + timedelta(seconds=3))

    counts = await queue.counts(TEST_NOW + timedelta(seconds=10))

    assert (counts.pending, counts.running, counts.failed) == (2, 1, 1)
    assert counts.oldest_due_at == TEST_NOW
    assert counts.last_heartbeat_at == TEST_NOW + timedelta(seconds=5)
    assert counts.by_kind == {("index", "pending"): 2, ("index", "running"): 1, ("index", "failed"): 1}


async def test_the_counts_by_kind_split_each_state_by_kind_and_leave_done_jobs_out(
        storage: Storage, ids: SequentialIds) -> None:
    queue = storage.job_queue()
    await _enqueue(storage, ids, 2, kind="memory.index")
    await _enqueue(storage, ids, 1, kind="whatsapp.fetch_media")
    [done] = await _enqueue(storage, ids, 1, kind="memory.delete_vectors")
    for claimed in await queue.claim("w1", limit=10, lease_s=LEASE_S, now=TEST_NOW):
        if claimed.id == done.id:
            assert await queue.settle(claimed.done(TEST_NOW), worker_id="w1")
        elif claimed.kind == "whatsapp.fetch_media":
            assert await queue.settle(claimed.released(TEST_NOW), worker_id="w1")

    counts = await queue.counts(TEST_NOW)

    assert counts.by_kind == {("memory.index", "running"): 2, ("whatsapp.fetch_media", "pending"): 1}
    assert (counts.pending, counts.running, counts.failed) == (1, 2, 0)


@pytest.mark.postgres
async def test_concurrent_claimers_never_get_the_same_job(storage: Storage, ids: SequentialIds) -> None:
    if storage.name != "postgresql":
        pytest.skip("many claimers at once are a PostgreSQL deployment; SQLite runs one in-process claimer")
    jobs = await _enqueue(storage, ids, 60)
    queue = storage.job_queue()

    async def claimer(worker_id: str) -> list[UUID]:
        taken: list[UUID] = []
        while claimed := await queue.claim(worker_id, limit=3, lease_s=LEASE_S, now=TEST_NOW):
            taken.extend(job.id for job in claimed)
            await asyncio.sleep(0)
        return taken

    taken = [job_id for batch in await asyncio.gather(*(claimer(f"w{n}") for n in range(8))) for job_id in batch]

    assert sorted(taken) == sorted(job.id for job in jobs)  # each job exactly once
