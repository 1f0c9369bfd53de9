"""The OpenAPI document at /schema/openapi.json: valid, complete, and saying what the server really answers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from memo.adapters.system import FixedClock
from memo.application.errors import EmbedderUnavailable
from memo.application.manage_keys import CreateOwner
from memo.domain.errors import ApiKeyNotFound, OwnerAlreadyExists, OwnerNotFound
from memo.domain.memory import MemoryType
from memo.entrypoints.http.app import create_app
from memo.entrypoints.http.errors import FRAMEWORK_CODES, STATUS_BY_TYPE
from memo.entrypoints.http.openapi import AUTH, CATALOG
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, Signer, World, fresh_nonce, settings_for_tests

APP_SECRET = "d" * 40
DOCUMENT = "urn:memo:openapi"
NUMBER = "123456789012345"
SIGNED_FAILURES = {"400": {"VALIDATION_ERROR", "CLIENT_DISCONNECTED"}, "401": set(AUTH), "408": {"REQUEST_TIMEOUT"},
                   "413": {"PAYLOAD_TOO_LARGE"}, "429": {"RATE_LIMIT_EXCEEDED"}, "500": {"INTERNAL_ERROR"},
                   "503": {"SERVER_BUSY", "DATABASE_UNAVAILABLE", "NONCE_STORE_UNAVAILABLE"}}
# Each operation's own failures, beside those every signed route has.
OWN_FAILURES: dict[str, dict[str, set[str]]] = {
    "CreateMemory": {"409": {"IDEMPOTENCY_CONFLICT"}, "404": {"MEMORY_NOT_FOUND"}, "415": {"UNSUPPORTED_MEDIA_TYPE"}},
    "ListMemories": {},
    "GetMemory": {"404": {"MEMORY_NOT_FOUND"}},
    "UpdateMemory": {"404": {"MEMORY_NOT_FOUND"}, "412": {"VERSION_CONFLICT"}, "415": {"UNSUPPORTED_MEDIA_TYPE"}},
    "DeleteMemory": {"404": {"MEMORY_NOT_FOUND"}},
    "SearchMemories": {"503": {"VECTOR_INDEX_UNAVAILABLE"}, "415": {"UNSUPPORTED_MEDIA_TYPE"}},
    "Ask": {"503": {"ANSWERER_UNAVAILABLE"}, "415": {"UNSUPPORTED_MEDIA_TYPE"}},
    "SendWhatsAppMessage": {"415": {"UNSUPPORTED_MEDIA_TYPE"}, "422": {"OUTSIDE_CUSTOMER_CARE_WINDOW"},
                            "429": {"UPSTREAM_RATE_LIMITED"}, "502": {"UPSTREAM_AUTH_ERROR", "UPSTREAM_ERROR"},
                            "503": {"WHATSAPP_NOT_CONFIGURED"}},
    "WhatsAppSyncStatus": {},
}
UNSIGNED_FAILURES = {
    "VerifyWhatsAppWebhook": {"400": {"VALIDATION_ERROR"}, "403": {"FORBIDDEN"}, "429": {"RATE_LIMIT_EXCEEDED"},
                              "500": {"INTERNAL_ERROR"}},
    "ReceiveWhatsAppWebhook": {"400": {"VALIDATION_ERROR", "CLIENT_DISCONNECTED", "INVALID_JSON",
                                       "INVALID_WEBHOOK_OBJECT"},
                               "401": {"MISSING_WHATSAPP_SIGNATURE", "INVALID_WHATSAPP_SIGNATURE"},
                               "408": {"REQUEST_TIMEOUT"}, "413": {"PAYLOAD_TOO_LARGE"},
                               "429": {"RATE_LIMIT_EXCEEDED"}, "500": {"INTERNAL_ERROR"},
                               "503": {"SERVER_BUSY", "DATABASE_UNAVAILABLE"}},
}
# Codes the error mapping knows that no HTTP route can answer: the CLI's, and the embedder's (search reports it as
# VECTOR_INDEX_UNAVAILABLE).
NOT_ON_HTTP = {OwnerNotFound, ApiKeyNotFound, OwnerAlreadyExists, EmbedderUnavailable}


@pytest.fixture
async def documented(clock: FixedClock) -> AsyncIterator[World]:
    settings = settings_for_tests(whatsapp_app_secret=Secret(APP_SECRET), whatsapp_verify_token=Secret("v" * 20))
    app = create_app(settings, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock)


@pytest.fixture
async def document(documented: World) -> dict[str, Any]:
    answer = await documented.client.get("/schema/openapi.json")
    assert answer.status_code == 200
    loaded: dict[str, Any] = answer.json()
    return loaded


@pytest.fixture
async def owner(documented: World) -> Signer:
    async with documented.app.state.dishka_container() as scope:
        await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
    return await documented.signer_for("anna")


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {operation["operationId"]: (method.upper(), path, operation)
            for path, item in document["paths"].items() for method, operation in item.items()}


def documented_codes(response: dict[str, Any]) -> set[str]:
    return {example["value"]["code"] for example in response["content"]["application/json"]["examples"].values()}


def failures_of(operation: dict[str, Any]) -> dict[str, set[str]]:
    return {status: documented_codes(response) for status, response in operation["responses"].items()
            if int(status) >= 400 and "examples" in response.get("content", {}).get("application/json", {})}


def check(document: dict[str, Any], schema: dict[str, Any], value: object) -> None:
    """Validate `value` against a schema of the document (JSON Schema 2020-12, as OpenAPI 3.1 writes them)."""
    registry = Registry().with_resource(DOCUMENT, DRAFT202012.create_resource(document))
    jsonschema.Draft202012Validator({"$ref": DOCUMENT + schema["$ref"]} if "$ref" in schema else schema,
                                    registry=registry, format_checker=jsonschema.FormatChecker()).validate(value)


def response_schema(document: dict[str, Any], operation_id: str, status: int) -> dict[str, Any]:
    _, _, operation = operations(document)[operation_id]
    content = operation["responses"][str(status)]["content"]
    schema: dict[str, Any] = next(iter(content.values()))["schema"]
    return schema


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_of_the_app_is_in_the_document(documented: World, document: dict[str, Any]) -> None:
    page = {"/", "/app/{name:path}"}  # the browser page and its files (entrypoints/web): not the API's
    served = {(method, route.path_format) for route in documented.app.routes if isinstance(route, HTTPRoute)
              and not route.path.startswith("/schema") and route.path not in page
              for method in route.methods if method != "OPTIONS"}
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert served - listed == set()
    assert listed - served == set()
    assert {("GET", "/api/memories"), ("POST", "/api/memories/search"), ("POST", "/api/ask"),
            ("GET", "/api/whatsapp/webhook"), ("POST", "/api/whatsapp/webhook"), ("POST", "/api/whatsapp/send"),
            ("GET", "/api/whatsapp/sync-status"), ("GET", "/health")} <= listed


@pytest.mark.parametrize("operation_id", sorted(OWN_FAILURES))
def test_each_signed_operation_documents_its_failures_with_their_codes(document: dict[str, Any],
                                                                        operation_id: str) -> None:
    _, _, operation = operations(document)[operation_id]
    expected = {status: set(codes) for status, codes in SIGNED_FAILURES.items()}
    for status, codes in OWN_FAILURES[operation_id].items():
        expected[status] = expected.get(status, set()) | codes
    assert failures_of(operation) == expected
    assert {"MemoHmacV2": [], "MemoKeyId": [], "MemoTimestamp": [], "MemoNonce": []} in operation["security"]


@pytest.mark.parametrize("operation_id", sorted(UNSIGNED_FAILURES))
def test_the_webhook_operations_document_their_failures_with_their_codes(document: dict[str, Any],
                                                                          operation_id: str) -> None:
    assert failures_of(operations(document)[operation_id][2]) == UNSIGNED_FAILURES[operation_id]


def test_every_response_carries_the_request_id_and_limits_say_when_to_retry(document: dict[str, Any]) -> None:
    for operation_id, (_, _, operation) in operations(document).items():
        signed = any("MemoHmacV2" in requirement for requirement in operation.get("security", []))
        assert "500" in operation["responses"], operation_id
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert headers.get("X-Request-ID") == {"$ref": "#/components/headers/RequestId"}, (operation_id, status)
            if status == "429":
                assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers)
            if status == "401" and signed:
                assert headers["WWW-Authenticate"] == {"$ref": "#/components/headers/WwwAuthenticate"}
    required = {name for name, header in document["components"]["headers"].items() if header["required"]}
    assert {"RequestId", "RetryAfter", "RateLimitLimit", "RateLimitRemaining", "RateLimitReset"} <= required


def test_each_status_has_one_error_shape_whose_code_is_the_enum_of_its_codes(document: dict[str, Any]) -> None:
    by_status: dict[int, set[str]] = {}
    for failure in CATALOG.values():
        by_status.setdefault(failure.status, set()).add(failure.code)
    schemas = document["components"]["schemas"]
    for operation_id, (_, _, operation) in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) < 400 or operation_id in {"Health", "Readiness", "Liveness", "Metrics"}:
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            shape = schemas[ref.rsplit("/", 1)[1]]
            code = shape["properties"]["code"]
            assert set(code.get("enum", [code.get("const")])) == by_status[int(status)], (operation_id, status)
            assert set(shape["required"]) == {"success", "error", "code", "requestId"}
            for example in response["content"]["application/json"]["examples"].values():
                check(document, {"$ref": ref}, example["value"])


def test_every_code_the_error_mapping_answers_is_documented_at_its_status() -> None:
    for kind, status in STATUS_BY_TYPE.items():
        if kind not in NOT_ON_HTTP:
            assert CATALOG[kind.code].status == status, kind
    for status, (code, _) in FRAMEWORK_CODES.items():
        if status in {413, 415}:  # the framework's 400 is answered as VALIDATION_ERROR; 404 and 405 name no route
            assert CATALOG[code].status == status


def test_the_list_query_documents_its_limits_and_choices(document: dict[str, Any]) -> None:
    _, _, operation = operations(document)["ListMemories"]
    schemas = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
    assert schemas["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
                                "description": "1 to 100, default 20"}
    assert (schemas["offset"]["type"], schemas["offset"]["minimum"], schemas["offset"]["maximum"]) == (
        "integer", 0, 2**31 - 1)
    assert schemas["type"]["enum"] == [kind.value for kind in MemoryType]
    assert schemas["sortBy"]["enum"] == ["createdAt", "updatedAt"]
    assert schemas["sortOrder"]["enum"] == ["asc", "desc"]
    assert schemas["search"]["maxLength"] == 500
    assert schemas["createdAfter"]["format"] == schemas["createdBefore"]["format"] == "date-time"
    assert all("oneOf" not in schema for schema in schemas.values())


def test_the_bodies_document_their_limits_and_refuse_unknown_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    create = schemas["CreateMemoryBody"]["properties"]
    assert (create["content"]["minLength"], create["content"]["maxLength"]) == (1, 10_000)
    assert create["tags"]["maxItems"] == 10
    assert create["tags"]["items"] == {"type": "string", "minLength": 1, "maxLength": 50}
    assert schemas["UpdateMemoryBody"]["minProperties"] == 1
    assert schemas["SendMessageBody"]["properties"]["to"]["pattern"] == "^[0-9]{10,15}$"
    assert schemas["SearchBody"]["properties"]["limit"] == {"type": "integer", "minimum": 1, "maximum": 100,
                                                            "default": 10}
    assert schemas["AskBody"]["properties"]["limit"]["maximum"] == 20
    for name in ("CreateMemoryBody", "UpdateMemoryBody", "SearchBody", "AskBody", "SendMessageBody"):
        assert schemas[name]["additionalProperties"] is False, name
    webhook = operations(document)["ReceiveWhatsAppWebhook"][2]["requestBody"]["content"]["application/json"]
    assert webhook["schema"] == {"$ref": "#/components/schemas/WhatsAppNotification"}
    assert schemas["WhatsAppNotification"]["properties"]["object"]["const"] == "whatsapp_business_account"


def test_a_memory_is_documented_with_its_types_sources_and_times(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    memory = schemas["MemoryOut"]["properties"]
    assert schemas[memory["type"]["$ref"].rsplit("/", 1)[1]]["enum"] == [kind.value for kind in MemoryType]
    assert schemas[memory["source"]["$ref"].rsplit("/", 1)[1]]["enum"] == ["api", "whatsapp", "import"]
    assert memory["createdAt"]["format"] == memory["updatedAt"]["format"] == "date-time"
    assert (memory["id"]["format"], memory["version"]["minimum"]) == ("uuid", 1)


def test_the_signing_schemes_are_described_and_v1_is_deprecated(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {name: (scheme["in"], scheme["name"]) for name, scheme in schemes.items()} == {
        "MemoHmacV2": ("header", "X-Memo-Signature"), "MemoKeyId": ("header", "X-Memo-Key-Id"),
        "MemoTimestamp": ("header", "X-Memo-Timestamp"), "MemoNonce": ("header", "X-Memo-Nonce"),
        "MemoHmacV1": ("header", "X-Memo-Signature"), "MetaHubSignature": ("header", "X-Hub-Signature-256")}
    assert "eight lines" in schemes["MemoHmacV2"]["description"]
    assert schemes["MemoHmacV1"]["x-deprecated"] is True
    assert schemes["MemoHmacV1"]["description"].startswith("Deprecated")
    assert "MEMO_ACCEPT_V1_SIGNATURES" in schemes["MemoHmacV1"]["description"]
    assert operations(document)["ReceiveWhatsAppWebhook"][2]["security"] == [{"MetaHubSignature": []}]


async def test_the_request_body_examples_are_accepted_by_the_server(document: dict[str, Any], owner: Signer) -> None:
    schemas = document["components"]["schemas"]
    for name, path in (("CreateMemoryBody", "/api/memories"), ("SearchBody", "/api/memories/search"),
                       ("AskBody", "/api/ask")):
        assert schemas[name]["examples"], name
        for example in schemas[name]["examples"]:
            answer = await owner.post(path, example)
            assert answer.status_code in {200, 201}, (name, example, answer.text)
    made = (await owner.post("/api/memories", {"content": "to be updated"})).json()["data"]["id"]
    for example in schemas["UpdateMemoryBody"]["examples"]:
        assert (await owner.put(f"/api/memories/{made}", example)).status_code == 200, example


async def test_the_webhook_example_is_stored_when_meta_signs_it(documented: World, document: dict[str, Any],
                                                               owner: Signer) -> None:
    (example,) = document["components"]["schemas"]["WhatsAppNotification"]["examples"]
    raw = json.dumps(example).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    answer = await documented.client.post("/api/whatsapp/webhook", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
    assert (answer.status_code, answer.json()) == (200, {"success": True, "processed": 1})


async def refusals(documented: World, owner: Signer) -> list[tuple[str, int, httpx.Response]]:
    """Real failures, one of each kind a client meets, with the operation that answered it."""
    client = documented.client
    made = (await owner.post("/api/memories", {"content": "kept"}, headers={"Idempotency-Key": "k1"})).json()
    memory = made["data"]["id"]
    unsigned_headers = {"X-Memo-Key-Id": owner.key_id, "X-Memo-Timestamp": "12", "X-Memo-Nonce": fresh_nonce(),
                        "X-Memo-Signature": "v2=" + "0" * 64}
    return [
        ("ListMemories", 401, await client.get("/api/memories")),
        ("ListMemories", 401, await client.get("/api/memories", headers=unsigned_headers)),
        ("ListMemories", 400, await owner.get("/api/memories", params={"limit": "0", "sortBy": "size"})),
        ("GetMemory", 404, await owner.get("/api/memories/01900000-0000-7000-8000-000000000001")),
        ("GetMemory", 400, await owner.get("/api/memories/not-a-uuid")),
        ("CreateMemory", 415, await owner.request("POST", "/api/memories", content=b"hello",
                                                  headers={"Content-Type": "text/plain"})),
        ("CreateMemory", 409, await owner.post("/api/memories", {"content": "other"},
                                               headers={"Idempotency-Key": "k1"})),
        ("CreateMemory", 400, await owner.post("/api/memories", {"content": " ", "colour": "red"})),
        ("UpdateMemory", 412, await owner.put(f"/api/memories/{memory}", {"content": "new"},
                                              headers={"If-Match": '"7"'})),
        ("SendWhatsAppMessage", 503, await owner.post("/api/whatsapp/send", {"to": "4915112345678",
                                                                             "message": "hi"})),
        ("VerifyWhatsAppWebhook", 403, await client.get("/api/whatsapp/webhook", params={
            "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "c"})),
        ("ReceiveWhatsAppWebhook", 401, await client.post("/api/whatsapp/webhook", content=b"{}")),
    ]


async def test_real_failures_match_their_documented_status_shape_and_headers(
        documented: World, document: dict[str, Any], owner: Signer) -> None:
    for operation_id, status, answer in await refusals(documented, owner):
        assert answer.status_code == status, (operation_id, answer.text)
        _, _, operation = operations(document)[operation_id]
        documented_response = operation["responses"][str(status)]
        check(document, response_schema(document, operation_id, status), answer.json())
        assert answer.json()["code"] in documented_codes(documented_response), (operation_id, answer.text)
        for name, header in documented_response.get("headers", {}).items():
            component = document["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
            if component["required"]:
                assert name.lower() in answer.headers, (operation_id, name)


async def test_a_successful_answer_matches_its_documented_schema_and_etag(documented: World,
                                                                           document: dict[str, Any],
                                                                           owner: Signer) -> None:
    created = await owner.post("/api/memories", {"content": "Dentist on Friday", "tags": ["Health"]})
    check(document, response_schema(document, "CreateMemory", 201), created.json())
    assert created.headers["etag"] == '"1"'
    assert "ETag" in operations(document)["CreateMemory"][2]["responses"]["201"]["headers"]
    assert "ETag" in operations(document)["CreateMemory"][2]["responses"]["200"]["headers"]
    listed = await owner.get("/api/memories", params={"limit": "5"})
    check(document, response_schema(document, "ListMemories", 200), listed.json())


async def test_the_browsable_page_loads_this_document(documented: World) -> None:
    page = await documented.client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-url="/schema/openapi.json"' in page.text
    assert "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.72.1" in page.text
    assert "https://cdn.jsdelivr.net" in page.headers["content-security-policy"]  # the page's script may load
