"""GET /metrics on the whole app (test profile): exact counts after known requests, and who may read them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dishka import Provider, Scope, provide
from dishka.exceptions import NoFactoryError
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Send
from litestar.types import Scope as AsgiScope
from prometheus_client.parser import text_string_to_metric_families

from memo.adapters.audit import LoggingAuditLog, RecordingAuditLog
from memo.adapters.messaging.memory import InMemoryMessageSender
from memo.adapters.metrics.registry import PrometheusMetrics
from memo.adapters.system import FixedClock
from memo.application.errors import UpstreamRateLimited
from memo.application.manage_keys import CreateOwner
from memo.application.ports import AuditLog
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Settings
from tests.e2e.conftest import FixedClockProvider, Signer, World, settings_for_tests
from tests.e2e.test_whatsapp_webhook_api import NUMBER, PATH, deliver, fixture

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MEMORIES = "/api/memories"
SCRAPER = "10.1.2.3"  # inside the default MEMO_METRICS_ALLOW (private ranges)


class FromAddress:
    """Every request comes from `host`, as uvicorn would put the peer's address in the scope."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app, self.host = app, host

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            scope["client"] = (self.host, 50123)
        await self.app(scope, receive, send)


async def world_of(settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[World, FromAddress]]:
    app = create_app(settings, FixedClockProvider(clock))
    address = FromAddress(app.asgi_handler, SCRAPER)
    app.asgi_handler = address
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock), address


@pytest.fixture
async def scraped(clock: FixedClock) -> AsyncIterator[tuple[World, FromAddress]]:
    async for made in world_of(settings_for_tests(rate_limit_max_requests=2), clock):
        yield made


@pytest.fixture
def world(scraped: tuple[World, FromAddress]) -> World:
    return scraped[0]


async def scrape(client: AsyncTestClient[Litestar]) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def series(found: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: count for (sample, labels), count in found.items() if sample == name}


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


async def test_a_known_sequence_of_requests_is_counted_exactly(world: World, alice: Signer) -> None:
    assert [(await alice.get(MEMORIES)).status_code for _ in range(3)] == [200, 200, 429]  # 2 per window
    unsigned = await world.client.get(MEMORIES)
    no_timestamp = await world.client.get(MEMORIES, headers={"X-Memo-Signature": "v2=" + "0" * 64})
    unrouted = await world.client.get("/no/such/route")
    assert [(r.status_code, r.json()["code"]) for r in (unsigned, no_timestamp, unrouted)] == [
        (401, "MISSING_SIGNATURE"), (401, "MISSING_TIMESTAMP"), (404, "NOT_FOUND")]

    found = await scrape(world.client)

    assert series(found, "memo_http_requests_total") == {
        labels(method="GET", route=MEMORIES, status="200"): 2,
        labels(method="GET", route=MEMORIES, status="429"): 1,
        labels(method="GET", route=MEMORIES, status="401"): 2,
        labels(method="GET", route="unmatched", status="404"): 1}
    assert value(found, "memo_http_request_duration_seconds_count", method="GET", route=MEMORIES) == 5
    assert series(found, "memo_auth_failures_total") == {labels(code="MISSING_SIGNATURE"): 1,
                                                         labels(code="MISSING_TIMESTAMP"): 1}
    assert value(found, "memo_security_events_total", code="MISSING_SIGNATURE") == 1  # and with the other events
    assert series(found, "memo_rate_limit_refusals_total") == {labels(limit="key"): 1}
    assert value(found, "memo_http_requests_in_progress") == 1  # the scrape itself


async def test_a_request_is_labelled_by_its_route_template_never_its_path(world: World, alice: Signer) -> None:
    memory_id = "0190b3f0-0000-7000-8000-00000000abcd"
    assert (await alice.get(f"{MEMORIES}/{memory_id}")).status_code == 404

    response = await world.client.get("/metrics")
    found = await scrape(world.client)

    assert value(found, "memo_http_requests_total", method="GET", route="/api/memories/{memory_id}",
                 status="404") == 1
    assert memory_id not in response.text
    assert alice.key_id not in response.text


