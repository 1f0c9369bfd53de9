"""The worker's side of the in-memory outbox: the jobs `InMemoryOutbox` committed, claimed under the same rules.

Each call runs without an await inside it, so on one event loop it is as atomic as the SQL claim statement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from memo.adapters.storage.memory import InMemoryStore
from memo.application.ports import JobQueue
from memo.domain.jobs import Job, JobCounts, JobState


class InMemoryJobQueue(JobQueue):
    def __init__(self, store: InMemoryStore) -> None:
        self._jobs = store.jobs
        self._heartbeats = store.heartbeats

    async def claim(self, worker_id: str, *, limit: int, lease_s: float, now: datetime) -> Sequence[Job]:
        due = sorted((job for job in self._jobs.values() if job.due(now)), key=lambda job: (job.run_after, job.id))
        claimed = [job.claimed(worker_id, now, lease_s=lease_s) for job in due[:limit]]
        for job in claimed:
            self._jobs[job.id] = job
        return claimed

    async def settle(self, job: Job, *, worker_id: str) -> bool:
        stored = self._jobs.get(job.id)
        if stored is None or stored.state is not JobState.RUNNING or stored.lease_owner != worker_id:
            return False
        self._jobs[job.id] = job
        return True

    async def get(self, job_id: UUID) -> Job | None:
        return self._jobs.get(job_id)

    async def by_state(self, state: JobState | None = None, *, limit: int = 100) -> Sequence[Job]:
        jobs = sorted((job for job in self._jobs.values() if state is None or job.state is state),
                      key=lambda job: (job.created_at, job.id))
        return jobs[:limit]

    async def retry(self, job_id: UUID, now: datetime) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.FAILED:
            return False
        self._jobs[job_id] = job.retried(now)
        return True

    async def retry_all_failed(self, now: datetime) -> int:
        failed = [job for job in self._jobs.values() if job.state is JobState.FAILED]
        for job in failed:
            self._jobs[job.id] = job.retried(now)
        return len(failed)

    async def counts(self, now: datetime) -> JobCounts:
        jobs = list(self._jobs.values())
        due = [job.run_after for job in jobs if job.state is JobState.PENDING and job.run_after <= now]
        return JobCounts(pending=sum(job.state is JobState.PENDING for job in jobs),
                         running=sum(job.state is JobState.RUNNING for job in jobs),
                         failed=sum(job.state is JobState.FAILED for job in jobs),
                         oldest_due_at=min(due, default=None),
                         last_heartbeat_at=max(self._heartbeats.values(), default=None),
                         by_kind=dict(Counter((job.kind, job.state.value) for job in jobs
                                              if job.state is not JobState.DONE)))

    async def prune_done(self, finished_before: datetime, *, limit: int) -> int:
        finished = [job.id for job in self._jobs.values()
                    if job.state is JobState.DONE and job.updated_at < finished_before][:limit]
        for job_id in finished:
            del self._jobs[job_id]
        return len(finished)

    async def heartbeat(self, worker_id: str, now: datetime) -> None:
        self._heartbeats[worker_id] = max(now, self._heartbeats.get(worker_id, now))
