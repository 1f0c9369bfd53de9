"""The metrics adapter on its own: what each observation adds to the exposition, and that labels stay bounded."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.adapters.system import TEST_NOW
from memo.application.run_jobs import JobOutcome, JobRun
from memo.domain.jobs import JobCounts

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: bytes) -> Samples:
    """Every sample of the exposition by name and labels, as a scraper parses it."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text.decode()) for sample in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def names(found: Samples, prefix: str) -> set[str]:
    return {name for name, _ in found if name.startswith(prefix)}


def test_a_request_is_counted_and_timed_by_method_route_template_and_status() -> None:
    metrics = PrometheusMetrics()
    for seconds in (0.004, 0.3):
        metrics.request_started()
        metrics.request_finished(method="GET", route="/api/memories/{memory_id}", status=200, seconds=seconds)

    found = samples(metrics.exposition())

    assert value(found, "memo_http_requests_total", method="GET", route="/api/memories/{memory_id}",
                 status="200") == 2
    histogram = {"method": "GET", "route": "/api/memories/{memory_id}"}
    assert value(found, "memo_http_request_duration_seconds_count", **histogram) == 2
    assert value(found, "memo_http_request_duration_seconds_bucket", **histogram, le="0.005") == 1
    assert value(found, "memo_http_request_duration_seconds_bucket", **histogram, le="0.5") == 2
    assert value(found, "memo_http_requests_in_progress") == 0


def test_a_method_no_route_accepts_is_one_other_series() -> None:
    metrics = PrometheusMetrics()
    for method in ("BREW", "X" * 300):
        metrics.request_started()
        metrics.request_finished(method=method, route="unmatched", status=405, seconds=0.001)

    found = samples(metrics.exposition())

    assert value(found, "memo_http_requests_total", method="OTHER", route="unmatched", status="405") == 2
    assert "BREW" not in metrics.exposition().decode()


def test_a_security_event_is_counted_by_its_code_alone() -> None:
    metrics = PrometheusMetrics()
    for reason in ("MISSING_SIGNATURE", "UNKNOWN_PHONE_NUMBER_ID 15550001234", "UNKNOWN_PHONE_NUMBER_ID 15550009999",
                   "WEBHOOK_ITEM_SKIPPED at entry[0]: no id", "not a code at all"):
        metrics.security_event(reason)

    found = samples(metrics.exposition())

    assert {labels: count for (name, labels), count in found.items() if name == "memo_security_events_total"} == {
        frozenset({("code", "MISSING_SIGNATURE")}): 1, frozenset({("code", "UNKNOWN_PHONE_NUMBER_ID")}): 2,
        frozenset({("code", "WEBHOOK_ITEM_SKIPPED")}): 1, frozenset({("code", "OTHER")}): 1}
    assert "1555000" not in metrics.exposition().decode()
    assert {labels: count for (name, labels), count in found.items() if name == "memo_auth_failures_total"} == {
        frozenset({("code", "MISSING_SIGNATURE")}): 1}  # the one refusal of credentials among them


def test_a_refusal_is_counted_by_its_limit_never_by_the_key_or_address() -> None:
    metrics = PrometheusMetrics()
    for key in ("key:memo_k_0123456789", "auth-fail:203.0.113.9", "send:memo_k_0123456789",
                "whatsapp-verify:203.0.113.9", "whatsapp-webhook:203.0.113.9", "something:else"):
        metrics.rate_limit_refused(key)

    text = metrics.exposition().decode()
    found = samples(metrics.exposition())

    assert {dict(labels)["limit"] for (name, labels) in found if name == "memo_rate_limit_refusals_total"} == {
        "key", "ip", "send", "webhook_verify", "webhook_signature", "other"}
    assert "memo_k_" not in text
    assert "203.0.113" not in text


