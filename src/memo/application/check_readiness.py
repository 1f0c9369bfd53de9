"""Whether this instance should be sent traffic: the database answers, its schema is the one this code expects,
and the worker this process runs, if it runs one, is seen working.

For orchestrators and load balancers, so every part is bounded by a short timeout and the answer comes within one
probe's deadline. Separate `memo worker` processes are no part of an API instance's readiness: their lagging
delays indexing, and taking every API instance out of rotation for it would turn that delay into an outage
(/health reports them).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from memo.application.check_health import HealthReport, run_check
from memo.application.dto import CheckResult
from memo.application.errors import StorageUnavailable
from memo.application.ports import HealthCheck, SchemaVersion

NO_WORKER = CheckResult(healthy=True, backend="none", enabled=False,
                        detail="this process runs no worker: `memo worker` processes run apart (see /health)")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReadiness:
    database: HealthCheck
    schema: SchemaVersion
    worker: HealthCheck | None = None  # the worker running in this process; None when it runs none
    timeout_s: float = 0.8  # per part, all at once: under the 1 s a probe waits by default

    async def __call__(self) -> HealthReport:
        database, migrations, worker = await asyncio.gather(
            run_check(self.database, self.timeout_s), self._migrations(),
            run_check(self.worker, self.timeout_s) if self.worker is not None else _constant(NO_WORKER))
        checks = {"database": database, "migrations": migrations, "worker": worker}
        return HealthReport(healthy=all(result.healthy for result in checks.values()), checks=checks)

    async def _migrations(self) -> CheckResult:
        expected = self.schema.head()
        started = time.perf_counter()
        current: str | None = None
        problem: str | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                current = await self.schema.current()
        except TimeoutError:
            problem = f"no answer within {self.timeout_s:g} s"
        except StorageUnavailable:
            problem = "the schema revision cannot be read: the database is unavailable"
        except Exception as error:  # noqa: BLE001 - an unreadable revision is a readiness result, not a crash
            problem = f"the schema revision cannot be read ({type(error).__name__})"
        else:
            problem = _mismatch(current, expected)
        return CheckResult(healthy=problem is None, backend=self.schema.backend, detail=problem,
                           latency_ms=round((time.perf_counter() - started) * 1000, 2),
                           figures={"current": current, "expected": expected})


def _mismatch(current: str | None, expected: str) -> str | None:
    if current == expected:
        return None
    if current is None:
        return "the database has no schema yet: run `memo db upgrade`"
    return (f"the database is at revision {current}, this code expects {expected}: run `memo db upgrade` "
            "(or, if a newer release migrated it, run that release)")


async def _constant(result: CheckResult) -> CheckResult:
    return result