async def test_an_answer_given_by_the_outer_layers_is_counted_too(scraped: tuple[World, FromAddress]) -> None:
    world, address = scraped
    context = address.app._app  # type: ignore[attr-defined] # the request layer wraps the request context

    async def broken(scope: AsgiScope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a fault outside any route")

    routed, context._app = context._app, broken
    response = await world.client.get(MEMORIES)
    context._app = routed

    assert (response.status_code, response.json()["code"]) == (500, "INTERNAL_ERROR")
    assert value(await scrape(world.client), "memo_http_requests_total", method="GET", route="unmatched",
                 status="500") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "172.20.0.9", "192.168.1.5", "::1", "fd00::5",
                                  "::ffff:10.0.0.1"])
async def test_an_address_in_the_default_ranges_is_served(scraped: tuple[World, FromAddress], host: str) -> None:
    world, address = scraped
    address.host = host

    assert (await world.client.get("/metrics")).status_code == 200


@pytest.mark.parametrize("host", ["203.0.113.9", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8", "testclient", ""])
async def test_any_other_address_is_refused_in_the_error_envelope(scraped: tuple[World, FromAddress],
                                                                  host: str) -> None:
    world, address = scraped
    address.host = host

    response = await world.client.get("/metrics")

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["success"], body["code"]) == (False, "METRICS_NOT_ALLOWED")
    assert "MEMO_METRICS_ALLOW" in body["error"]
    assert body["requestId"] == response.headers["x-request-id"]
    assert "memo_http_requests_total" not in response.text


async def test_the_allow_list_is_the_configured_one(clock: FixedClock) -> None:
    async for world, address in world_of(settings_for_tests(metrics_allow=("203.0.113.0/24",)), clock):
        address.host = "203.0.113.9"
        assert (await world.client.get("/metrics")).status_code == 200
        address.host = "127.0.0.1"
        assert (await world.client.get("/metrics")).status_code == 403


async def test_with_metrics_off_there_is_no_route_and_nothing_is_decorated(clock: FixedClock) -> None:
    async for world, _ in world_of(settings_for_tests(metrics=False), clock):
        response = await world.client.get("/metrics")
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        container = world.app.state.dishka_container
        with pytest.raises(NoFactoryError):
            await container.get(PrometheusMetrics)
        assert isinstance(await container.get(AuditLog), LoggingAuditLog)
        assert "/metrics" not in (await world.client.get("/schema/openapi.json")).json()["paths"]


class RecordingAuditProvider(Provider):
    def __init__(self, audit: RecordingAuditLog) -> None:
        super().__init__()
        self._audit = audit

    @provide(scope=Scope.APP, override=True)
    def audit(self) -> AuditLog:
        return self._audit


async def test_an_adapter_a_test_swaps_in_is_counted_too(clock: FixedClock) -> None:
    recorded = RecordingAuditLog()
    app = create_app(settings_for_tests(), FixedClockProvider(clock), RecordingAuditProvider(recorded))
    app.asgi_handler = FromAddress(app.asgi_handler, SCRAPER)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get(MEMORIES)).status_code == 401

        found = await scrape(client)

        assert [event.reason for event in recorded.events] == ["MISSING_SIGNATURE"]
        assert value(found, "memo_auth_failures_total", code="MISSING_SIGNATURE") == 1


async def test_a_search_observes_the_embedder_and_the_vector_index(world: World, alice: Signer) -> None:
    response = await alice.post(f"{MEMORIES}/search", {"query": "buy milk", "mode": "semantic"})
    assert response.status_code == 200, response.text

    found = await scrape(world.client)

    assert value(found, "memo_embedding_duration_seconds_count", outcome="ok") == 1
    assert value(found, "memo_embedded_texts_total") == 1
    assert value(found, "memo_vector_index_duration_seconds_count", operation="query", outcome="ok") == 1


