"""CORS only for the configured origins; a refused preflight is an error envelope like any other failure."""

from __future__ import annotations

import pytest

from memo.entrypoints.settings import Settings
from tests.e2e.conftest import Signer, World

ALLOWED = "https://app.example"


@pytest.fixture
def settings() -> Settings:
    return Settings.for_tests(cors_origins=(ALLOWED,))


def preflight(origin: str, method: str = "POST", headers: str = "content-type, x-memo-signature") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_a_preflight_from_a_configured_origin_allows_exactly_the_signing_headers(world: World) -> None:
    response = await world.client.options("/api/memories", headers=preflight(ALLOWED))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-headers"].split(", ") == [
        "content-type", "idempotency-key", "if-match", "x-request-id", "x-memo-key-id", "x-memo-timestamp",
        "x-memo-nonce", "x-memo-signature"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(("origin", "method", "headers", "refused"), [
    ("https://evil.example", "POST", "content-type", "origin"),
    (ALLOWED, "PATCH", "content-type", "method"),
    (ALLOWED, "POST", "content-type, cookie", "headers"),
])
async def test_a_refused_preflight_answers_403_in_the_envelope_with_the_request_id(
        world: World, origin: str, method: str, headers: str, refused: str) -> None:
    response = await world.client.options("/api/memories", headers=preflight(origin, method, headers))
    assert response.status_code == 403
    body = response.json()
    assert (body["success"], body["code"], body["details"]) == (False, "CORS_NOT_ALLOWED", f"not allowed: {refused}")
    assert body["requestId"] == response.headers["x-request-id"]
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_request_from_a_configured_origin_may_read_its_answer_and_headers(alice: Signer) -> None:
    response = await alice.get("/api/memories", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {name.strip() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit-remaining", "x-request-id", "retry-after"} <= exposed
    assert "date" in exposed  # a signer in the page corrects its clock from it on EXPIRED_TIMESTAMP


async def test_a_request_from_another_origin_gets_no_cors_headers(alice: Signer) -> None:
    response = await alice.get("/api/memories", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
