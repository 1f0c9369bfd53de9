"""Security headers on every answer Memo gives: successes, framework errors, refusals and the docs page alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from memo.adapters.system import FixedClock
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Environment, Settings
from tests.e2e.conftest import FixedClockProvider, Signer, World, settings_for_tests

HSTS = "max-age=63072000; includeSubDomains"
FIXED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def assert_api_headers(response: httpx.Response, *, hsts: bool = False) -> None:
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (response.status_code, name)
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'"), (response.status_code, policy)
    assert "frame-ancestors 'none'" in policy
    assert response.headers.get("strict-transport-security") == (HSTS if hsts else None), response.status_code
    assert response.headers["x-request-id"]


@pytest.fixture
async def limited(clock: FixedClock) -> AsyncIterator[World]:
    """An app whose per-key limit is one request a window and whose bodies stop at 1 KiB."""
    app = create_app(settings_for_tests(rate_limit_max_requests=1, max_body_bytes=1024), FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock)


async def test_errors_carry_the_security_headers_404_405_413_415_401_and_429(limited: World) -> None:
    signer = await limited.signer_for("alice")
    answers = {
        404: await limited.client.get("/no/such/route"),
        405: await limited.client.patch("/api/memories", content=b"{}"),
        413: await limited.client.post("/api/memories", content=b"x" * 4096,
                                       headers={"Content-Type": "application/json"}),
        415: await signer.request("POST", "/api/memories", content=b"plain", headers={"Content-Type": "text/plain"}),
        401: await limited.client.get("/api/memories"),
    }
    assert (await signer.get("/api/memories")).status_code in {200, 429}
    answers[429] = await signer.get("/api/memories")

    for status, response in answers.items():
        assert response.status_code == status, response.text
        assert response.json()["success"] is False
        assert_api_headers(response)


async def test_hsts_is_sent_in_production_only_and_on_errors_too(clock: FixedClock) -> None:
    production: Settings = settings_for_tests(env=Environment.PRODUCTION)
    app = create_app(production, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        for response in (await client.get("/health"), await client.get("/nope"), await client.get("/api/memories")):
            assert_api_headers(response, hsts=True)


async def test_the_schema_page_gets_a_policy_that_lets_it_render_and_the_document_the_api_policy(
        world: World) -> None:
    page = await world.client.get("/schema")
    document = await world.client.get("/schema/openapi.json")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    for name, value in FIXED.items():
        assert page.headers[name] == value
    assert document.status_code == 200
    assert_api_headers(document)


async def test_a_signed_success_carries_the_security_headers(alice: Signer) -> None:
    created = await alice.post("/api/memories", {"content": "headers on a 201 too"})

    assert created.status_code == 201
    assert_api_headers(created)
