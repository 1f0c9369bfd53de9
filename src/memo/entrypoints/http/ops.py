"""Operational routes: unsigned, cheap, and honest about every dependency.

Three health routes, from cheapest to deepest: `/health/live` (the process answers: for a liveness probe),
`/health/ready` (this instance can serve: for a readiness probe or a load balancer), `/health` (every dependency,
with figures: for people and monitoring). None is enveloped; each says `Cache-Control: no-store`.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from memo.application.check_health import CheckHealth, HealthReport
from memo.application.check_readiness import CheckReadiness
from memo.application.dto import CheckResult

STARTED = time.monotonic()
NO_STORE = {"Cache-Control": "no-store"}

try:
    VERSION = version("memo")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    VERSION = "0.0.0"


def check_json(result: CheckResult) -> dict[str, Any]:
    status = "ok" if result.healthy else "error"
    if result.healthy and not result.enabled:
        status = "disabled"
    body: dict[str, Any] = {"status": status, "backend": result.backend}
    if result.detail:
        body["detail"] = result.detail
    if result.latency_ms is not None:
        body["latencyMs"] = result.latency_ms
    body.update(result.figures)
    return body


def checks_json(report: HealthReport) -> dict[str, dict[str, Any]]:
    return {name: check_json(result) for name, result in report.checks.items()}


class OpsController(Controller):
    tags = ["Operations"]  # noqa: RUF012

    @get("/health", operation_id="Health", summary="Liveness and dependency checks (not enveloped)",
         responses={503: ResponseSpec(dict[str, Any], description="a dependency is down")})
    @inject
    async def health(self, check_health: FromDishka[CheckHealth]) -> Response[dict[str, Any]]:
        report = await check_health()
        body = {"status": "ok" if report.healthy else "unhealthy", "version": VERSION,
                "uptime": round(time.monotonic() - STARTED, 3),
                "checks": checks_json(report)}
        return Response(body, status_code=200 if report.healthy else 503, headers=NO_STORE)

    @get("/health/live", operation_id="Liveness", summary="The process answers (touches no dependency)",
         description="For a liveness probe: `200 {\"status\": \"ok\"}` whenever the server's event loop runs. "
                     "It reads nothing, so a database or Redis outage never gets the process restarted.",
         responses={200: ResponseSpec(dict[str, str], description="the process is alive",
                                      examples=[Example(value={"status": "ok"})])})
    async def live(self) -> Response[dict[str, str]]:
        return Response({"status": "ok"}, headers=NO_STORE)

    @get("/health/ready", operation_id="Readiness", summary="This instance can serve (not enveloped)",
         description="For a readiness probe or a load balancer: the database answers, its schema is at the "
                     "revision this code expects, and the worker this process runs (if any) is seen working. "
                     "Each part is bounded by 0.8 s. `{status, checks: {database, migrations, worker}}`, each "
                     "check `{status: ok|error|disabled, backend, detail?, latencyMs?, ...}`.",
         responses={
             200: ResponseSpec(dict[str, Any], description="ready: send it traffic", examples=[Example(value={
                 "status": "ok", "checks": {
                     "database": {"status": "ok", "backend": "postgresql", "latencyMs": 0.9},
                     "migrations": {"status": "ok", "backend": "alembic", "latencyMs": 1.2,
                                    "current": "0011", "expected": "0011"},
                     "worker": {"status": "disabled", "backend": "none",
                                "detail": "this process runs no worker: `memo worker` processes run apart "
                                          "(see /health)"}}})]),
             503: ResponseSpec(dict[str, Any], description="not ready: the failing checks say why",
                               examples=[Example(value={"status": "unready", "checks": {
                                   "database": {"status": "error", "backend": "postgresql",
                                                "detail": "no answer within 0.8 s"}}})]),
         })
    @inject
    async def ready(self, check_readiness: FromDishka[CheckReadiness]) -> Response[dict[str, Any]]:
        report = await check_readiness()
        body = {"status": "ok" if report.healthy else "unready", "checks": checks_json(report)}
        return Response(body, status_code=200 if report.healthy else 503, headers=NO_STORE)
