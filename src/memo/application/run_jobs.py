"""The worker loop: claim due jobs, run each through the handler registered for its kind, record the outcome.

Handlers are registered by kind in one mapping, built by the entrypoint (which opens a container scope, and so a
unit of work, per job): new kinds of work are new entries, never edits here. A handler that raises, and a kind
with no handler, are failed attempts: the job backs off and is parked as failed after its last attempt.

Stopping (`stop` set, as SIGTERM does) finishes the job in hand, gives back the jobs claimed but not started
(they keep their attempt), and returns; a worker cancelled mid-job (its stop's grace ran out) gives the job in hand
back at once with its attempt spent, and the unstarted ones as a stop does, so none waits for its lease to run out.
Between the jobs of a batch the worker writes its heartbeat (at most once per `heartbeat_every_s`). While a job
runs its lease is extended every third of the lease, so a long job keeps it, and a worker that dies stops extending
it and the job is claimed again once it runs out.
Once an hour a worker deletes the done jobs older than a week, so the outbox does not grow with every write
ever made; failed jobs are never deleted. What each claimed job came to is handed to `observe` (the entrypoint
counts it in metrics); an observer that raises is logged, and the loop goes on. A job parked as failed is a
security audit event too (`JOB_PARKED kind id`), so the operator's audit stream shows every job given up on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from memo.application.dto import SecurityEvent
from memo.application.errors import StorageUnavailable
from memo.application.ports import AuditLog, Clock, JobQueue
from memo.domain.jobs import DEFAULT_MAX_ATTEMPTS, Jitter, Job, JobState, full_jitter

logger = logging.getLogger(__name__)
LOCAL = "local"  # a job has no client address or path

JobHandler = Callable[[Job], Awaitable[None]]
JobHandlers = Mapping[str, JobHandler]


class JobOutcome(StrEnum):
    DONE = "done"
    RETRYING = "retrying"  # a failed attempt: pending again after a backoff
    FAILED = "failed"  # parked after its last attempt
    LOST = "lost"  # its lease went to another worker first: the outcome here was dropped


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRun:
    """What one claimed job came to."""

    kind: str
    outcome: JobOutcome
    attempts: int
    waited_s: float  # from when it was due to when this worker took it up
    ran_s: float | None  # how long its handler ran; None when it was not run (no handler, out of attempts)

    @property
    def finished(self) -> bool:
        """Done or parked: its attempts are final."""
        return self.outcome in {JobOutcome.DONE, JobOutcome.FAILED}


JobObserver = Callable[[JobRun], None]


def unobserved(_run: JobRun) -> None:
    return None


def _outcome_of(settled: Job) -> JobOutcome:
    if settled.state is JobState.DONE:
        return JobOutcome.DONE
    return JobOutcome.FAILED if settled.state is JobState.FAILED else JobOutcome.RETRYING


def describe(error: BaseException) -> str:
    """The text kept as the job's last error: the type, so an empty message still says something."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@dataclass(kw_only=True)
