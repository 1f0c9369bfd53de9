"""GET /api/whatsapp/webhook: Meta's subscription check (API.md section 4, limits in 2.3)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, World, settings_for_tests

TOKEN = "v" * 24
PATH = "/api/whatsapp/webhook"


def query(**changes: str | None) -> dict[str, str]:
    """Meta's parameters with the right token; a change of None leaves that parameter out."""
    params: dict[str, str | None] = {"mode": "subscribe", "verify_token": TOKEN, "challenge": "1158201444", **changes}
    return {f"hub.{name}": value for name, value in params.items() if value is not None}


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body: dict[str, Any] = response.json()
    assert (body["success"], body["code"]) == (False, "FORBIDDEN")
    assert body["error"]
    assert "1158201444" not in response.text
    assert TOKEN not in response.text


async def test_the_right_token_echoes_the_challenge_as_plain_text(world: World) -> None:
    response = await world.client.get(PATH, params=query())
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_the_challenge_is_echoed_exactly_as_given(world: World) -> None:
    challenge = "a b+c/ä" + "x" * 249
    response = await world.client.get(PATH, params=query(challenge=challenge))
    assert response.status_code == 200
    assert response.text == challenge


async def test_a_wrong_token_is_forbidden(world: World) -> None:
    assert_forbidden(await world.client.get(PATH, params=query(verify_token="v" * 23 + "w")))
    assert_forbidden(await world.client.get(PATH, params=query(verify_token=TOKEN + "v")))
    assert_forbidden(await world.client.get(PATH, params=query(verify_token="")))


async def test_a_wrong_token_is_a_security_event_that_never_holds_the_token(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="memo.audit"):
        await world.client.get(PATH, params=query(verify_token="guessed-token-123"))
        await world.client.get(PATH, params=query())  # the right token: no event

    events = [record for record in caplog.records if record.name == "memo.audit"]
    assert [(getattr(record, "reason", None), getattr(record, "path", None)) for record in events] == [
        ("INVALID_VERIFY_TOKEN", PATH)]
    assert "guessed-token-123" not in caplog.text
    assert TOKEN not in caplog.text


async def test_a_wrong_mode_is_forbidden(world: World) -> None:
    assert_forbidden(await world.client.get(PATH, params=query(mode="unsubscribe")))
    assert_forbidden(await world.client.get(PATH, params=query(mode="Subscribe")))


async def test_a_missing_parameter_is_forbidden(world: World) -> None:
    for name in ("mode", "verify_token", "challenge"):
        assert_forbidden(await world.client.get(PATH, params=query(**{name: None})))
    assert_forbidden(await world.client.get(PATH))


async def test_a_challenge_outside_1_to_256_characters_is_forbidden(world: World) -> None:
    assert_forbidden(await world.client.get(PATH, params=query(challenge="")))
    assert_forbidden(await world.client.get(PATH, params=query(challenge="1" * 257)))


async def test_no_verify_token_configured_refuses_every_token(world: World) -> None:
    for unset in (None, Secret("")):
        app = create_app(settings_for_tests(whatsapp_verify_token=unset), FixedClockProvider(world.clock))
        async with AsyncTestClient(app=app) as client:
            assert_forbidden(await client.get(PATH, params=query(verify_token="")))
            assert_forbidden(await client.get(PATH, params=query()))


async def test_each_address_is_limited_to_the_ip_limit(world: World) -> None:
    app = create_app(settings_for_tests(rate_limit_ip_max_requests=3), FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        assert (await client.get(PATH, params=query())).status_code == 200
        assert_forbidden(await client.get(PATH, params=query(verify_token="guess")))
        assert (await client.get(PATH, params=query())).status_code == 200
        limited = await client.get(PATH, params=query())
        assert limited.status_code == 429
        assert limited.json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert int(limited.headers["retry-after"]) > 0
        world.clock.advance(seconds=settings_for_tests().rate_limit_window_ms / 1000 + 1)
        assert (await client.get(PATH, params=query())).status_code == 200


async def test_the_route_is_documented_without_the_signing_requirement(world: World) -> None:
    document = (await world.client.get("/schema/openapi.json")).json()
    operation = document["paths"][PATH]["get"]
    assert operation["operationId"] == "VerifyWhatsAppWebhook"
    assert not operation.get("security")
    assert {p["name"] for p in operation["parameters"]} == {"hub.mode", "hub.verify_token", "hub.challenge"}
    assert "security" in document["paths"]["/api/memories"]["get"]
