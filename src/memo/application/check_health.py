"""Run every health check at once, each bounded by a short timeout, so /health never hangs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from memo.application.dto import CheckResult
from memo.application.ports import HealthCheck


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    healthy: bool
    checks: dict[str, CheckResult]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckHealth:
    checks: Sequence[HealthCheck]
    timeout_s: float = 2.0

    async def __call__(self) -> HealthReport:
        results = await asyncio.gather(*(run_check(check, self.timeout_s) for check in self.checks))
        by_name = {check.name: result for check, result in zip(self.checks, results, strict=True)}
        return HealthReport(healthy=all(result.healthy for result in results), checks=by_name)


async def run_check(check: HealthCheck, timeout_s: float) -> CheckResult:
    """The check's result, or an unhealthy one when it raised or did not answer within `timeout_s`."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check.check(), timeout=timeout_s)
    except TimeoutError:
        return CheckResult(healthy=False, backend="unknown", detail=f"no answer within {timeout_s:g} s")
    except Exception as error:  # noqa: BLE001 - a failing dependency is a health result, not a crash
        return CheckResult(healthy=False, backend="unknown", detail=type(error).__name__)
    if result.latency_ms is None:
        result = replace(result, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    return result
