"""Health checks of the parts that live in this process or are not built yet: each says what backs it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from memo.application.dto import CheckResult
from memo.application.ports import HealthCheck, SecretBox


class SigningCheck(HealthCheck):
    """The key secrets can be sealed and opened with the configured ENCRYPTION_KEY, so signatures can be checked."""

    name = "hmac"

    def __init__(self, box: SecretBox, *, accept_v1: bool) -> None:
        self._box = box
        self._schemes = "v2+v1" if accept_v1 else "v2"

    async def check(self) -> CheckResult:
        probe = os.urandom(16)
        healthy = self._box.open(self._box.seal(probe)) == probe
        return CheckResult(healthy=healthy, backend=f"hmac-sha256 {self._schemes}",
                           detail=None if healthy else "the secret box does not round-trip")


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
NO_VECTOR_INDEX = FixedCheck("vectorIndex", "none", "semantic indexing is not part of this version yet")
NO_WORKER = FixedCheck("worker", "none", "no background jobs exist in this version yet")
