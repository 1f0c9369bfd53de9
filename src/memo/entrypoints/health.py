"""Health checks of the parts the adapters do not check themselves: each says what backs it."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from uuid import UUID

from memo.application.dto import CheckResult
from memo.application.errors import StorageUnavailable, VectorIndexUnavailable
from memo.application.ports import Clock, HealthCheck, JobQueue, SealedSecrets, SecretBox, VectorIndex
from memo.domain.errors import SecretUnreadable
from memo.domain.retrieval import SearchFilters

PROBE_KEY_ID = "health-probe"


class SigningCheck(HealthCheck):
    """A stored key secret opens with the configured ENCRYPTION_KEY, so signatures can be checked.

    Opening one stored secret (any active key) is what finds a wrong or lost ENCRYPTION_KEY: a fresh probe
    round-trips under any key at all. With no active key yet, the probe is all there is to check. The detail
    names no key id, since /health is unsigned.
    """

    name = "hmac"

    def __init__(self, box: SecretBox, secrets: SealedSecrets, *, accept_v1: bool, timeout_s: float = 2.0) -> None:
        self._box = box
        self._secrets = secrets
        self._backend = "hmac-sha256 v2+v1" if accept_v1 else "hmac-sha256 v2"
        self._timeout_s = timeout_s

    async def check(self) -> CheckResult:
        try:
            async with asyncio.timeout(self._timeout_s):
                stored = await self._secrets.sample()
        except (TimeoutError, StorageUnavailable):
            return self._result("the stored key secrets cannot be read: the database is unavailable")
        try:
            if stored is None:
                probe = os.urandom(16)
                opened = self._box.open(self._box.seal(probe, key_id=PROBE_KEY_ID), key_id=PROBE_KEY_ID)
                return self._result(None if opened == probe else "the secret box does not round-trip")
            key_id, sealed = stored
            self._box.open(sealed, key_id=key_id)
        except SecretUnreadable:
            return self._result("a stored API key secret does not open with ENCRYPTION_KEY or "
                                "ENCRYPTION_KEYS_PREVIOUS (a changed key, or an altered value); see docs/operations.md")
        return self._result(None)

    def _result(self, problem: str | None) -> CheckResult:
        return CheckResult(healthy=problem is None, backend=self._backend, detail=problem)


@dataclass(frozen=True, slots=True)
class FixedCheck(HealthCheck):
    """A part with nothing to touch: in process, or not built yet."""

    name: str
    backend: str
    detail: str
    enabled: bool = False

    async def check(self) -> CheckResult:
        return CheckResult(healthy=True, backend=self.backend, detail=self.detail, enabled=self.enabled)


IN_PROCESS_LIMITS = FixedCheck("redis", "in-process", "nonces and rate limits live in this process; "
                               "set REDIS_URL to share them between instances")


class VectorIndexCheck(HealthCheck):
    """A real query of the index (for an owner no one is, so it reads nothing), under a short timeout.

    It never embeds: the local model loads on the first memory, not on a health probe.
    """

    name = "vectorIndex"

    def __init__(self, index: VectorIndex, *, backend: str, dimensions: int, timeout_s: float = 2.0) -> None:
        self._index = index
        self._backend = backend
        self._probe = [1.0] + [0.0] * (dimensions - 1)
        self._timeout_s = timeout_s

    async def check(self) -> CheckResult:
        started = time.perf_counter()
        detail: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._index.query(NOBODY, self._probe, limit=1, filters=SearchFilters())
        except TimeoutError:
            detail = f"no answer within {self._timeout_s:g} s"
        except (VectorIndexUnavailable, StorageUnavailable) as down:
            detail = down.message
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(healthy=detail is None, backend=self._backend, detail=detail, latency_ms=latency_ms)


NOBODY = UUID(int=0)


class WorkerCheck(HealthCheck):
    """The queue's real state: unhealthy when a due job has waited past `stale_after_s` (no worker keeps up).

    Parked (`failed`) jobs are reported but keep the check healthy: they wait for an operator, not a worker.
    With `seen_within_s` (readiness, where a worker is expected) it is unhealthy too when no worker has written
    its heartbeat for that long. A worker writes it before each batch (at most every 10 s) and every third of a
    lease (20 s) while a job runs, but not between the jobs of a batch: ten jobs of 19 s each leave it unwritten
    for over three minutes, so the window must be longer than that.
    """

    name = "worker"

    def __init__(self, queue: JobQueue, clock: Clock, *, backend: str, stale_after_s: float = 300.0,
                 seen_within_s: float | None = None) -> None:
        self._queue = queue
        self._clock = clock
        self._backend = backend
        self._stale_after_s = stale_after_s
        self._seen_within_s = seen_within_s

    async def check(self) -> CheckResult:
        now = self._clock.now()
        try:
            counts = await self._queue.counts(now)
        except StorageUnavailable:
            return CheckResult(healthy=False, backend=self._backend,
                               detail="the job queue cannot be read: the database is unavailable")
        age = counts.oldest_pending_age_s(now)
        beat = counts.last_heartbeat_at
        figures = {"pending": counts.pending, "running": counts.running, "failed": counts.failed,
                   "oldestPendingAgeS": None if age is None else round(age, 3),
                   "lastHeartbeatAt": None if beat is None else beat.isoformat()}
        problem = None
        if age is not None and age > self._stale_after_s:
            problem = (f"a due job has waited {age:.0f} s: no worker is keeping up "
                       "(is `memo worker` running against this database?)")
        elif self._seen_within_s is not None and (beat is None or
                                                  (now - beat).total_seconds() > self._seen_within_s):
            problem = f"no worker has written its heartbeat in the last {self._seen_within_s:g} s"
        return CheckResult(healthy=problem is None, backend=self._backend, detail=problem, figures=figures)
