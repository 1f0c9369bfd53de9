"""One access line per request, with logging configured as `memo serve` configures it (to LOG_FILE here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memo.adapters.storage.memory import InMemoryStore
from memo.entrypoints.http.body import ClientDisconnected, RequestBodyTimeout
from memo.entrypoints.http.context import RequestContext
from memo.entrypoints.logs import configure_logging, restored_logging
from memo.entrypoints.settings import Settings
from tests.e2e.conftest import Signer, World, settings_for_tests


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "memo.log"


@pytest.fixture
def settings(log_file: Path) -> Settings:
    return settings_for_tests(log_file=log_file)


@pytest.fixture(autouse=True)
def configured(settings: Settings) -> Iterator[None]:
    with restored_logging():
        configure_logging(settings)
        yield


def logged(log_file: Path, logger: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, log_file.read_text(encoding="utf-8").splitlines())
            if line["logger"] == logger]


def access_line(log_file: Path, request_id: str) -> dict[str, Any]:
    [line] = [line for line in logged(log_file, "memo.access") if line["request_id"] == request_id]
    return line


async def test_a_signed_request_has_one_line_with_its_route_status_key_and_owner(
        world: World, alice: Signer, log_file: Path) -> None:
    store = await world.app.state.dishka_container.get(InMemoryStore)

    response = await alice.post("/api/memories", {"content": "the spare key is under the blue pot"})

    line = access_line(log_file, response.headers["x-request-id"])
    assert response.status_code == 201
    assert {key: line[key] for key in ("level", "message", "method", "route", "status", "key_id", "owner_id",
                                       "client_ip")} == {
        "level": "info", "message": "request", "method": "POST", "route": "/api/memories", "status": 201,
        "key_id": alice.key_id, "owner_id": str(store.api_keys[alice.key_id].owner_id), "client_ip": "testclient"}
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0
    assert line["time"].endswith("Z")


async def test_the_route_is_the_template_never_the_path_asked_for(
        world: World, alice: Signer, log_file: Path) -> None:
    created = (await alice.post("/api/memories", {"content": "call the plumber"})).json()["data"]

    read = await alice.get(f"/api/memories/{created['id']}")
    listed = await alice.get("/api/memories", params={"tag": "a-secret-looking-tag"})

    assert access_line(log_file, read.headers["x-request-id"])["route"] == "/api/memories/{memory_id}"
    listing = access_line(log_file, listed.headers["x-request-id"])
    assert listing["route"] == "/api/memories"
    everything = json.dumps(logged(log_file, "memo.access"))
    assert created["id"] not in everything
    assert "a-secret-looking-tag" not in everything


async def test_a_refused_request_has_its_line_without_key_or_owner_and_its_audit_event_shares_the_request_id(
        world: World, alice: Signer, log_file: Path) -> None:
    response = await world.client.get("/api/memories", headers={"X-Request-ID": "refused-1"})

    line = access_line(log_file, "refused-1")
    assert (line["status"], line["key_id"], line["owner_id"]) == (401, None, None)
    assert [audit["reason"] for audit in logged(log_file, "memo.audit") if audit.get("request_id") == "refused-1"] == [
        response.json()["code"]]


async def test_an_unrouted_request_has_a_line_with_no_route(world: World, log_file: Path) -> None:
    response = await world.client.get("/no/such/place")

    line = access_line(log_file, response.headers["x-request-id"])
    assert (line["route"], line["status"], line["method"]) == (None, 404, "GET")


async def test_every_request_has_exactly_one_line(world: World, alice: Signer, log_file: Path) -> None:
    answers = [await alice.get("/api/memories"), await world.client.get("/health/live"),
               await world.client.get("/nowhere"), await world.client.get("/api/memories")]

    ids = [line["request_id"] for line in logged(log_file, "memo.access")]
    assert sorted(ids) == sorted(answer.headers["x-request-id"] for answer in answers)


async def test_memo_access_log_false_writes_no_access_line_and_keeps_the_audit(
        tmp_path: Path, world: World, alice: Signer) -> None:
    path = tmp_path / "off.log"
    configure_logging(settings_for_tests(log_file=path, access_log=False))  # as MEMO_ACCESS_LOG=false does

    assert (await alice.get("/api/memories")).status_code == 200
    assert (await world.client.get("/api/memories")).status_code == 401

    assert [line["logger"] for line in logged(path, "memo.access")] == []
    assert [line["logger"] for line in logged(path, "memo.audit")] == ["memo.audit"]


async def call_outer_layer(inner: Any) -> list[dict[str, Any]]:
    """One GET through RequestContext around `inner`, as the server calls it; the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/memories", "raw_path": b"/api/memories",
             "query_string": b"", "headers": [(b"x-request-id", b"outer-1")], "client": ("198.51.100.4", 4000)}
    await RequestContext(inner, production=False, body_timeout_s=5)(scope, receive, send)  # type: ignore[arg-type]
    return sent


@pytest.mark.parametrize(("raised", "status"), [
    (ClientDisconnected(), None), (RequestBodyTimeout(), 408), (RuntimeError("a fault outside any route"), 500)])
async def test_the_outer_layers_own_endings_have_their_line_too(
        log_file: Path, raised: Exception, status: int | None) -> None:
    async def inner(*_: Any) -> None:
        raise raised

    sent = await call_outer_layer(inner)

    line = access_line(log_file, "outer-1")
    assert (line["status"], line["route"], line["client_ip"]) == (status, None, "198.51.100.4")
    assert [message["status"] for message in sent if message["type"] == "http.response.start"] == (
        [] if status is None else [status])