def test_a_job_run_is_counted_by_kind_and_outcome_and_its_attempts_observed_once_final() -> None:
    metrics = PrometheusMetrics()
    metrics.job_finished(JobRun(kind="memory.index", outcome=JobOutcome.RETRYING, attempts=1, waited_s=2.0,
                                ran_s=0.2))
    metrics.job_finished(JobRun(kind="memory.index", outcome=JobOutcome.DONE, attempts=2, waited_s=30.0, ran_s=0.1))
    metrics.job_finished(JobRun(kind="Not A Kind!", outcome=JobOutcome.FAILED, attempts=8, waited_s=0.0, ran_s=None))

    found = samples(metrics.exposition())

    assert value(found, "memo_jobs_finished_total", kind="memory.index", outcome="retrying") == 1
    assert value(found, "memo_jobs_finished_total", kind="memory.index", outcome="done") == 1
    assert value(found, "memo_jobs_finished_total", kind="other", outcome="failed") == 1
    assert value(found, "memo_job_duration_seconds_count", kind="memory.index") == 2
    assert value(found, "memo_job_duration_seconds_count", kind="other") is None  # it never ran
    assert value(found, "memo_job_wait_seconds_sum", kind="memory.index") == 32
    assert value(found, "memo_job_attempts_count", kind="memory.index") == 1
    assert value(found, "memo_job_attempts_sum", kind="memory.index") == 2
    assert value(found, "memo_job_attempts_sum", kind="other") == 8


def test_the_queue_figures_are_gauges_by_state_when_given() -> None:
    metrics = PrometheusMetrics()
    counts = JobCounts(pending=3, running=1, failed=2, oldest_due_at=TEST_NOW - timedelta(seconds=90),
                       by_kind={("memory.index", "pending"): 2, ("whatsapp.fetch_media", "pending"): 1,
                                ("memory.index", "running"): 1, ("Bad Kind!", "failed"): 1, ("also bad", "failed"): 1})

    found = samples(metrics.exposition(counts, now=TEST_NOW))
    assert value(found, "memo_jobs_by_kind", kind="memory.index", state="pending") == 2
    assert value(found, "memo_jobs_by_kind", kind="whatsapp.fetch_media", state="pending") == 1
    assert value(found, "memo_jobs_by_kind", kind="memory.index", state="running") == 1
    assert value(found, "memo_jobs_by_kind", kind="other", state="failed") == 2  # unlabelled kinds summed

    assert {state: value(found, "memo_jobs", state=state) for state in ("pending", "running", "failed")} == {
        "pending": 3, "running": 1, "failed": 2}
    assert value(found, "memo_jobs_oldest_pending_age_seconds") == 90
    assert names(samples(metrics.exposition()), "memo_jobs") == set()  # none without the queue's figures


def test_webhook_sends_embedding_and_vector_figures() -> None:
    metrics = PrometheusMetrics()
    metrics.webhook_received(stored=3, duplicates=0)
    metrics.webhook_received(stored=1, duplicates=2)
    metrics.send_finished("ok")
    metrics.send_finished("UPSTREAM_RATE_LIMITED")
    metrics.embedded(texts=3, ok=True, seconds=0.01)
    metrics.embedded(texts=1, ok=False, seconds=5.0)
    metrics.vector_call("query", ok=True, seconds=0.002)

    found = samples(metrics.exposition())

    assert value(found, "memo_whatsapp_notifications_total") == 2
    assert value(found, "memo_whatsapp_messages_received_total", outcome="stored") == 4
    assert value(found, "memo_whatsapp_messages_received_total", outcome="duplicate") == 2
    assert value(found, "memo_whatsapp_sends_total", outcome="ok") == 1
    assert value(found, "memo_whatsapp_sends_total", outcome="UPSTREAM_RATE_LIMITED") == 1
    assert value(found, "memo_embedded_texts_total") == 4
    assert value(found, "memo_embedding_duration_seconds_count", outcome="ok") == 1
    assert value(found, "memo_embedding_duration_seconds_count", outcome="error") == 1
    assert value(found, "memo_vector_index_duration_seconds_count", operation="query", outcome="ok") == 1


def test_two_apps_in_one_process_keep_apart_figures() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.security_event("MISSING_SIGNATURE")

    assert value(samples(first.exposition()), "memo_security_events_total", code="MISSING_SIGNATURE") == 1
    assert value(samples(second.exposition()), "memo_security_events_total", code="MISSING_SIGNATURE") is None


def test_no_created_series_are_exposed() -> None:
    metrics = PrometheusMetrics()
    metrics.security_event("MISSING_SIGNATURE")

    assert "_created" not in metrics.exposition().decode()
