"""/health's worker check reports the queue's real figures and fails when due jobs wait too long."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from memo.adapters.storage.memory import InMemoryStore
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application.errors import StorageUnavailable
from memo.domain.jobs import Job, JobCounts
from memo.entrypoints.health import WorkerCheck


def _check(store: InMemoryStore, clock: FixedClock) -> WorkerCheck:
    return WorkerCheck(InMemoryJobQueue(store), clock, backend="in-memory", stale_after_s=300)


async def test_an_idle_queue_is_healthy_and_says_no_worker_has_beaten_yet() -> None:
    result = await _check(InMemoryStore(), FixedClock()).check()

    assert result.healthy
    assert result.figures == {"pending": 0, "running": 0, "failed": 0, "oldestPendingAgeS": None,
                              "lastHeartbeatAt": None}


async def test_the_figures_name_the_pending_jobs_their_age_and_the_last_heartbeat() -> None:
    store, clock = InMemoryStore(), FixedClock()
    store.jobs[UUID(int=1)] = Job.new(id=UUID(int=1), kind="note", now=TEST_NOW)
    store.heartbeats["w1"] = TEST_NOW
    clock.advance(seconds=42)

    result = await _check(store, clock).check()

    assert result.healthy
    assert result.figures["pending"] == 1
    assert result.figures["oldestPendingAgeS"] == 42
    assert result.figures["lastHeartbeatAt"] == TEST_NOW.isoformat()


async def test_a_due_job_waiting_past_the_limit_makes_the_check_unhealthy() -> None:
    store, clock = InMemoryStore(), FixedClock()
    store.jobs[UUID(int=1)] = Job.new(id=UUID(int=1), kind="note", now=TEST_NOW)
    clock.advance(seconds=301)

    result = await _check(store, clock).check()

    assert not result.healthy
    assert result.detail is not None
    assert "no worker is keeping up" in result.detail


async def test_an_unreadable_queue_is_unhealthy() -> None:
    class Down(InMemoryJobQueue):
        async def counts(self, now: object) -> JobCounts:  # type: ignore[override]
            raise StorageUnavailable

    result = await WorkerCheck(Down(InMemoryStore()), FixedClock(), backend="x").check()

    assert not result.healthy
    assert result.detail == "the job queue cannot be read: the database is unavailable"


async def test_a_job_backing_off_is_not_counted_as_waiting() -> None:
    store, clock = InMemoryStore(), FixedClock()
    store.jobs[UUID(int=1)] = Job.new(id=UUID(int=1), kind="note", now=TEST_NOW,
                                      run_after=TEST_NOW + timedelta(hours=1))
    clock.advance(minutes=30)

    result = await _check(store, clock).check()

    assert result.healthy
    assert (result.figures["pending"], result.figures["oldestPendingAgeS"]) == (1, None)
