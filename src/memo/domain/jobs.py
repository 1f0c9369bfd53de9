"""Background jobs: the outbox rows a worker claims, and the rules for their lease, retries and parking.

A job is written in the same transaction as the data that causes it and changes state only through these
methods, so every store (SQL or in-memory) applies the same rules. `attempts` counts claims, not failures: a
worker killed mid-job has used an attempt, so a job that crashes its worker cannot be retried for ever.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self
from uuid import UUID

MAX_ERROR_CHARS = 2_000
MAX_KIND_CHARS = 64  # the column's width
MAX_WORKER_ID_CHARS = 128  # the lease owner column's width
DEFAULT_MAX_ATTEMPTS = 8

Jitter = Callable[[float], float]
"""Given an upper bound in seconds, a delay between 0 and it: injected so the backoff is testable."""


def full_jitter(bound_s: float) -> float:
    """Uniform in [0, bound]: spreads retries of jobs that failed together (no cryptographic need)."""
    return random.uniform(0, bound_s)  # noqa: S311


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # parked after its last attempt: kept for an operator to read and retry, never deleted


def next_run_after(attempts: int, now: datetime, *, base_s: float = 2.0, cap_s: float = 3600.0,
                   jitter: Jitter = full_jitter) -> datetime:
    """When to try again after `attempts` attempts: exponential backoff with full jitter, capped at `cap_s`."""
    bound = min(cap_s, base_s * 2.0 ** max(attempts - 1, 0))
    return now + timedelta(seconds=min(max(jitter(bound), 0.0), bound))


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: UUID
    kind: str
    owner_id: UUID | None
    payload: Mapping[str, Any] = field(default_factory=dict)  # JSON-able: it is stored as a JSON document
    state: JobState = JobState.PENDING
    attempts: int = 0
    run_after: datetime
    last_error: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(cls, *, id: UUID, kind: str, now: datetime, owner_id: UUID | None = None,  # noqa: A002
            payload: Mapping[str, Any] | None = None, run_after: datetime | None = None) -> Self:
        if not 0 < len(kind) <= MAX_KIND_CHARS:
            msg = f"a job kind has 1 to {MAX_KIND_CHARS} characters"
            raise ValueError(msg)
        return cls(id=id, kind=kind, owner_id=owner_id, payload=dict(payload or {}),
                   run_after=now if run_after is None else run_after, created_at=now, updated_at=now)

    def due(self, now: datetime) -> bool:
        """Claimable: pending and due, or running on a lease that has run out (its worker is gone)."""
        if self.state is JobState.PENDING:
            return self.run_after <= now
        return (self.state is JobState.RUNNING and self.lease_expires_at is not None
                and self.lease_expires_at < now)

    def claimed(self, worker_id: str, now: datetime, *, lease_s: float) -> Self:
        return replace(self, state=JobState.RUNNING, attempts=self.attempts + 1, lease_owner=worker_id,
                       lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)

    def lease_extended(self, now: datetime, *, lease_s: float) -> Self:
        return replace(self, lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)

    def done(self, now: datetime) -> Self:
        return replace(self, state=JobState.DONE, lease_owner=None, lease_expires_at=None, updated_at=now)

    def released(self, now: datetime) -> Self:
        """Back to pending, unstarted: the claim gave its attempt back, so a stopping worker costs the job nothing."""
        return replace(self, state=JobState.PENDING, attempts=max(self.attempts - 1, 0), lease_owner=None,
                       lease_expires_at=None, updated_at=now)

    def interrupted(self, now: datetime) -> Self:
        """Back to pending at once, its attempt spent: its worker was cut off mid-run (a stop past its grace), and a
        job that always outlasts a stop must still run out of attempts."""
        return replace(self, state=JobState.PENDING, lease_owner=None, lease_expires_at=None, run_after=now,
                       updated_at=now)

    def failed_attempt(self, error: str, now: datetime, *, max_attempts: int, jitter: Jitter = full_jitter) -> Self:
        """Pending again after a backoff, or parked as failed once `max_attempts` are used; the error is kept."""
        error = error[:MAX_ERROR_CHARS]
        if self.attempts >= max_attempts:
            return replace(self, state=JobState.FAILED, last_error=error, lease_owner=None, lease_expires_at=None,
                           updated_at=now)
        return replace(self, state=JobState.PENDING, last_error=error, lease_owner=None, lease_expires_at=None,
                       run_after=next_run_after(self.attempts, now, jitter=jitter), updated_at=now)

    def retried(self, now: datetime) -> Self:
        """An operator's retry of a parked job: every attempt again, at once; the last error stays until replaced."""
        return replace(self, state=JobState.PENDING, attempts=0, run_after=now, updated_at=now)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCounts:
    """The queue's figures for `/health` and operators."""

    pending: int = 0
    running: int = 0
    failed: int = 0
    oldest_due_at: datetime | None = None  # run_after of the longest-waiting due pending job: how far workers lag
    last_heartbeat_at: datetime | None = None  # of any worker
    by_kind: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (kind, state) of pending, running, failed

    def oldest_pending_age_s(self, now: datetime) -> float | None:
        return None if self.oldest_due_at is None else max((now - self.oldest_due_at).total_seconds(), 0.0)