async def test_jobs_by_state_are_read_from_the_queue_at_scrape_time(world: World, alice: Signer) -> None:
    assert (await alice.post(MEMORIES, {"content": "buy milk"})).status_code == 201

    found = await scrape(world.client)

    assert {state: value(found, "memo_jobs", state=state) for state in ("pending", "running", "failed")} == {
        "pending": 1, "running": 0, "failed": 0}  # its index job; the test profile runs no worker
    assert value(found, "memo_jobs_by_kind", kind="memory.index", state="pending") == 1
    assert value(found, "memo_jobs_oldest_pending_age_seconds") == 0  # the clock stands still


async def test_a_job_run_by_the_in_process_worker_is_counted_with_its_latency_and_attempts(clock: FixedClock) -> None:
    async for world, _ in world_of(settings_for_tests(inprocess_worker=True), clock):
        alice = await world.signer_for("alice")
        assert (await alice.post(MEMORIES, {"content": "buy milk"})).status_code == 201

        found: Samples = {}
        for _ in range(100):  # the worker polls the queue every second
            found = await scrape(world.client)
            if value(found, "memo_jobs_finished_total", kind="memory.index", outcome="done"):
                break
            await asyncio.sleep(0.05)

        assert series(found, "memo_jobs_finished_total") == {labels(kind="memory.index", outcome="done"): 1}
        assert value(found, "memo_job_duration_seconds_count", kind="memory.index") == 1
        assert value(found, "memo_job_attempts_sum", kind="memory.index") == 1
        assert value(found, "memo_job_wait_seconds_count", kind="memory.index") == 1
        assert value(found, "memo_jobs", state="pending") == 0
        assert value(found, "memo_vector_index_duration_seconds_count", operation="upsert", outcome="ok") == 1
        assert value(found, "memo_embedding_duration_seconds_count", outcome="ok") == 1


async def test_webhooks_count_notifications_messages_stored_and_duplicates(world: World) -> None:
    async with world.app.state.dishka_container() as scope:
        await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
    notification = fixture("text.json")
    answers = [await deliver(world.client, notification) for _ in range(2)]
    unsigned = await world.client.post(PATH, content=b"{}", headers={"Content-Type": "application/json"})
    assert [answer.json()["processed"] for answer in answers] == [1, 0]
    assert unsigned.status_code == 401

    found = await scrape(world.client)

    assert value(found, "memo_whatsapp_notifications_total") == 2
    assert value(found, "memo_whatsapp_messages_received_total", outcome="stored") == 1
    assert value(found, "memo_whatsapp_messages_received_total", outcome="duplicate") == 1
    assert value(found, "memo_security_events_total", code="MISSING_WHATSAPP_SIGNATURE") == 1


async def test_sends_are_counted_by_outcome(clock: FixedClock) -> None:
    settings = settings_for_tests(whatsapp_access_token=Secret("EAAG" + "t" * 40), whatsapp_phone_number_id=NUMBER)
    async for world, _ in world_of(settings, clock):
        async with world.app.state.dishka_container() as scope:
            await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
        anna = await world.signer_for("anna")
        sender: InMemoryMessageSender = await world.app.state.dishka_container.get(InMemoryMessageSender)
        body = {"to": "4915112345678", "message": "Dentist at 3pm", "type": "text"}
        assert (await anna.post("/api/whatsapp/send", body)).status_code == 200
        sender.fail_next.append(UpstreamRateLimited("Meta says slow down", retry_after_s=60, meta_code=130429))
        assert (await anna.post("/api/whatsapp/send", body)).status_code == 429

        found = await scrape(world.client)

        assert series(found, "memo_whatsapp_sends_total") == {labels(outcome="ok"): 1,
                                                              labels(outcome="UPSTREAM_RATE_LIMITED"): 1}


async def test_the_route_is_in_the_openapi_document_unsigned(world: World) -> None:
    document: dict[str, Any] = (await world.client.get("/schema/openapi.json")).json()

    operation = document["paths"]["/metrics"]["get"]

    assert operation["summary"]
    assert "security" not in operation
    assert "text/plain; version=0.0.4" in operation["responses"]["200"]["content"]
    assert operation["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"}
