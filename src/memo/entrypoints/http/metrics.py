"""GET /metrics, and the ASGI layer that counts every request; both exist only while MEMO_METRICS is on.

The layer wraps the whole app, so 404s outside any route and the answers of the outer layers are counted too. It
labels a request by the template of the route it matched, which Litestar's router writes into the very scope the
outer layers hold (`scope["path_template"]`); a request that matched no route is `unmatched`, never its path.

The route is unsigned and served only to client addresses in MEMO_METRICS_ALLOW (the address as every other route
sees it); any other gets `403 METRICS_NOT_ALLOWED` in the error envelope.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any, Protocol

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, Response, get
from litestar.enums import ScopeType
from litestar.openapi import ResponseSpec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from memo.application.errors import Forbidden, StorageUnavailable
from memo.application.ports import Clock, JobQueue
from memo.application.receive_whatsapp_notification import ReceivedNotification
from memo.domain.jobs import JobCounts
from memo.entrypoints.http.guards import client_ip
from memo.entrypoints.http.schemas import ErrorBody
from memo.entrypoints.metrics_setup import NOT_ALLOWED, NOT_ALLOWED_CODE, MetricsAllowList

METRICS_STATE = "metrics"
UNMATCHED = "unmatched"
EXPOSITION = "text/plain; version=0.0.4"  # Litestar adds the charset
QUEUE_READ_S = 2.0  # a slow database delays the queue's figures, never the scrape


class MetricsRecorder(Protocol):
    """What the HTTP side hands to the metrics adapter, and reads back from it."""

    def request_started(self) -> None: ...
    def request_finished(self, *, method: str, route: str, status: int, seconds: float) -> None: ...
    def webhook_received(self, *, stored: int, duplicates: int) -> None: ...
    def exposition(self, jobs: JobCounts | None = None, *, now: datetime | None = None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MetricsEndpoint:
    recorder: MetricsRecorder
    allow: MetricsAllowList


class MetricsNotAllowed(Forbidden):
    code = NOT_ALLOWED_CODE

    def __init__(self) -> None:
        super().__init__(NOT_ALLOWED)


class RequestMetrics:
    """Counts and times each HTTP request by method, route template and status (0: no answer was sent)."""

    def __init__(self, app: ASGIApp, recorder: MetricsRecorder) -> None:
        self._app, self._recorder = app, recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = perf_counter()
        self._recorder.request_started()
        try:
            await self._app(scope, receive, send_status)
        finally:
            self._recorder.request_finished(method=scope["method"], route=scope.get("path_template") or UNMATCHED,
                                            status=status, seconds=perf_counter() - began)


def count_webhook(request: Request[Any, Any, Any], received: ReceivedNotification) -> None:
    endpoint: MetricsEndpoint | None = request.app.state.get(METRICS_STATE)
    if endpoint is not None:
        endpoint.recorder.webhook_received(stored=received.stored, duplicates=received.duplicates)


async def _queue_counts(queue: JobQueue, now: datetime) -> JobCounts | None:
    try:
        return await asyncio.wait_for(queue.counts(now), QUEUE_READ_S)
    except (StorageUnavailable, TimeoutError):
        return None


class MetricsController(Controller):
    tags = ["Operations"]  # noqa: RUF012

    @get("/metrics", operation_id="Metrics", media_type=EXPOSITION, summary="Prometheus metrics (unsigned)",
         description="The Prometheus text format (version 0.0.4) of every metric in docs/metrics.md: requests, "
                     "authentication failures, rate-limit refusals, WhatsApp webhooks and sends, jobs, embedding "
                     "and vector index latency. Not signed: served only to client addresses in MEMO_METRICS_ALLOW "
                     "(loopback and private ranges by default). Under `memo serve --workers N` any worker answers "
                     "with the sums of all of them.",
         responses={403: ResponseSpec(ErrorBody, description="METRICS_NOT_ALLOWED: the client address is not in "
                                                             "MEMO_METRICS_ALLOW")})
    @inject
    async def metrics(self, request: Request[Any, Any, Any], queue: FromDishka[JobQueue],
                      clock: FromDishka[Clock]) -> Response[bytes]:
        endpoint: MetricsEndpoint = request.app.state[METRICS_STATE]
        if not endpoint.allow.allows(client_ip(request)):
            raise MetricsNotAllowed
        now = clock.now()
        text = endpoint.recorder.exposition(await _queue_counts(queue, now), now=now)
        return Response(text, media_type=EXPOSITION, headers={"Cache-Control": "no-store"})
