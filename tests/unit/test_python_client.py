"""memo.client against the whole app in process: every method, every error family, and the signing behaviour.

The app runs on the test profile with a fixed clock. An HTTP server adds a `Date` header from its own clock (the
clock the signature window is checked against); `DateHeader` does the same here, from the fixed clock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import formatdate
from typing import Any, cast
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient

from memo.adapters.system import FixedClock
from memo.application.manage_keys import CreateOwner, IssueApiKey
from memo.client import (
    Answer,
    AsyncMemoClient,
    AuthError,
    Conflict,
    ExportedMemory,
    FieldError,
    MemoAuth,
    MemoClient,
    Memory,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from memo.domain.errors import OwnerAlreadyExists
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, settings_for_tests
from tests.support.server import free_port

BASE = "http://testserver.local"
TO = "4915112345678"
NUMBER = "106540352242922"


class DateHeader:
    """The Date header an HTTP server writes on every answer, from the server's clock."""

    def __init__(self, app: Litestar, clock: Callable[[], float]) -> None:
        self.app, self.clock = app, clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def dated(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.clock(), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        return await self.app(scope, receive, dated)


@dataclass
class Server:
    app: Litestar
    clock: FixedClock
    sent: list[httpx.Request] = field(default_factory=list)  # every attempt, as it left the client
    date_clock: Callable[[], float] | None = None

    def now(self) -> float:
        return self.clock.now().timestamp()

    def asgi(self) -> Any:
        return DateHeader(self.app, self.date_clock or self.now)

    def record(self, request: httpx.Request) -> None:
        """A copy: a retry re-signs the same request object, so the list keeps each attempt's own headers."""
        self.sent.append(httpx.Request(request.method, request.url, headers=request.headers.copy(),
                                       content=request.content))

    async def key(self, owner: str, **owner_fields: Any) -> tuple[str, str]:
        async with self.app.state.dishka_container() as scope:
            with contextlib.suppress(OwnerAlreadyExists):
                await (await scope.get(CreateOwner))(owner, **owner_fields)
        async with self.app.state.dishka_container() as scope:
            issued = await (await scope.get(IssueApiKey))(owner, label="python client")
        return issued.key_id, issued.secret


def server_with(**settings: Any) -> Server:
    clock = FixedClock()
    return Server(create_app(settings_for_tests(**settings), FixedClockProvider(clock)), clock)


@contextlib.asynccontextmanager
async def async_client(server: Server, owner: str = "alice", *, skew: float = 0.0, secret: str | None = None,
                       owner_fields: dict[str, Any] | None = None) -> AsyncIterator[AsyncMemoClient]:
    async with AsyncTestClient(app=server.asgi(), base_url=BASE) as http:
        http.event_hooks = {"request": [_async(server.record)]}
        key_id, issued = await server.key(owner, **(owner_fields or {}))
        yield AsyncMemoClient(BASE, key_id, secret or issued, http=cast("httpx.AsyncClient", http),
                              clock=lambda: server.now() + skew)


def _async(hook: Callable[[httpx.Request], None]) -> Callable[[httpx.Request], Any]:
    async def run(request: httpx.Request) -> None:
        hook(request)
    return run


@pytest.fixture
def server() -> Server:
    return server_with()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[AsyncMemoClient]:
    async with async_client(server) as made:
        yield made


# -- memories --------------------------------------------------------------------------------------------------

async def test_create_get_update_and_delete_answer_typed_memories(client: AsyncMemoClient) -> None:
    made = await client.create_memory("  Dentist on Friday  ", type="reminder", tags=["Health", "health"],
                                      metadata={"where": "Main Street 4"})

    assert isinstance(made, Memory)
    assert isinstance(made.id, UUID)
    assert (made.content, made.type, made.tags, made.source, made.version) == (
        "Dentist on Friday", "reminder", ["health"], "api", 1)
    assert made.created_at.tzinfo is not None
    assert await client.get_memory(made.id) == made
    assert await client.get_memory(str(made.id)) == made

    changed = await client.update_memory(made.id, content="Dentist moved to Monday", metadata={"confirmed": True},
                                         if_match=made.version)
    assert (changed.content, changed.version) == ("Dentist moved to Monday", 2)
    assert changed.metadata == {"where": "Main Street 4", "confirmed": True}

    await client.delete_memory(made.id)
    with pytest.raises(NotFound) as gone:
        await client.get_memory(made.id)
    assert gone.value.code == "MEMORY_NOT_FOUND"
    assert gone.value.status == 404


async def test_a_stale_if_match_is_a_conflict_and_leaves_the_memory(client: AsyncMemoClient) -> None:
    made = await client.create_memory("first")
    await client.update_memory(made.id, content="second")

    with pytest.raises(Conflict) as stale:
        await client.update_memory(made.id, content="third", if_match=made.version)

    assert (stale.value.code, stale.value.status) == ("VERSION_CONFLICT", 412)
    assert (await client.get_memory(made.id)).content == "second"


async def test_an_idempotency_key_replays_the_same_memory_and_another_body_is_a_conflict(
        client: AsyncMemoClient, server: Server) -> None:
    key = str(uuid4())
    first = await client.create_memory("buy milk", idempotency_key=key)
    again = await client.create_memory("buy milk", idempotency_key=key)

    assert again == first
    assert server.sent[-1].headers["Idempotency-Key"] == key
    assert (await client.list_memories()).total == 1
    with pytest.raises(Conflict) as reused:
        await client.create_memory("buy bread", idempotency_key=key)
    assert reused.value.code == "IDEMPOTENCY_CONFLICT"


async def test_list_sends_every_filter_and_pages_until_the_last(client: AsyncMemoClient, server: Server) -> None:
    made = []
    for number in range(5):
        made.append(await client.create_memory(f"note number {number}", tags=["work"] if number % 2 else ["home"],
                                               type="reminder" if number == 3 else "note"))
        server.clock.advance(seconds=10)
    start = made[0].created_at

    first = await client.list_memories(limit=2, sort_order="asc")
    assert [m.id for m in first.items] == [made[0].id, made[1].id]
    assert (first.total, first.limit, first.offset, first.has_more, first.next_offset) == (5, 2, 0, True, 2)
    last = await client.list_memories(limit=2, offset=4, sort_order="asc")
    assert (last.has_more, last.next_offset, [m.id for m in last.items]) == (False, None, [made[4].id])

    assert [m.id for m in await _all(client.iter_memories(page_size=2, sort_order="asc"))] == [m.id for m in made]
    assert [m.id for m in (await client.list_memories(tags=["WORK"])).items] == [made[3].id, made[1].id]
    assert [m.id for m in (await client.list_memories(type="reminder")).items] == [made[3].id]
    assert next(m.id for m in (await client.list_memories(search="number")).items) == made[4].id
    window = await client.list_memories(created_after=start, created_before=start + timedelta(seconds=25),
                                        sort_by="updatedAt", sort_order="asc")
    assert [m.id for m in window.items] == [made[1].id, made[2].id]
    assert server.sent[-1].url.params["createdAfter"] == start.isoformat()


async def _all(memories: AsyncIterator[Memory]) -> list[Memory]:
    return [memory async for memory in memories]


async def test_a_naive_time_is_refused_before_anything_is_sent(client: AsyncMemoClient, server: Server) -> None:
    with pytest.raises(ValueError, match="zone"):
        await client.list_memories(created_after=server.clock.now().replace(tzinfo=None))
    assert server.sent == []


# -- search, ask, WhatsApp, health ------------------------------------------------------------------------------

async def test_search_answers_typed_hits_and_says_when_it_degraded(client: AsyncMemoClient) -> None:
    wanted = await client.create_memory("Passport renewal appointment next Tuesday", tags=["admin"])
    await client.create_memory("buy milk")

    result = await client.search("passport renewal", limit=5, tags=["admin"], mode="hybrid")

    assert [hit.memory.id for hit in result.hits] == [wanted.id]
    assert result.hits[0].score > 0
    assert result.hits[0].matched_by == ["keyword"]
    assert result.degraded is True  # not indexed yet: the worker has not run
    assert result.degraded_reason is not None
    assert "not indexed" in result.degraded_reason
    keyword = await client.search("passport", mode="keyword", type="note", source="api")
    assert ([hit.memory.id for hit in keyword.hits], keyword.degraded, keyword.degraded_reason) == (
        [wanted.id], False, None)


async def test_ask_answers_from_the_memories_with_citations_and_sources(client: AsyncMemoClient) -> None:
    dentist = await client.create_memory("The dentist appointment is on Friday at 3 pm")

    answer = await client.ask("When is the dentist appointment?", limit=3)

    assert isinstance(answer, Answer)
    assert answer.citations == [dentist.id]
    assert answer.sources[0].memory_id == dentist.id
    assert answer.sources[0].created_at == dentist.created_at
    assert "Friday" in answer.sources[0].quote
    nothing = await client.ask("What is the capital of Peru?")
    assert nothing.citations == []


async def test_send_whatsapp_and_sync_status_answer_typed_results() -> None:
    server = server_with(whatsapp_access_token=Secret("EAAG" + "t" * 40), whatsapp_phone_number_id=NUMBER)
    async with async_client(server, "anna", owner_fields={"whatsapp_phone_number_id": NUMBER}) as anna:
        sent = await anna.send_whatsapp(TO, "Dentist at 3pm, see you")
        status = await anna.sync_status()
        stored = await anna.get_memory(sent.memory_id)

    assert (sent.to, sent.status, sent.message_id) == (TO, "sent", "wamid.memo-1")
    assert (stored.type, stored.content) == ("whatsapp_sent", "Dentist at 3pm, see you")
    assert (status.sent, status.received) == (1, 0)
    assert all(isinstance(count, int) for count in status.jobs.values())


async def test_health_is_typed_and_unsigned_routes_still_answer(client: AsyncMemoClient) -> None:
    health = await client.health()

    assert health.healthy
    assert health.status == "ok"
    assert {"database", "hmac"} <= set(health.checks)
    assert health.checks["database"]["status"] == "ok"


# -- errors -----------------------------------------------------------------------------------------------------

async def test_a_validation_error_names_each_field_and_carries_the_request_id(client: AsyncMemoClient,
                                                                              server: Server) -> None:
    with pytest.raises(ValidationError) as refused:
        await client.create_memory("   ", tags=["x" * 51])

    error = refused.value
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert {problem.field for problem in error.field_errors} >= {"content"}
    assert all(isinstance(problem, FieldError) for problem in error.field_errors)
    assert error.request_id
    assert error.request_id in str(error)


async def test_the_request_id_is_the_one_the_server_logged(server: Server) -> None:
    async with AsyncTestClient(app=server.asgi(), base_url=BASE) as http:
        http.headers["X-Request-ID"] = "client-chosen-id-42"
        key_id, secret = await server.key("alice")
        client = AsyncMemoClient(BASE, key_id, secret, http=cast("httpx.AsyncClient", http), clock=server.now)
        with pytest.raises(NotFound) as missing:
            await client.get_memory(uuid4())
    assert missing.value.request_id == "client-chosen-id-42"


async def test_a_wrong_secret_is_an_auth_error_and_an_id_that_is_not_a_uuid_is_validation(server: Server) -> None:
    async with async_client(server, secret="not-the-secret-at-all") as wrong:
        with pytest.raises(AuthError) as refused:
            await wrong.list_memories()
    assert (refused.value.status, refused.value.code) == (401, "INVALID_SIGNATURE")

    async with async_client(server) as client:
        with pytest.raises(ValidationError) as bad_id:  # signed over the percent-encoded path it sent
            await client.get_memory("not a caf\u00e9?#uuid")
    assert bad_id.value.field_errors == [FieldError(field="id", message="must be a UUID")]
    assert server.sent[-1].url.raw_path == b"/api/memories/not%20a%20caf%C3%A9%3F%23uuid"


async def test_over_the_limit_is_rate_limited_with_the_wait_the_server_asked_for() -> None:
    server = server_with(rate_limit_max_requests=2)
    async with async_client(server) as client:
        await client.list_memories()
        await client.list_memories()
        with pytest.raises(RateLimited) as limited:
            await client.list_memories()
    assert (limited.value.status, limited.value.code) == (429, "RATE_LIMIT_EXCEEDED")
    assert limited.value.retry_after is not None
    assert limited.value.retry_after > 0


async def test_a_dependency_outage_is_a_server_error(client: AsyncMemoClient) -> None:
    with pytest.raises(ServerError) as outage:
        await client.send_whatsapp(TO, "hi")  # no access token configured on the test profile
    assert (outage.value.status, outage.value.code) == (503, "WHATSAPP_NOT_CONFIGURED")


async def test_a_server_that_does_not_answer_is_a_transport_error() -> None:
    async with AsyncMemoClient(f"http://127.0.0.1:{free_port()}", "mk_nobody_key", "secret", timeout=2) as client:
        with pytest.raises(TransportError) as unreachable:
            await client.list_memories()
    assert unreachable.value.code == "TRANSPORT_ERROR"
    assert isinstance(unreachable.value.__cause__, httpx.ConnectError)


# -- signing: nonces, bytes, clock offset ------------------------------------------------------------------------

async def test_a_clock_far_off_learns_the_offset_from_date_and_retries_once_with_a_fresh_nonce(
        server: Server) -> None:
    async with async_client(server, skew=3600) as client:  # an hour ahead: far outside the 60 s allowed
        made = await client.create_memory("signed from a fast clock")
        attempts = list(server.sent)
        await client.list_memories()

    assert made.content == "signed from a fast clock"
    assert len(attempts) == 2
    first, second = (request.headers for request in attempts)
    assert first["X-Memo-Nonce"] != second["X-Memo-Nonce"]
    assert int(first["X-Memo-Timestamp"]) == int(server.now() + 3600)
    assert abs(int(second["X-Memo-Timestamp"]) - server.now()) <= 1
    assert -3601 <= client.auth.clock_offset <= -3599
    assert len(server.sent) == 3  # the next call is right first time: the offset is kept
    assert abs(int(server.sent[-1].headers["X-Memo-Timestamp"]) - server.now()) <= 1


async def test_the_clock_offset_retry_happens_once_only(server: Server) -> None:
    server.date_clock = lambda: server.now() + 7200  # a Date that is itself far off: the retry fails too

    async with async_client(server, skew=3600) as client:
        with pytest.raises(AuthError) as refused:
            await client.list_memories()

    assert refused.value.code == "EXPIRED_TIMESTAMP"
    assert len(server.sent) == 2


async def test_other_auth_failures_are_not_retried(server: Server) -> None:
    async with async_client(server, secret="wrong-secret-entirely") as client:
        with pytest.raises(AuthError):
            await client.list_memories()
    assert len(server.sent) == 1


async def test_every_request_gets_a_fresh_nonce(client: AsyncMemoClient, server: Server) -> None:
    for _ in range(5):
        await client.list_memories()
    nonces = [request.headers["X-Memo-Nonce"] for request in server.sent]
    assert len(set(nonces)) == 5


async def test_async_httpx_with_memo_auth_signs_a_generated_body_as_sent(server: Server) -> None:
    body = json.dumps({"content": "caf\u00e9 \\u00e4 \u2713 streamed", "tags": ["x"]}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start:start + 7]

    async with AsyncTestClient(app=server.asgi(), base_url=BASE) as http:
        key_id, secret = await server.key("alice")
        http.auth = MemoAuth(key_id, secret, clock=server.now)
        answer = await http.post("/api/memories", content=chunks(), headers={"Content-Type": "application/json"})

    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["content"] == "caf\u00e9 \\u00e4 \u2713 streamed"


def test_sync_httpx_with_memo_auth_signs_a_generated_body_and_a_query_as_sent(server: Server) -> None:
    body = b'{"content": "from a generator"}'

    def chunks() -> Iterator[bytes]:
        yield body[:5]
        yield body[5:]

    with TestClient(app=server.asgi(), base_url=BASE) as http:
        key_id, secret = _sync_key(server, http)
        http.auth = MemoAuth(key_id, secret, clock=server.now)
        created = http.post("/api/memories", content=chunks(), headers={"Content-Type": "application/json"})
        listed = http.get("/api/memories", params={"search": "generator", "tags": "", "limit": "5"})

    assert created.status_code == 201, created.text
    assert listed.status_code == 200, listed.text
    assert [m["content"] for m in listed.json()["data"]] == ["from a generator"]


# -- the sync client --------------------------------------------------------------------------------------------

def _sync_key(server: Server, http: TestClient[Any]) -> tuple[str, str]:
    with http.portal() as portal:
        return portal.call(server.key, "alice")


def test_the_sync_client_covers_every_route_and_raises_the_same_errors(server: Server) -> None:
    with TestClient(app=server.asgi(), base_url=BASE) as http:
        key_id, secret = _sync_key(server, http)
        client = MemoClient(BASE, key_id, secret, http=http, clock=lambda: server.now() + 3600)
        made = client.create_memory("The dentist appointment is on Friday at 3 pm", tags=["health"],
                                    idempotency_key="sync-1")
        assert client.create_memory("The dentist appointment is on Friday at 3 pm", tags=["health"],
                                    idempotency_key="sync-1") == made
        assert client.get_memory(made.id) == made
        assert [m.id for m in client.list_memories(tags=["health"]).items] == [made.id]
        assert [m.id for m in client.iter_memories(page_size=1)] == [made.id]
        assert client.update_memory(made.id, tags=["health", "family"], if_match=1).version == 2
        assert [hit.memory.id for hit in client.search("dentist", mode="keyword").hits] == [made.id]
        assert client.ask("When is the dentist appointment?").citations == [made.id]
        assert client.sync_status().sent == 0
        assert client.health().healthy
        with pytest.raises(Conflict):
            client.update_memory(made.id, content="late", if_match=1)
        with pytest.raises(ServerError):
            client.send_whatsapp(TO, "hi")
        client.delete_memory(made.id)
        with pytest.raises(NotFound):
            client.delete_memory(made.id)
    assert -3601 <= client.auth.clock_offset <= -3599  # learned on the first call, kept for the rest


def test_from_env_reads_memo_url_key_id_and_secret() -> None:
    client = MemoClient.from_env({"MEMO_URL": "http://memo.example:8080", "MEMO_KEY_ID": "mk_from_env_1",
                                  "MEMO_KEY_SECRET": "s3cret"})
    assert client.auth.key_id == "mk_from_env_1"
    client.close()
    with pytest.raises(KeyError, match="MEMO_KEY_SECRET"):
        MemoClient.from_env({"MEMO_KEY_ID": "mk_from_env_1"})


# -- export and import ------------------------------------------------------------------------------------------

async def test_export_streams_every_memory_to_the_microsecond_and_an_import_elsewhere_restores_them(
        client: AsyncMemoClient, server: Server) -> None:
    made = []
    for number in range(3):
        server.clock.advance(microseconds=1234)
        made.append(await client.create_memory(f"memory {number}", tags=["t"], metadata={"n": number}))
    await client.update_memory(made[1].id, content="memory 1, changed")

    exported = await _all_exported(client)
    assert [memory.id for memory in exported] == [memory.id for memory in made]
    assert exported[0].created_at.microsecond % 1000 != 0  # the export keeps microseconds, the API answers ms
    assert (exported[1].content, exported[1].version) == ("memory 1, changed", 2)
    assert exported[0].whatsapp is None
    markdown = "".join([piece async for piece in client.export_markdown()])
    assert markdown.count("memory ") == 3

    elsewhere = server_with()
    async with async_client(elsewhere, "carol") as carol:
        first = await carol.import_memories(exported, batch_size=2)
        again = await carol.import_memories(exported, batch_size=2)
        restored = await _all_exported(carol)
        batches = [request for request in elsewhere.sent if request.url.path == "/api/import"]

    assert (first.created, first.unchanged, first.skipped) == (3, 0, [])
    assert (again.created, again.unchanged, again.skipped) == (0, 3, [])
    assert restored == exported
    assert [len(request.content.splitlines()) for request in batches] == [2, 1, 2, 1]
    keys = [request.headers["Idempotency-Key"] for request in batches]
    assert len(set(keys)) == 4
    assert all(request.headers["Content-Type"] == "application/x-ndjson" for request in batches)


async def _all_exported(client: AsyncMemoClient) -> list[ExportedMemory]:
    return [memory async for memory in client.export()]


async def test_import_reports_skipped_lines_numbered_over_everything_given(client: AsyncMemoClient) -> None:
    good = {"id": str(uuid4()), "content": "kept", "type": "note", "createdAt": "2026-11-01T10:00:00.000001Z"}
    lines: list[Any] = [good, "", "not json at all", {"id": str(uuid4()), "type": "note"},
                        {**good, "content": "other content"}]

    report = await client.import_memories(lines, batch_size=2, idempotency_key="run-1")

    assert (report.created, report.unchanged) == (1, 0)
    assert [(item.line, item.code) for item in report.skipped] == [
        (3, "INVALID_JSON"), (4, "MISSING_FIELD"), (5, "CONFLICT")]
    assert (await client.get_memory(good["id"])).content == "kept"


async def test_a_refused_export_raises_before_any_line(server: Server) -> None:
    async with async_client(server, secret="not-the-secret-at-all") as wrong:
        with pytest.raises(AuthError) as refused:
            await _all_exported(wrong)
    assert refused.value.code == "INVALID_SIGNATURE"


def test_the_sync_client_exports_and_imports(server: Server) -> None:
    with TestClient(app=server.asgi(), base_url=BASE) as http:
        key_id, secret = _sync_key(server, http)
        client = MemoClient(BASE, key_id, secret, http=http, clock=server.now)
        made = client.create_memory("sync export")
        lines = list(client.export_lines())
        assert [memory.id for memory in client.export()] == [made.id]
        assert "sync export" in "".join(client.export_markdown())
        client.delete_memory(made.id)
        report = client.import_memories(line.decode() for line in lines)
        assert (report.created, report.skipped) == (1, [])
        restored = client.get_memory(made.id)
    assert (restored.content, restored.created_at, restored.source) == ("sync export", made.created_at, "api")
