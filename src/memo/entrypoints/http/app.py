"""create_app: the Litestar application over a dishka container chosen by profile."""

from __future__ import annotations

import gc
import logging

from dishka import Provider
from dishka.integrations.litestar import LitestarProvider, setup_dishka
from litestar import Litestar

from memo.entrypoints.container import make_container
from memo.entrypoints.http.body import BODY_EXCEPTION_HANDLERS, BodyBudget
from memo.entrypoints.http.context import RequestContext
from memo.entrypoints.http.cors import Cors
from memo.entrypoints.http.errors import EXCEPTION_HANDLERS
from memo.entrypoints.http.export import ExportController
from memo.entrypoints.http.guards import BODY_BUDGET_STATE, keep_authenticate_request
from memo.entrypoints.http.key_use_writer import KeyUseWriter
from memo.entrypoints.http.memories import MemoryController
from memo.entrypoints.http.metrics import METRICS_STATE, MetricsController, MetricsEndpoint, RequestMetrics
from memo.entrypoints.http.openapi import openapi_config
from memo.entrypoints.http.ops import OpsController
from memo.entrypoints.http.provider import HttpProvider
from memo.entrypoints.http.search import SearchController
from memo.entrypoints.http.whatsapp import WhatsAppController
from memo.entrypoints.http.whatsapp_messaging import WhatsAppMessagingController
from memo.entrypoints.local_secrets import with_local_secrets
from memo.entrypoints.metrics_setup import MetricsAllowList, metrics_providers, process_metrics
from memo.entrypoints.settings import Environment, Settings
from memo.entrypoints.web.routes import page_router
from memo.entrypoints.worker import InProcessWorker

log = logging.getLogger("memo")


def freeze_startup_objects() -> None:
    """Move everything alive at start (modules, routes, compiled statements) out of the collector's sight.

    A full collection otherwise walks those hundreds of thousands of objects every few seconds under load,
    a pause of about 100 ms that lands in the p99 of whatever requests are in flight.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *overrides: Provider) -> Litestar:
    settings = with_local_secrets(settings or Settings.from_env())
    if settings.accept_v1_signatures:
        log.warning("v1 signatures are accepted (MEMO_ACCEPT_V1_SIGNATURES=true): they bind neither method nor "
                    "path; use it only while migrating clients to v2")
    metrics = process_metrics() if settings.metrics else None
    container = make_container(settings, LitestarProvider(), HttpProvider(), *overrides, *metrics_providers(metrics))
    worker = InProcessWorker(container, settings, metrics) if settings.runs_inprocess_worker else None
    key_uses = KeyUseWriter(container)
    app = Litestar(
        route_handlers=[MemoryController, SearchController, OpsController, WhatsAppController,
                        WhatsAppMessagingController, ExportController, page_router(),
                        *([MetricsController] if metrics else [])],
        exception_handlers={**EXCEPTION_HANDLERS, **BODY_EXCEPTION_HANDLERS},  # type: ignore[dict-item]
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        on_startup=[freeze_startup_objects, keep_authenticate_request, key_uses.start,
                    *([worker.start] if worker else [])],
        on_shutdown=[*([worker.stop] if worker else []), key_uses.stop, container.close],
        logging_config=None,
    )
    app.state[BODY_BUDGET_STATE] = BodyBudget(settings.unauthenticated_body_budget_bytes)
    setup_dishka(container, app)
    handler = Cors(app.asgi_handler, settings.cors_origins) if settings.cors_origins else app.asgi_handler
    app.asgi_handler = RequestContext(handler, production=settings.env is Environment.PRODUCTION,
                                      body_timeout_s=settings.body_timeout_s)
    if metrics is not None:  # outermost, so the outer layers' own answers (408, a last-resort 500) are counted
        app.state[METRICS_STATE] = MetricsEndpoint(metrics, MetricsAllowList(settings.metrics_allow))
        app.asgi_handler = RequestMetrics(app.asgi_handler, metrics)
    return app
