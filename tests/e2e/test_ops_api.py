"""Framework-level answers, headers on every response, /health and the OpenAPI document."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

import pytest
from litestar import Litestar, get
from litestar.params import HeaderParameter, QueryParameter
from litestar.testing import AsyncTestClient

from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.adapters.storage.memory import InMemoryStore
from memo.adapters.storage.memory_schema_version import InMemorySchemaVersion
from memo.application.ports import SchemaVersion
from memo.entrypoints.http.errors import EXCEPTION_HANDLERS
from tests.e2e.conftest import Signer, World


async def test_unknown_route_answers_the_error_envelope_with_a_request_id(world: World) -> None:
    response = await world.client.get("/api/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert (body["success"], body["code"]) == (False, "NOT_FOUND")
    assert body["requestId"] == response.headers["x-request-id"]


async def test_wrong_method_answers_405_in_the_envelope(world: World) -> None:
    response = await world.client.patch("/api/memories", content=b"{}")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


async def test_sane_request_id_is_echoed_and_an_insane_one_replaced(world: World) -> None:
    echoed = await world.client.get("/health", headers={"X-Request-ID": "trace-123.abc"})
    assert echoed.headers["x-request-id"] == "trace-123.abc"
    replaced = await world.client.get("/health", headers={"X-Request-ID": "bad id\twith <html>"})
    assert replaced.headers["x-request-id"] != "bad id\twith <html>"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_security_headers_are_on_every_response(world: World, alice: Signer) -> None:
    for response in (await world.client.get("/health"), await world.client.get("/nope"),
                     await alice.get("/api/memories")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers


async def test_health_reports_all_five_checks_and_what_backs_each(world: World) -> None:
    response = await world.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "uptime", "checks"}
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"hmac", "database", "redis", "vectorIndex", "worker"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"] == {"status": "disabled", "backend": "in-process",
                                       "detail": body["checks"]["redis"]["detail"],
                                       "latencyMs": body["checks"]["redis"]["latencyMs"]}
    assert all("backend" in check for check in body["checks"].values())


async def test_openapi_document_describes_the_signing_headers(world: World) -> None:
    response = await world.client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    schemes = document["components"]["securitySchemes"]
    assert {scheme["name"] for scheme in schemes.values()} == {"X-Memo-Signature", "X-Memo-Key-Id",
                                                               "X-Memo-Timestamp", "X-Memo-Nonce",
                                                               "X-Hub-Signature-256"}
    create = document["paths"]["/api/memories"]["post"]
    assert create["security"]
    assert create["operationId"] == "CreateMemory"
    assert document["paths"]["/api/whatsapp/webhook"]["post"]["security"] == [{"MetaHubSignature": []}]
    assert "security" not in document["paths"]["/api/whatsapp/webhook"]["get"]


async def test_cors_is_off_unless_origins_are_configured(world: World) -> None:
    response = await world.client.options("/api/memories", headers={"Origin": "https://evil.example",
                                                                   "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers




async def test_openapi_documents_every_list_parameter_under_its_wire_name(world: World) -> None:
    document = (await world.client.get("/schema/openapi.json")).json()
    names = {parameter["name"] for parameter in document["paths"]["/api/memories"]["get"]["parameters"]}
    assert {"search", "type", "tags", "createdAfter", "createdBefore", "limit", "offset", "sortBy",
            "sortOrder"} <= names


async def test_health_opens_a_stored_secret_and_is_unhealthy_when_encryption_key_does_not_open_it(
        world: World, alice: Signer) -> None:
    assert (await world.client.get("/health")).json()["checks"]["hmac"]["status"] == "ok"
    store = await world.app.state.dishka_container.get(InMemoryStore)
    key = store.api_keys[alice.key_id]
    other = AesGcmSecretBox(generate_encryption_key())  # as if ENCRYPTION_KEY changed since the key was made
    store.api_keys[alice.key_id] = replace(key, sealed_secret=other.seal(alice.secret.encode(), key_id=key.key_id))

    response = await world.client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    hmac_check = body["checks"]["hmac"]
    assert hmac_check["status"] == "error"
    assert hmac_check["detail"] == ("a stored API key secret does not open with ENCRYPTION_KEY or "
                                    "ENCRYPTION_KEYS_PREVIOUS (a changed key, or an altered value); "
                                    "see docs/operations.md")
    assert alice.key_id not in response.text  # /health is unsigned: it names no key


@get("/typed", sync_to_thread=False)
def typed_parameters(mode: Annotated[str, QueryParameter(name="hub.mode")],
                     created_after: Annotated[datetime | None, QueryParameter(name="createdAfter")] = None,
                     count: Annotated[int | None, HeaderParameter(name="X-Count")] = None) -> str:
    return "ok"


@pytest.mark.parametrize(("params", "headers", "field", "message"), [
    ({}, {}, "hub.mode", "is required"),
    ({"hub.mode": "s", "createdAfter": "soon"}, {}, "createdAfter", "Invalid RFC3339 encoded datetime"),
    ({"hub.mode": "s"}, {"X-Count": "many"}, "X-Count", "Expected `int | null`, got `str`"),
])
async def test_parameters_the_framework_refuses_are_named_as_sent_not_as_the_handler_spells_them(
        params: dict[str, str], headers: dict[str, str], field: str, message: str) -> None:
    app = Litestar([typed_parameters], exception_handlers=EXCEPTION_HANDLERS)  # typed parameters, as routes to come
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/typed", params=params, headers=headers)
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": field, "message": message}]


async def test_openapi_says_what_a_late_body_or_a_spent_budget_answers(world: World) -> None:
    description = (await world.client.get("/schema/openapi.json")).json()["info"]["description"]
    for code in ("413 PAYLOAD_TOO_LARGE", "408 REQUEST_TIMEOUT", "503 SERVER_BUSY", "429 RATE_LIMIT_EXCEEDED"):
        assert code in description


async def test_ready_reports_the_database_the_migrations_and_the_worker_and_is_not_cached(world: World) -> None:
    response = await world.client.get("/health/ready")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"status", "checks"}
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "worker"}
    assert body["checks"]["migrations"]["status"] == "ok"
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["expected"]
    assert body["checks"]["worker"]["status"] == "disabled"  # the test profile runs no worker


async def schema_of(world: World) -> InMemorySchemaVersion:
    schema = await world.app.state.dishka_container.get(SchemaVersion)
    assert isinstance(schema, InMemorySchemaVersion)
    return schema


async def test_ready_answers_503_and_names_the_migrations_when_the_schema_is_behind(world: World) -> None:
    (await schema_of(world)).revision = "0001"

    response = await world.client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"]["migrations"]["status"] == "error"
    assert body["checks"]["migrations"]["current"] == "0001"
    assert "memo db upgrade" in body["checks"]["migrations"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"


async def test_live_answers_200_while_the_instance_is_not_ready(world: World) -> None:
    (await schema_of(world)).revision = None
    assert (await world.client.get("/health/ready")).status_code == 503

    response = await world.client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]


async def test_openapi_documents_the_three_health_routes_and_their_503s(world: World) -> None:
    paths = (await world.client.get("/schema/openapi.json")).json()["paths"]

    assert {"/health", "/health/live", "/health/ready"} <= set(paths)
    assert paths["/health/live"]["get"]["operationId"] == "Liveness"
    assert paths["/health/ready"]["get"]["operationId"] == "Readiness"
    assert {"200", "503"} <= set(paths["/health/ready"]["get"]["responses"])
    for path in ("/health", "/health/live", "/health/ready"):
        assert paths[path]["get"]["summary"]
        assert "security" not in paths[path]["get"]