class RunJobs:
    queue: JobQueue
    handlers: JobHandlers
    clock: Clock
    worker_id: str
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    batch_size: int = 10
    lease_s: float = 60.0
    idle_s: float = 1.0  # the pause when nothing was due, or storage was unavailable
    heartbeat_every_s: float = 10.0  # an idle loop polls every `idle_s`; it need not write its heartbeat as often
    keep_done_s: float = 7 * 86_400.0  # done jobs are deleted after this; failed ones wait for an operator
    prune_every_s: float = 3_600.0
    prune_batch: int = 1_000
    jitter: Jitter = full_jitter
    observe: JobObserver = unobserved
    audit: AuditLog | None = None  # told of every job parked as failed
    _beaten_at: datetime | None = field(default=None, init=False, repr=False)
    _pruned_at: datetime | None = field(default=None, init=False, repr=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: beat, claim a batch, run it; pause when there was nothing to do."""
        while not stop.is_set():
            try:
                await self._beat()
                ran = await self.run_batch(stop)
            except StorageUnavailable:
                logger.warning("job storage unavailable; worker %s retries shortly", self.worker_id)
                ran = 0
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_s)

    async def run_batch(self, stop: asyncio.Event | None = None) -> int:
        """Claim up to `batch_size` due jobs and run them one by one; the number claimed."""
        claimed = await self.queue.claim(self.worker_id, limit=self.batch_size, lease_s=self.lease_s,
                                         now=self.clock.now())
        for index, job in enumerate(claimed):
            if stop is not None and stop.is_set():
                await self._release(claimed[index:])
                break
            try:
                await self.run_one(job)
            except asyncio.CancelledError:  # cut off: give the jobs back now, not when their leases run out
                await asyncio.shield(self._give_back(job, claimed[index + 1:]))
                raise
            if index + 1 < len(claimed):
                await self._beat()  # a long batch still shows this worker alive
        return len(claimed)

    async def run_one(self, job: Job) -> None:
        """Run one claimed job and record done or a failed attempt, unless its lease went to another worker."""
        handler = self.handlers.get(job.kind)
        error: str | None = None
        taken_at, ran_s = self.clock.now(), None
        if job.attempts > self.max_attempts:  # every earlier claim ended with its worker gone: never run it again
            error = (f"the worker running it stopped before it finished, {job.attempts - 1} times; "
                     f"last error: {job.last_error or 'none'}")
        elif handler is None:
            error = f"no handler is registered for job kind {job.kind!r}"
        else:
            keeper = asyncio.create_task(self._keep_lease(job))
            started = time.perf_counter()
            try:
                await handler(job)
            except Exception as raised:  # noqa: BLE001 - any failure of a handler is the job's, never the worker's
                error = describe(raised)
                logger.warning("job %s (%s) failed on attempt %d: %s", job.id, job.kind, job.attempts, error)
            finally:
                ran_s = time.perf_counter() - started
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        now = self.clock.now()
        outcome = job.done(now) if error is None else job.failed_attempt(
            error, now, max_attempts=self.max_attempts, jitter=self.jitter)
        kept = await self.queue.settle(outcome, worker_id=self.worker_id)
        if not kept:
            logger.warning("job %s lost its lease before it finished; its outcome here is dropped", job.id)
        elif outcome.state is JobState.FAILED and self.audit is not None:  # parked: an operator must look at it
            self.audit.security_event(SecurityEvent(reason=f"JOB_PARKED {job.kind} {job.id}", key_id=None,
                                                    client_ip=LOCAL, path=LOCAL, owner_id=job.owner_id))
        self._report(JobRun(kind=job.kind, outcome=_outcome_of(outcome) if kept else JobOutcome.LOST,
                            attempts=job.attempts, waited_s=max((taken_at - job.run_after).total_seconds(), 0.0),
                            ran_s=ran_s))

    def _report(self, run: JobRun) -> None:
        try:
            self.observe(run)
        except Exception:
            logger.exception("the job observer failed on a %s job", run.kind)

    async def _beat(self) -> None:
        now = self.clock.now()
        if self._beaten_at is None or (now - self._beaten_at).total_seconds() >= self.heartbeat_every_s:
            await self.queue.heartbeat(self.worker_id, now)
            self._beaten_at = now
        if self._pruned_at is None or (now - self._pruned_at).total_seconds() >= self.prune_every_s:
            self._pruned_at = now
            await self.queue.prune_done(now - timedelta(seconds=self.keep_done_s), limit=self.prune_batch)

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            now = self.clock.now()
            try:
                kept = await self.queue.settle(job.lease_extended(now, lease_s=self.lease_s),
                                               worker_id=self.worker_id)
                await self.queue.heartbeat(self.worker_id, now)
            except StorageUnavailable:
                continue  # the lease may still hold; try again at the next beat
            if not kept:
                logger.warning("job %s lost its lease while running", job.id)
                return

    async def _give_back(self, in_hand: Job, unstarted: Sequence[Job]) -> None:
        now = self.clock.now()
        try:
            await self.queue.settle(in_hand.interrupted(now), worker_id=self.worker_id)
            await self._release(unstarted)
        except StorageUnavailable:
            logger.warning("worker %s stopped with jobs in hand and storage unavailable; their leases will run out",
                           self.worker_id)

    async def _release(self, jobs: Sequence[Job]) -> None:
        now = self.clock.now()
        for job in jobs:
            await self.queue.settle(job.released(now), worker_id=self.worker_id)
