"""Every refusal of API.md 2.3 through HTTP, and the limits around authentication."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.adapters.storage.memory import InMemoryStore
from memo.client import sign_request
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, Signer, World, fresh_nonce, settings_for_tests


async def refused(signer: Signer, headers: dict[str, str], *, path: str = "/api/memories") -> tuple[int, str]:
    raw = {name: value.encode() for name, value in headers.items()}  # lets non-ASCII values travel as UTF-8
    response = await signer.client.get(path, headers=raw)
    assert response.headers.get("www-authenticate") == "Memo-HMAC-SHA256" or response.status_code != 401
    body = response.json()
    assert body["success"] is False
    return response.status_code, body["code"]


def signed(signer: Signer, *, path: str = "/api/memories", method: str = "GET", body: bytes = b"") -> dict[str, str]:
    return sign_request(method=method, url_or_path_and_query=path, body=body, key_id=signer.key_id,
                        secret=signer.secret, timestamp=int(signer.clock.now().timestamp()))


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() != name.lower()}


async def test_missing_signature(alice: Signer) -> None:
    assert await refused(alice, without(signed(alice), "X-Memo-Signature")) == (401, "MISSING_SIGNATURE")


async def test_missing_timestamp(alice: Signer) -> None:
    assert await refused(alice, without(signed(alice), "X-Memo-Timestamp")) == (401, "MISSING_TIMESTAMP")


@pytest.mark.parametrize("value", ["abc", "12.5", "-5", "0x10", "\uff11\uff12\uff13"])
async def test_invalid_timestamp(alice: Signer, value: str) -> None:
    assert await refused(alice, {**signed(alice), "X-Memo-Timestamp": value}) == (401, "INVALID_TIMESTAMP")


async def test_missing_key_id(alice: Signer) -> None:
    assert await refused(alice, without(signed(alice), "X-Memo-Key-Id")) == (401, "MISSING_KEY_ID")


async def test_missing_nonce(alice: Signer) -> None:
    assert await refused(alice, without(signed(alice), "X-Memo-Nonce")) == (401, "MISSING_NONCE")


@pytest.mark.parametrize("nonce", ["short", "x" * 65, "has space in it!!", "ünïcödé-nonce-value"])
async def test_invalid_nonce(alice: Signer, nonce: str) -> None:
    assert await refused(alice, {**signed(alice), "X-Memo-Nonce": nonce}) == (401, "INVALID_NONCE")


async def test_unknown_key(alice: Signer) -> None:
    headers = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id="mk_nobody_here",
                           secret=alice.secret, timestamp=int(alice.clock.now().timestamp()))
    assert await refused(alice, headers) == (401, "UNKNOWN_KEY")


async def test_revoked_key_is_unknown_on_the_very_next_request(world: World, alice: Signer) -> None:
    assert (await alice.get("/api/memories")).status_code == 200
    await world.revoke(alice.key_id)
    assert await refused(alice, signed(alice)) == (401, "UNKNOWN_KEY")


@pytest.mark.parametrize(("offset", "accepted"), [(-300, True), (-301, False), (60, True), (61, False)])
async def test_timestamp_window_edges(alice: Signer, offset: int, accepted: bool) -> None:
    headers = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id=alice.key_id,
                           secret=alice.secret, timestamp=int(alice.clock.now().timestamp()) + offset)
    response = await alice.client.get("/api/memories", headers=headers)
    if accepted:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.json()["code"]) == (401, "EXPIRED_TIMESTAMP")


async def test_replayed_nonce_is_refused_even_when_everything_else_differs(alice: Signer) -> None:
    first = signed(alice)
    assert (await alice.client.get("/api/memories", headers=first)).status_code == 200
    alice.clock.advance(seconds=5)
    again = sign_request(method="GET", url_or_path_and_query="/api/memories?limit=5", body=b"",
                         key_id=alice.key_id, secret=alice.secret, timestamp=int(alice.clock.now().timestamp()),
                         nonce=first["X-Memo-Nonce"])
    assert await refused(alice, again, path="/api/memories?limit=5") == (401, "REPLAYED_REQUEST")


async def test_wrong_secret_is_an_invalid_signature(alice: Signer) -> None:
    headers = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id=alice.key_id,
                           secret="not-the-secret", timestamp=int(alice.clock.now().timestamp()))
    assert await refused(alice, headers) == (401, "INVALID_SIGNATURE")


@pytest.mark.parametrize("signature", ["v2=zz", "v2=" + "0" * 63, "v2=" + "é" * 64, "garbage", ""])
async def test_malformed_signatures_are_invalid_not_errors(alice: Signer, signature: str) -> None:
    headers = {**signed(alice), "X-Memo-Signature": signature}
    status, code = await refused(alice, headers)
    assert status == 401
    assert code in {"INVALID_SIGNATURE", "MISSING_SIGNATURE"}


async def test_signature_binds_the_body(alice: Signer) -> None:
    headers = signed(alice, method="POST", body=b'{"content":"a"}')
    response = await alice.client.post("/api/memories", content=b'{"content":"b"}',
                                       headers={**headers, "Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_SIGNATURE")


async def test_v1_signature_while_v1_is_off_is_invalid(alice: Signer) -> None:
    timestamp = str(int(alice.clock.now().timestamp()))
    signature = hmac.new(b"k" * 64, f"{timestamp}.".encode(), hashlib.sha256).hexdigest()
    assert await refused(alice, {"X-Memo-Signature": signature, "X-Memo-Timestamp": timestamp}) == (
        401, "INVALID_SIGNATURE")


async def test_refusals_never_echo_the_signature_and_are_audited(alice: Signer,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    headers = {**signed(alice), "X-Memo-Signature": "v2=" + "ab" * 32}
    with caplog.at_level(logging.WARNING, logger="memo.audit"):
        response = await alice.client.get("/api/memories", headers=headers)
    assert "ab" * 32 not in response.text
    events = [record for record in caplog.records if record.name == "memo.audit"]
    assert [getattr(record, "reason", None) for record in events] == ["INVALID_SIGNATURE"]
    assert getattr(events[0], "key_id", None) == alice.key_id
    assert "ab" * 32 not in caplog.text


async def test_per_key_rate_limit_answers_429_with_retry_after(world: World) -> None:
    settings = settings_for_tests(rate_limit_max_requests=3)
    app = create_app(settings, FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        limited = await World(app=app, client=client, clock=world.clock).signer_for("carol")
        statuses = [(await limited.get("/api/memories")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        last = await limited.get("/api/memories")
        assert last.json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert int(last.headers["retry-after"]) > 0
        assert last.headers["ratelimit-limit"] == "3"


async def test_successful_requests_carry_rate_limit_headers(alice: Signer) -> None:
    response = await alice.get("/api/memories")
    assert int(response.headers["ratelimit-remaining"]) < int(response.headers["ratelimit-limit"])


async def test_an_address_that_keeps_failing_is_refused_429_once_over_its_limit(world: World) -> None:
    settings = settings_for_tests(rate_limit_ip_max_requests=2)
    app = create_app(settings, FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        guesser = await World(app=app, client=client, clock=world.clock).signer_for("dave")
        bad = {**signed(guesser), "X-Memo-Signature": "v2=" + "0" * 64}
        codes = [(await client.get("/api/memories", headers={**bad, "X-Memo-Nonce": fresh_nonce()})).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]


async def test_v1_when_enabled_acts_for_the_default_owner_and_checks_writes_for_replay(world: World) -> None:
    secret = "s" * 40 + "0123456789abcdefghijklmnopqrstuv"
    settings = replace(settings_for_tests(), accept_v1_signatures=True, api_secret_key=Secret(secret))
    app = create_app(settings, FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        await World(app=app, client=client, clock=world.clock).signer_for("default")
        timestamp = str(int(world.clock.now().timestamp()))
        body = b'{"content":"from the old frontend"}'
        signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"X-Memo-Signature": signature, "X-Memo-Timestamp": timestamp, "Content-Type": "application/json"}
        assert (await client.post("/api/memories", content=body, headers=headers)).status_code == 201
        replay = await client.post("/api/memories", content=body, headers=headers)
        assert (replay.status_code, replay.json()["code"]) == (401, "REPLAYED_REQUEST")
        read_signature = hmac.new(secret.encode(), f"{timestamp}.".encode(), hashlib.sha256).hexdigest()
        read_headers = {"X-Memo-Signature": "sha256=" + read_signature, "X-Memo-Timestamp": timestamp}
        for _ in range(2):
            response = await client.get("/api/memories", headers=read_headers)
            assert response.json()["data"][0]["content"] == "from the old frontend"
        old = str(int(world.clock.now().timestamp()) - 301)
        old_signature = hmac.new(secret.encode(), f"{old}.".encode(), hashlib.sha256).hexdigest()
        stale = await client.get("/api/memories", headers={"X-Memo-Signature": old_signature,
                                                           "X-Memo-Timestamp": old})
        assert (stale.status_code, stale.json()["code"]) == (401, "INVALID_SIGNATURE")
        assert "old" in stale.json()["details"]


async def reseal_under(world: World, signer: Signer, encryption_key: str) -> bytes:
    """Store the signer's secret as another ENCRYPTION_KEY sealed it: what a changed or lost key looks like."""
    store = await world.app.state.dishka_container.get(InMemoryStore)
    key = store.api_keys[signer.key_id]
    sealed = AesGcmSecretBox(encryption_key).seal(signer.secret.encode(), key_id=signer.key_id)
    store.api_keys[signer.key_id] = replace(key, sealed_secret=sealed)
    return sealed


