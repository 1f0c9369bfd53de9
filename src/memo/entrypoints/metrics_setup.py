"""Metrics wiring that needs no web framework: each process's metrics, the decorators at the ports, the folder the
workers of `memo serve --workers N` share, the address allow-list, and `memo worker`'s own scrape port.

prometheus-client picks how values are kept (in memory, or in files of a multiprocess folder) when it is imported,
from PROMETHEUS_MULTIPROC_DIR; the supervisor sets it before it forks, so `prepare_multiprocess_metrics` asks the
library to pick again, and every worker, built after the fork, writes to the shared folder.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from dishka import Provider, Scope, decorate, provide
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, multiprocess, values

from memo.adapters.metrics.ai import MeteredEmbedder, MeteredVectorIndex
from memo.adapters.metrics.messaging import MeteredMessageSender
from memo.adapters.metrics.registry import PrometheusMetrics
from memo.adapters.metrics.security import MeteredAuditLog, MeteredRateLimiter, MeteredRequestAdmission
from memo.application.ports import AuditLog, Embedder, RateLimiter, RequestAdmission, VectorIndex
from memo.application.whatsapp_access import WhatsAppAccess
from memo.entrypoints.settings import Settings

log = logging.getLogger("memo.metrics")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
VALUE_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")  # what the library writes there
NOT_ALLOWED_CODE = "METRICS_NOT_ALLOWED"
NOT_ALLOWED = "Metrics are served only to the addresses in MEMO_METRICS_ALLOW."


def metrics_dir(settings: Settings) -> Path:
    return settings.metrics_dir or settings.data_dir / "metrics"


def prepare_multiprocess_metrics(settings: Settings) -> Path | None:
    """For the supervisor of `memo serve --workers N`, before it forks: an empty folder every worker writes its
    values to, named in PROMETHEUS_MULTIPROC_DIR. Only the library's own files are removed from it (the folder may
    be one the operator chose). None, and nothing done, while MEMO_METRICS is off."""
    if not settings.metrics:
        return None
    folder = metrics_dir(settings).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in VALUE_FILES:
        for stale in folder.glob(pattern):
            stale.unlink(missing_ok=True)
    os.environ[MULTIPROCESS_ENV] = str(folder)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call] # chosen at import: choose again
    return folder


def worker_process_exited(pid: int) -> None:
    """For the supervisor, when a worker has exited: its live gauges (requests in progress) leave the sums; its
    counters stay in them, as counters never go down."""
    if MULTIPROCESS_ENV in os.environ:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def process_metrics() -> PrometheusMetrics:
    """This server process's metrics: summed over the supervisor's folder when it set one."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    return PrometheusMetrics(multiprocess_dir=Path(folder) if folder else None)


def metrics_providers(metrics: PrometheusMetrics | None) -> list[Provider]:
    """What a container adds while MEMO_METRICS is on: nothing at all while it is off."""
    return [] if metrics is None else [MetricsProvider(metrics)]


class MetricsProvider(Provider):
    """The process's metrics, and the decorators that count at the ports, whatever adapter a profile (or a test)
    put behind them. Given after every other provider, so overrides are decorated too."""

    scope = Scope.APP

    def __init__(self, metrics: PrometheusMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    @provide
    def metrics(self) -> PrometheusMetrics:
        return self._metrics

    @decorate
    def audit(self, inner: AuditLog, metrics: PrometheusMetrics) -> AuditLog:
        return MeteredAuditLog(inner, metrics)

    @decorate
    def limiter(self, inner: RateLimiter, metrics: PrometheusMetrics) -> RateLimiter:
        return MeteredRateLimiter(inner, metrics)

    @decorate
    def admission(self, inner: RequestAdmission, metrics: PrometheusMetrics) -> RequestAdmission:
        return MeteredRequestAdmission(inner, metrics)

    @decorate
    def embedder(self, inner: Embedder, metrics: PrometheusMetrics) -> Embedder:
        return MeteredEmbedder(inner, metrics)

    @decorate
    def vector_index(self, inner: VectorIndex, metrics: PrometheusMetrics) -> VectorIndex:
        return MeteredVectorIndex(inner, metrics)

    @decorate
    def whatsapp(self, inner: WhatsAppAccess, metrics: PrometheusMetrics) -> WhatsAppAccess:
        if inner.sender is None:
            return inner
        return replace(inner, sender=MeteredMessageSender(inner.sender, metrics))


class MetricsAllowList:
    """The client addresses metrics are served to (MEMO_METRICS_ALLOW); anything that is no address is refused."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)

    def allows(self, host: str | None) -> bool:
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.1.2.3 from a dual-stack socket is 10.1.2.3
        return any(address in network for network in self._networks)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_: object) -> None:  # a scrape every few seconds is no news for the log
        return


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _refusal(start_response: StartResponse, status: str, error: str, code: str) -> list[bytes]:
    body = json.dumps({"success": False, "error": error, "code": code}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _scrape_app(metrics: PrometheusMetrics, allow: MetricsAllowList) -> Callable[..., list[bytes]]:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if not allow.allows(environ.get("REMOTE_ADDR")):
            return _refusal(start_response, "403 Forbidden", NOT_ALLOWED, NOT_ALLOWED_CODE)
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            return _refusal(start_response, "404 Not Found", "No such route.", "NOT_FOUND")
        body = metrics.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]

    return app


def serve_worker_metrics(settings: Settings, metrics: PrometheusMetrics) -> Callable[[], None] | None:
    """`memo worker`'s metrics on HOST:MEMO_WORKER_METRICS_PORT, in a thread, to MEMO_METRICS_ALLOW only; the
    function that stops it, or None when the port is 0."""
    if not settings.worker_metrics_port:
        return None
    server_class = _Server6 if ":" in settings.host else _Server
    server = make_server(settings.host, settings.worker_metrics_port,
                         _scrape_app(metrics, MetricsAllowList(settings.metrics_allow)),
                         server_class=server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="worker metrics", daemon=True)
    thread.start()
    log.info("worker metrics on http://%s:%d/metrics", settings.host, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
