"""Operational routes: unsigned, cheap, and honest about every dependency."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec

from memo.application.check_health import CheckHealth
from memo.application.dto import CheckResult

STARTED = time.monotonic()

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


class OpsController(Controller):
    tags = ["Operations"]  # noqa: RUF012

    @get("/health", operation_id="Health", summary="Liveness and dependency checks (not enveloped)",
         responses={503: ResponseSpec(dict[str, Any], description="a dependency is down")})
    @inject
    async def health(self, check_health: FromDishka[CheckHealth]) -> Response[dict[str, Any]]:
        report = await check_health()
        body = {"status": "ok" if report.healthy else "unhealthy", "version": VERSION,
                "uptime": round(time.monotonic() - STARTED, 3),
                "checks": {name: check_json(result) for name, result in report.checks.items()}}
        return Response(body, status_code=200 if report.healthy else 503, headers={"Cache-Control": "no-store"})