async def test_a_stored_secret_that_does_not_open_is_a_500_for_the_caller_an_error_log_and_an_audit_event(
        world: World, alice: Signer, caplog: pytest.LogCaptureFixture) -> None:
    sealed = await reseal_under(world, alice, generate_encryption_key())
    with caplog.at_level(logging.WARNING):
        response = await alice.get("/api/memories")

    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "An unexpected error occurred; it has been logged.",
                               "code": "INTERNAL_ERROR", "requestId": response.headers["x-request-id"]}
    faults = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(record.name, getattr(record, "request_id", None)) for record in faults] == [
        ("memo.http", response.headers["x-request-id"])]
    assert faults[0].exc_info is not None
    assert "ENCRYPTION_KEY" in str(faults[0].exc_info[1])  # the operator is told what to look at
    events = [record for record in caplog.records if record.name == "memo.audit"]
    assert [(getattr(event, "reason", None), getattr(event, "key_id", None), getattr(event, "path", None))
            for event in events] == [("SECRET_UNREADABLE", alice.key_id, "/api/memories")]
    for leak in (alice.secret, sealed.hex(), repr(sealed)):
        assert leak not in caplog.text
        assert leak not in response.text


async def test_a_stored_secret_that_does_not_open_never_counts_against_the_callers_address(
        world: World) -> None:
    app = create_app(settings_for_tests(rate_limit_ip_max_requests=2), FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        rotated = World(app=app, client=client, clock=world.clock)
        victim = await rotated.signer_for("erin")
        await reseal_under(rotated, victim, generate_encryption_key())
        assert [(await victim.get("/api/memories")).status_code for _ in range(3)] == [500, 500, 500]


async def test_a_previous_encryption_key_still_opens_the_secrets_it_sealed(world: World) -> None:
    previous = generate_encryption_key()
    settings = settings_for_tests(encryption_keys_previous=(Secret(previous),))
    app = create_app(settings, FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        rotated = World(app=app, client=client, clock=world.clock)
        signer = await rotated.signer_for("frank")
        await reseal_under(rotated, signer, previous)
        assert (await signer.get("/api/memories")).status_code == 200
        assert (await client.get("/health")).json()["checks"]["hmac"]["status"] == "ok"
