"""The decorators that count at the ports: they pass every call and answer through, and count what it came to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

import pytest

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.embedding.fake import HashingEmbedder
from memo.adapters.limits.memory import InProcessNonceStore, InProcessRateLimiter
from memo.adapters.limits.stepwise import StepwiseRequestAdmission
from memo.adapters.messaging.memory import InMemoryMessageSender
from memo.adapters.metrics.ai import MeteredEmbedder, MeteredVectorIndex
from memo.adapters.metrics.messaging import MeteredMessageSender
from memo.adapters.metrics.registry import PrometheusMetrics
from memo.adapters.metrics.security import MeteredAuditLog, MeteredRateLimiter, MeteredRequestAdmission
from memo.adapters.system import TEST_NOW, FixedClock
from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.application.admission import AddressBlocked, Admitted, Limit, ReplayClaim, Replayed
from memo.application.dto import SecurityEvent
from memo.application.errors import EmbedderUnavailable, UpstreamRateLimited
from memo.domain.memory import MemoryType, Source
from memo.domain.retrieval import SearchFilters, VectorEntry
from tests.unit.test_metrics_registry import samples, value

OWNER = UUID("0190b3f0-0000-7000-8000-000000000001")
MEMORY = UUID("0190b3f0-0000-7000-8000-000000000002")


@pytest.fixture
def metrics() -> PrometheusMetrics:
    return PrometheusMetrics()


def test_the_audit_log_still_gets_every_event(metrics: PrometheusMetrics) -> None:
    inner = RecordingAuditLog()
    event = SecurityEvent(reason="INVALID_SIGNATURE", key_id="memo_k_0123456789", client_ip="203.0.113.9", path="/x")

    MeteredAuditLog(inner, metrics).security_event(event)

    assert inner.events == [event]
    assert value(samples(metrics.exposition()), "memo_security_events_total", code="INVALID_SIGNATURE") == 1


async def test_only_refusing_decisions_are_counted(metrics: PrometheusMetrics) -> None:
    limiter = MeteredRateLimiter(InProcessRateLimiter(FixedClock()), metrics)

    decisions = [await limiter.hit("key:k1", limit=2, window_s=60) for _ in range(3)]

    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert value(samples(metrics.exposition()), "memo_rate_limit_refusals_total", limit="key") == 1


async def test_a_failure_counted_over_the_address_limit_is_a_refusal(metrics: PrometheusMetrics) -> None:
    limiter = MeteredRateLimiter(InProcessRateLimiter(FixedClock()), metrics)
    for _ in range(2):  # failures answered 401
        await limiter.hit("auth-fail:203.0.113.9", limit=2, window_s=60)
    assert value(samples(metrics.exposition()), "memo_rate_limit_refusals_total", limit="ip") is None

    over = await limiter.hit("auth-fail:203.0.113.9", limit=2, window_s=60)  # the third: answered 429

    assert not over.allowed
    assert value(samples(metrics.exposition()), "memo_rate_limit_refusals_total", limit="ip") == 1


CLAIM = ReplayClaim(scope="k1", nonce="nonce-0123456789ab", ttl_s=60, refusal="Seen.", refusal_details="Fresh.")
ADDRESS = Limit(key="auth-fail:203.0.113.9", limit=1, window_s=60)
KEY = Limit(key="key:k1", limit=1, window_s=60)


async def test_the_admission_counts_a_blocked_address_and_a_key_over_its_limit_once_each(
        metrics: PrometheusMetrics) -> None:
    counters = InProcessRateLimiter(FixedClock())
    admission = MeteredRequestAdmission(StepwiseRequestAdmission(InProcessNonceStore(FixedClock()), counters),
                                        metrics)

    first = await admission.admit(CLAIM, address=ADDRESS, key=KEY)
    replayed = await admission.admit(CLAIM, address=ADDRESS, key=KEY)
    over = await admission.admit(replace(CLAIM, nonce="nonce-0123456789ac"), address=ADDRESS, key=KEY)
    await counters.hit(ADDRESS.key, limit=1, window_s=60)  # a failure, counted by the use case
    blocked = await admission.admit(replace(CLAIM, nonce="nonce-0123456789ad"), address=ADDRESS, key=KEY)

    assert isinstance(first, Admitted)
    assert first.rate.allowed
    assert isinstance(replayed, Replayed)  # refused, but for no limit
    assert isinstance(over, Admitted)
    assert not over.rate.allowed
    assert isinstance(blocked, AddressBlocked)
    found = samples(metrics.exposition())
    assert value(found, "memo_rate_limit_refusals_total", limit="key") == 1
    assert value(found, "memo_rate_limit_refusals_total", limit="ip") == 1


async def test_the_embedder_keeps_its_model_and_vectors_and_is_timed(metrics: PrometheusMetrics) -> None:
    inner = HashingEmbedder()
    embedder = MeteredEmbedder(inner, metrics)

    vectors = await embedder.embed(["buy milk", "call mum"])

    assert (embedder.model, embedder.dimensions) == (inner.model, inner.dimensions)
    assert [list(vector) for vector in vectors] == [list(vector) for vector in await inner.embed(["buy milk",
                                                                                                   "call mum"])]
    found = samples(metrics.exposition())
    assert value(found, "memo_embedding_duration_seconds_count", outcome="ok") == 1
    assert value(found, "memo_embedded_texts_total") == 2


class DownEmbedder(HashingEmbedder):
    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        raise EmbedderUnavailable


async def test_an_embedder_failure_is_raised_and_timed_as_an_error(metrics: PrometheusMetrics) -> None:
    with pytest.raises(EmbedderUnavailable):
        await MeteredEmbedder(DownEmbedder(), metrics).embed(["buy milk"])

    assert value(samples(metrics.exposition()), "memo_embedding_duration_seconds_count", outcome="error") == 1


async def test_every_vector_index_call_is_passed_through_and_timed_by_operation(metrics: PrometheusMetrics) -> None:
    inner = InMemoryVectorIndex()
    index = MeteredVectorIndex(inner, metrics)
    [vector] = await HashingEmbedder().embed(["buy milk"])

    await index.upsert([VectorEntry(memory_id=MEMORY, owner_id=OWNER, vector=vector, type=MemoryType.NOTE, tags=(),
                                    source=Source.API, created_at=TEST_NOW)])
    hits = await index.query(OWNER, vector, limit=5, filters=SearchFilters())
    await index.delete(OWNER, [MEMORY])

    assert [hit.memory_id for hit in hits] == [MEMORY]
    assert await inner.query(OWNER, vector, limit=5, filters=SearchFilters()) == []
    found = samples(metrics.exposition())
    for operation in ("upsert", "query", "delete"):
        assert value(found, "memo_vector_index_duration_seconds_count", operation=operation, outcome="ok") == 1


async def test_a_send_is_counted_ok_or_by_the_code_of_its_refusal(metrics: PrometheusMetrics) -> None:
    inner = InMemoryMessageSender()
    sender = MeteredMessageSender(inner, metrics)

    sent = await sender.send_text("4915112345678", "hello")
    inner.fail_next.append(UpstreamRateLimited("slow down", retry_after_s=60))
    with pytest.raises(UpstreamRateLimited):
        await sender.send_text("4915112345678", "hello again")

    assert sent.message_id == "wamid.memo-1"
    found = samples(metrics.exposition())
    assert value(found, "memo_whatsapp_sends_total", outcome="ok") == 1
    assert value(found, "memo_whatsapp_sends_total", outcome="UPSTREAM_RATE_LIMITED") == 1
