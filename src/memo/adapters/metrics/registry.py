"""PrometheusMetrics: every metric one Memo process keeps, and the text a scrape reads.

A process keeps its own registry. Under `memo serve --workers N` prometheus-client's multiprocess mode is on
(PROMETHEUS_MULTIPROC_DIR was set before any value existed): each worker writes its values to files of its own in
that folder, and a scrape of any worker reads the files of all of them, so the figures are the server's whichever
worker answers. The jobs by state are no process's figures at all: they are read from the queue at scrape time.

Objects are built per app (or per worker) on a registry of their own, so many apps in one test process never
meet; no label is ever taken from a request as sent (memo.adapters.metrics.labels bounds them all).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from memo.adapters.metrics.labels import AUTH_FAILURE_CODES, code_label, kind_label, limit_label, method_label
from memo.application.run_jobs import JobRun
from memo.domain.jobs import JobCounts

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
WAIT_BUCKETS = (0.1, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21_600.0, 86_400.0)
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50, 100)


class PrometheusMetrics:
    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call] # multiprocess mode has no `_created` series
        self.multiprocess_dir = multiprocess_dir
        self.registry = registry = CollectorRegistry()
        if multiprocess_dir is None:  # the process's own CPU and memory; one process's figures mean nothing summed
            ProcessCollector(registry=registry)
        self.http_requests = Counter("memo_http_requests", "HTTP requests answered, by method, route template and "
                                     "status", ["method", "route", "status"], registry=registry)
        self.http_duration = Histogram("memo_http_request_duration_seconds", "Time to answer an HTTP request, by "
                                       "method and route template", ["method", "route"], buckets=REQUEST_BUCKETS,
                                       registry=registry)
        self.http_in_progress = Gauge("memo_http_requests_in_progress", "HTTP requests being answered",
                                      multiprocess_mode="livesum", registry=registry)
        self.security_events = Counter("memo_security_events", "Security audit events (authentication failures, "
                                       "keys issued and revoked, webhook items skipped...), by code", ["code"],
                                       registry=registry)
        self.auth_failures = Counter("memo_auth_failures", "Requests refused for their credentials (signature, "
                                     "key, timestamp, nonce, webhook signature), by code", ["code"], registry=registry)
        self.rate_limit_refusals = Counter("memo_rate_limit_refusals", "Requests refused by a rate limit, by limit",
                                           ["limit"], registry=registry)
        self.webhook_notifications = Counter("memo_whatsapp_notifications", "WhatsApp webhook notifications "
                                             "verified and stored", registry=registry)
        self.webhook_messages = Counter("memo_whatsapp_messages_received", "Messages in WhatsApp notifications: "
                                        "stored, or dropped as a duplicate", ["outcome"], registry=registry)
        self.whatsapp_sends = Counter("memo_whatsapp_sends", "WhatsApp sends through the Cloud API, by outcome (ok "
                                      "or the error code)", ["outcome"], registry=registry)
        self.jobs_finished = Counter("memo_jobs_finished", "Job runs by kind and outcome: done, retrying, failed "
                                     "(parked), lost (the lease went to another worker)", ["kind", "outcome"],
                                     registry=registry)
        self.job_duration = Histogram("memo_job_duration_seconds", "Time a job's handler ran, by kind", ["kind"],
                                      buckets=JOB_BUCKETS, registry=registry)
        self.job_wait = Histogram("memo_job_wait_seconds", "Time from a job being due to a worker starting it, by "
                                  "kind", ["kind"], buckets=WAIT_BUCKETS, registry=registry)
        self.job_attempts = Histogram("memo_job_attempts", "Attempts a job took, observed when it is done or parked, "
                                      "by kind", ["kind"], buckets=ATTEMPT_BUCKETS, registry=registry)
        self.embedding_duration = Histogram("memo_embedding_duration_seconds", "Time of one call to the embedder, "
                                            "by outcome", ["outcome"], buckets=CALL_BUCKETS, registry=registry)
        self.embedded_texts = Counter("memo_embedded_texts", "Texts sent to the embedder", registry=registry)
        self.vector_duration = Histogram("memo_vector_index_duration_seconds", "Time of one call to the vector "
                                         "index, by operation and outcome", ["operation", "outcome"],
                                         buckets=CALL_BUCKETS, registry=registry)
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request_started(self) -> None:
        self.http_in_progress.inc()

    def request_finished(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request; `route` is the matched route's template, never the path as sent."""
        self.http_in_progress.dec()
        method = method_label(method)
        series = self._request_series.get((method, route, status))
        if series is None:  # labels() takes a lock and builds a key: done once per series, not per request
            series = (self.http_requests.labels(method, route, str(status)), self.http_duration.labels(method, route))
            self._request_series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def security_event(self, reason: str) -> None:
        code = code_label(reason)
        self.security_events.labels(code).inc()
        if code in AUTH_FAILURE_CODES:
            self.auth_failures.labels(code).inc()

    def rate_limit_refused(self, key: str) -> None:
        self.rate_limit_refusals.labels(limit_label(key)).inc()

    def webhook_received(self, *, stored: int, duplicates: int) -> None:
        self.webhook_notifications.inc()
        self.webhook_messages.labels("stored").inc(stored)
        self.webhook_messages.labels("duplicate").inc(duplicates)

    def send_finished(self, outcome: str) -> None:
        self.whatsapp_sends.labels(outcome if outcome == "ok" else code_label(outcome)).inc()

    def job_finished(self, run: JobRun) -> None:
        kind = kind_label(run.kind)
        self.jobs_finished.labels(kind, run.outcome.value).inc()
        if run.ran_s is not None:
            self.job_duration.labels(kind).observe(run.ran_s)
        self.job_wait.labels(kind).observe(run.waited_s)
        if run.finished:
            self.job_attempts.labels(kind).observe(run.attempts)

    def embedded(self, *, texts: int, ok: bool, seconds: float) -> None:
        self.embedded_texts.inc(texts)
        self.embedding_duration.labels("ok" if ok else "error").observe(seconds)

    def vector_call(self, operation: str, *, ok: bool, seconds: float) -> None:
        self.vector_duration.labels(operation, "ok" if ok else "error").observe(seconds)

    def exposition(self, jobs: JobCounts | None = None, *, now: datetime | None = None) -> bytes:
        """The text format of every metric: this process's (or every worker's, in multiprocess mode), and the
        queue's figures when given."""
        if self.multiprocess_dir is None:
            text = generate_latest(self.registry)
        else:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
            text = generate_latest(merged)
        if jobs is not None and now is not None:
            queue = CollectorRegistry()
            queue.register(JobCountsCollector(jobs, now))
            text += generate_latest(queue)
        return text


class JobCountsCollector(Collector):
    """The queue's figures as gauges: right across every process, as they come from the one queue they share."""

    def __init__(self, counts: JobCounts, now: datetime) -> None:
        self._counts, self._now = counts, now

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("memo_jobs", "Jobs in the queue by state (done jobs are not counted)",
                                 labels=["state"])
        for state, count in (("pending", self._counts.pending), ("running", self._counts.running),
                             ("failed", self._counts.failed)):
            jobs.add_metric([state], count)
        yield jobs
        of_kind = GaugeMetricFamily("memo_jobs_by_kind", "Jobs in the queue by kind and state (done jobs are not "
                                    "counted)", labels=["kind", "state"])
        labelled = collections.Counter[tuple[str, str]]()
        for (kind, state), count in self._counts.by_kind.items():
            labelled[kind_label(kind), state] += count  # kinds that are no label share `other`
        for labels, count in sorted(labelled.items()):
            of_kind.add_metric(list(labels), count)
        yield of_kind
        age = self._counts.oldest_pending_age_s(self._now)
        yield GaugeMetricFamily("memo_jobs_oldest_pending_age_seconds", "How long the longest-waiting due job has "
                                "waited (0 when none is due)", value=age or 0.0)
