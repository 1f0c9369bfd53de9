"""The OpenAPI document at /schema/openapi.json: every route with its limits, its failures and their codes, and the
signing schemes as security schemes a client generator can read.

Routes declare their failures by code (`failures("MEMORY_NOT_FOUND", ...)`): each code belongs to one status, each
status has one error shape whose `code` is the enum of that status's codes, and every documented response gets an
example per code. What holds for every response of a kind is added once, when the document is written: the
request id on every response, the rate-limit headers of signed routes and of every 429, WWW-Authenticate on the
401s of signed routes, and 500 INTERNAL_ERROR wherever a route did not say it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType

from memo.entrypoints.http.ops import VERSION
from memo.entrypoints.http.schemas import CreateMemoryBody, FieldError, SendMessageBody, UpdateMemoryBody
from memo.entrypoints.http.search_schemas import AskBody, SearchBody

SIGNING = (
    "Every /api request except the WhatsApp webhook is signed (scheme v2). The signed string is eight lines "
    "joined with \\n: `v2`, the timestamp, the nonce, the key id, the upper-case method, the raw path, the raw "
    "query (empty line if none) and the lowercase hex SHA-256 of the raw body. X-Memo-Signature is `v2=` + "
    "hex HMAC-SHA256(secret, signed string). Requests older than 300 s or more than 60 s ahead are refused, "
    "and a nonce is accepted once per key."
)

V1_SIGNING = (
    "Deprecated, and off unless the server sets MEMO_ACCEPT_V1_SIGNATURES=true: the original frontend's scheme, "
    "kept only as a migration aid. X-Memo-Signature is 64 hex (optionally after `sha256=`) of HMAC-SHA256("
    "API_SECRET_KEY, `<timestamp>.<raw body>`) with X-Memo-Timestamp; it binds neither method nor path, and every "
    "v1 request acts for the default owner. While v1 is off, such a request is `401 INVALID_SIGNATURE`."
)

LIMITS = (
    "Limits on every request, in the error envelope: a body larger than MEMO_MAX_BODY_BYTES is `413 "
    "PAYLOAD_TOO_LARGE` before any signature work; a body not complete within MEMO_BODY_TIMEOUT_S (10 s) is "
    "`408 REQUEST_TIMEOUT`; while the memory budget for bodies of requests not yet authenticated is spent, "
    "`503 SERVER_BUSY` with Retry-After; too many requests per key, or too many failed authentications per "
    "address, `429 RATE_LIMIT_EXCEEDED` with Retry-After and RateLimit-* headers."
)

ENVELOPE = (
    'Success is `{"success": true, "data": ...}`; every failure is `{"success": false, "error", "code", '
    '"details"?, "requestId"}` with the status and codes each route lists. Every response carries X-Request-ID.'
)

REQUEST_ID = "00000000000000000000000000000000"
SCALAR_VERSION = "1.72.1"  # the page's script, pinned: `latest` would change the page under a running server


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    code: str
    when: str
    error: str  # the sentence the server answers with
    details: str | list[dict[str, str]] | None = None


def _catalog(*entries: Failure) -> dict[str, Failure]:
    return {entry.code: entry for entry in entries}


NOT_VERIFIED = "The request signature does not verify."

CATALOG = _catalog(
    Failure(400, "VALIDATION_ERROR", "a body, query, path or header value is invalid; `details` lists each field",
            "The request is invalid.", [{"field": "content", "message": "must not be empty or only white space"}]),
    Failure(400, "CLIENT_DISCONNECTED", "the client went away before its body was complete",
            "The client disconnected before its body was complete."),
    Failure(400, "INVALID_JSON", "the verified body is not JSON", "The request body is not valid JSON."),
    Failure(400, "INVALID_JSON_LINES", "the import body is not UTF-8, or none of its lines is JSON",
            "The body is not JSON Lines: send one JSON object a line."),
    Failure(400, "INVALID_WEBHOOK_OBJECT", "`object` is not `whatsapp_business_account`",
            "Not a WhatsApp Business Account notification: object 'page', expected 'whatsapp_business_account'."),
    Failure(401, "MISSING_SIGNATURE", "no X-Memo-Signature",
            "The request is not signed: X-Memo-Signature is missing."),
    Failure(401, "MISSING_TIMESTAMP", "no X-Memo-Timestamp", "X-Memo-Timestamp is missing."),
    Failure(401, "INVALID_TIMESTAMP", "X-Memo-Timestamp is not a plain decimal integer",
            "X-Memo-Timestamp is not a plain decimal integer."),
    Failure(401, "MISSING_KEY_ID", "no X-Memo-Key-Id (v2)", "X-Memo-Key-Id is missing."),
    Failure(401, "MISSING_NONCE", "no X-Memo-Nonce (v2)", "X-Memo-Nonce is missing."),
    Failure(401, "INVALID_NONCE", "the nonce is not 16 to 64 of [A-Za-z0-9_-]", "X-Memo-Nonce is malformed.",
            "16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'."),
    Failure(401, "UNKNOWN_KEY", "no active key has this id (revoked keys included)",
            "No active API key has this id."),
    Failure(401, "EXPIRED_TIMESTAMP", "the timestamp is outside the window (300 s back, 60 s ahead)",
            "The request timestamp is too old.", "The timestamp is 301 s old; at most 300 s is accepted."),
    Failure(401, "REPLAYED_REQUEST", "this nonce (v2) or replay key (v1) was already used in the window",
            "This nonce was already used with this key.", "Send a fresh X-Memo-Nonce with every request."),
    Failure(401, "INVALID_SIGNATURE", "anything else that does not verify, a v1 signature while v1 is off included",
            NOT_VERIFIED),
    Failure(401, "MISSING_WHATSAPP_SIGNATURE", "no X-Hub-Signature-256",
            "The webhook is not signed: X-Hub-Signature-256 is missing."),
    Failure(401, "INVALID_WHATSAPP_SIGNATURE", "X-Hub-Signature-256 is malformed or verifies with no app secret",
            "The webhook signature does not verify with any configured app secret."),
    Failure(403, "FORBIDDEN", "wrong mode or verify token, no challenge, or no WHATSAPP_VERIFY_TOKEN set",
            "The webhook subscription cannot be verified."),
    Failure(404, "MEMORY_NOT_FOUND", "no memory of the caller has this id (another owner's memory included)",
            "Memory not found."),
    Failure(408, "REQUEST_TIMEOUT", "the body did not arrive within MEMO_BODY_TIMEOUT_S",
            "The request body did not arrive in time."),
    Failure(409, "IDEMPOTENCY_CONFLICT", "this Idempotency-Key was used with another body within 24 h",
            "This Idempotency-Key was already used with a different request body."),
    Failure(412, "VERSION_CONFLICT", "If-Match names a version that is no longer current",
            "The memory has changed: its current version is 3."),
    Failure(413, "PAYLOAD_TOO_LARGE", "the body is larger than MEMO_MAX_BODY_BYTES (checked before any signature work)",
            "The request body is larger than this server accepts."),
    Failure(415, "UNSUPPORTED_MEDIA_TYPE", "a body that is not application/json (application/x-ndjson for an import)",
            "Send the body as application/json."),
    Failure(422, "OUTSIDE_CUSTOMER_CARE_WINDOW", "Meta 131047: more than 24 h since the person last wrote",
            "The recipient last wrote more than 24 hours ago: WhatsApp allows only a template message now.",
            "Meta error 131047: Re-engagement message"),
    Failure(429, "RATE_LIMIT_EXCEEDED", "over the limit of this key, or of this address for failed authentications",
            "Too many requests; slow down and retry later."),
    Failure(429, "UPSTREAM_RATE_LIMITED", "Meta 130429, 131056, 4 or 80007: Meta's limits; retry after Retry-After",
            "The WhatsApp Cloud API is rate limiting (Meta error 130429); retry in 60 s.",
            "Meta error 130429: Rate limit hit"),
    Failure(500, "INTERNAL_ERROR", "a fault that is not the caller's; the detail is in the server's log",
            "An unexpected error occurred; it has been logged."),
    Failure(502, "UPSTREAM_AUTH_ERROR", "Meta 190: WHATSAPP_ACCESS_TOKEN expired or is invalid",
            "The WhatsApp access token was refused (expired or invalid): replace WHATSAPP_ACCESS_TOKEN.",
            "Meta error 190: Invalid OAuth access token"),
    Failure(502, "UPSTREAM_ERROR", "any other refusal or silence of the Cloud API, timeouts included",
            "The WhatsApp Cloud API refused sending the message (HTTP 400, Meta error 100)",
            "Meta error 100: Invalid parameter"),
    Failure(503, "SERVER_BUSY", "the memory budget for unauthenticated bodies is spent; retry after Retry-After",
            "The server is busy; retry shortly."),
    Failure(503, "DATABASE_UNAVAILABLE", "the database cannot be reached",
            "The database is unavailable; retry shortly."),
    Failure(503, "NONCE_STORE_UNAVAILABLE", "replay protection (Redis) cannot be reached",
            "Replay protection is unavailable, so signed requests are refused; retry shortly."),
    Failure(503, "VECTOR_INDEX_UNAVAILABLE", "semantic search while the vector index or the embedder is down",
            "Semantic search is unavailable right now; keyword search still works."),
    Failure(503, "ANSWERER_UNAVAILABLE", "the answering model cannot be reached",
            "Answering is unavailable right now; retry shortly."),
    Failure(503, "WHATSAPP_NOT_CONFIGURED", "no WHATSAPP_ACCESS_TOKEN or WHATSAPP_PHONE_NUMBER_ID",
            "WhatsApp sending is not configured: set WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID."),
)

AUTH = ("MISSING_SIGNATURE", "MISSING_TIMESTAMP", "INVALID_TIMESTAMP", "MISSING_KEY_ID", "MISSING_NONCE",
        "INVALID_NONCE", "UNKNOWN_KEY", "EXPIRED_TIMESTAMP", "REPLAYED_REQUEST", "INVALID_SIGNATURE")
# What any request can meet before its route runs: reading the body, the server's own faults.
BODY = ("VALIDATION_ERROR", "CLIENT_DISCONNECTED", "REQUEST_TIMEOUT", "PAYLOAD_TOO_LARGE", "SERVER_BUSY",
        "INTERNAL_ERROR")
SIGNED_ROUTE = (*BODY, *AUTH, "RATE_LIMIT_EXCEEDED", "DATABASE_UNAVAILABLE", "NONCE_STORE_UNAVAILABLE")
JSON_BODY_ROUTE = (*SIGNED_ROUTE, "UNSUPPORTED_MEDIA_TYPE")

ERROR_NAMES = {400: "BadRequestError", 401: "UnauthorizedError", 403: "ForbiddenError", 404: "NotFoundError",
               408: "RequestTimeoutError", 409: "ConflictError", 412: "PreconditionFailedError",
               413: "PayloadTooLargeError", 415: "UnsupportedMediaTypeError", 422: "UnprocessableError",
               429: "TooManyRequestsError", 500: "InternalError", 502: "BadGatewayError", 503: "UnavailableError"}


def _error_shape(status: int) -> type[msgspec.Struct]:
    """The error envelope of one status, its `code` narrowed to that status's codes (documentation only)."""
    codes = tuple(failure.code for failure in CATALOG.values() if failure.status == status)
    return msgspec.defstruct(ERROR_NAMES[status], [
        ("success", Literal[False]),
        ("error", str),
        ("code", Literal.__getitem__(codes)),
        ("details", str | list[FieldError] | msgspec.UnsetType, msgspec.UNSET),
        ("requestId", str),
    ], kw_only=True, module=__name__)


ERROR_SHAPES = {status: _error_shape(status) for status in ERROR_NAMES}


def _example(failure: Failure) -> Example:
    value: dict[str, Any] = {"success": False, "error": failure.error, "code": failure.code}
    if failure.details is not None:
        value["details"] = failure.details
    value["requestId"] = REQUEST_ID
    return Example(id=failure.code, summary=failure.when, value=value)


def failures(*codes: str) -> dict[int, ResponseSpec]:
    """The documented error responses of a route: one per status, listing its codes, an example of each."""
    by_status: dict[int, list[Failure]] = {}
    for code in dict.fromkeys(codes):
        failure = CATALOG[code]
        by_status.setdefault(failure.status, []).append(failure)
    return {status: ResponseSpec(ERROR_SHAPES[status], generate_examples=False, examples=[
        _example(failure) for failure in found], description="\n".join(
            f"- `{failure.code}`: {failure.when}" for failure in found)) for status, found in sorted(by_status.items())}


def query_schema(**schema: Any) -> dict[str, Any]:  # noqa: ANN401 - Schema's own field values
    """`schema_extra` for a query parameter taken as text: the value's documented type and limits, no null."""
    return {"one_of": None, "type": OpenAPIType.STRING, **schema}


# --- headers added to every response of a kind ----------------------------------------------------------------

def _header(description: str, schema: Schema, *, required: bool = True) -> OpenAPIHeader:
    return OpenAPIHeader(schema=schema, description=description, required=required)


_SECONDS = Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]+$")
HEADERS: dict[str, OpenAPIHeader | Reference] = {
    "RequestId": _header("Echoed from the request when it is 1 to 128 of [A-Za-z0-9._:@-], generated otherwise",
                         Schema(type=OpenAPIType.STRING, min_length=1, max_length=128)),
    "WwwAuthenticate": _header("The scheme to sign with", Schema(type=OpenAPIType.STRING, const="Memo-HMAC-SHA256")),
    "RetryAfter": _header("Seconds to wait before retrying", _SECONDS),
    "RetryAfterOptional": _header("Seconds to wait before retrying (SERVER_BUSY)", _SECONDS, required=False),
    "RateLimitLimit": _header("Requests allowed in the window", _SECONDS),
    "RateLimitRemaining": _header("Requests left in the window", _SECONDS),
    "RateLimitReset": _header("Seconds until the window resets", _SECONDS),
    **{f"{name}Optional": _header(description, _SECONDS, required=False) for name, description in (
        ("RateLimitLimit", "Requests allowed per key in the window (signed routes, once authenticated)"),
        ("RateLimitRemaining", "Requests this key has left in the window"),
        ("RateLimitReset", "Seconds until this key's window resets"))},
}
RATE_LIMIT_NAMES = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _ref(name: str) -> Reference:
    return Reference(ref=f"#/components/headers/{name}")


def _operations(document: OpenAPI) -> Iterator[Operation]:
    for item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(item, method, None)
            if isinstance(operation, Operation):
                yield operation


def _is_signed(operation: Operation) -> bool:
    return any("MemoHmacV2" in requirement for requirement in operation.security or [])


def _internal_error() -> OpenAPIResponse:
    spec = failures("INTERNAL_ERROR")[500]
    return OpenAPIResponse(description=spec.description, content={"application/json": OpenAPIMediaType(
        schema=Reference(ref=f"#/components/schemas/{ERROR_NAMES[500]}"),
        examples={f"example-{index}": example for index, example in enumerate(spec.examples or [])})})


def _keyed_by_id(examples: dict[str, Example | Reference] | None) -> dict[str, Example | Reference] | None:
    """Examples under their own ids; the id itself is no field of an OpenAPI Example, so it is not written."""
    if not examples:
        return examples
    return {example.id if isinstance(example, Example) and example.id else key:
            replace(example, id=None) if isinstance(example, Example) else example
            for key, example in examples.items()}


def _finish_operation(operation: Operation, *, has_internal_error_shape: bool) -> None:
    responses = operation.responses if operation.responses is not None else {}
    if "500" not in responses and has_internal_error_shape:
        responses["500"] = _internal_error()
    operation.responses = responses
    signed = _is_signed(operation)
    success = [response for status, response in responses.items() if status.startswith("2")]
    declared = next((dict(response.headers) for response in success
                     if isinstance(response, OpenAPIResponse) and response.headers), {})
    for status, response in responses.items():
        if not isinstance(response, OpenAPIResponse):
            continue
        for media in (response.content or {}).values():
            media.examples = _keyed_by_id(media.examples)
        headers = dict(response.headers or {})
        if status.startswith("2"):
            headers = {**declared, **headers}
        headers["X-Request-ID"] = _ref("RequestId")
        if status == "429":
            headers.update({"Retry-After": _ref("RetryAfter"), **{
                name: _ref(name.replace("-", "")) for name in RATE_LIMIT_NAMES}})
        elif signed and status != "401":
            headers.update({name: _ref(name.replace("-", "") + "Optional") for name in RATE_LIMIT_NAMES})
        if status == "401" and signed:
            headers["WWW-Authenticate"] = _ref("WwwAuthenticate")
        if status == "503":
            headers["Retry-After"] = _ref("RetryAfterOptional")
        response.headers = headers


# --- what Litestar cannot see ----------------------------------------------------------------------------------

# Request bodies decoded with forbid_unknown_fields: an unknown field is a 400, so the document closes them.
CLOSED_BODIES = tuple(body.__name__ for body in (CreateMemoryBody, UpdateMemoryBody, SearchBody, AskBody,
                                                 SendMessageBody) if body.__struct_config__.forbid_unknown_fields)
# An update names at least one field (UpdateMemory refuses an empty one).
AT_LEAST_ONE_FIELD = (UpdateMemoryBody.__name__,)

# The webhook reads its body as raw bytes (only those verify), so Litestar has no type to describe it: Meta's
# notification is described here, the fields Memo reads; Meta adds fields at will, and they are ignored.
WEBHOOK_OPERATION = "ReceiveWhatsAppWebhook"
WEBHOOK_BODY = "WhatsAppNotification"
_TEXT = {"type": "string"}
_OBJECTS = {"type": "array", "items": {"type": "object"}}
WHATSAPP_NOTIFICATION: dict[str, Any] = {
    "title": WEBHOOK_BODY,
    "description": "Meta's webhook notification (only `object` and `entry` are read; a message or status that does "
                   "not parse is skipped, never its siblings).",
    "type": "object",
    "required": ["object", "entry"],
    "properties": {
        "object": {"type": "string", "const": "whatsapp_business_account"},
        "entry": {"type": "array", "items": {"type": "object", "properties": {
            "id": _TEXT,
            "changes": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string", "examples": ["messages"]},
                "value": {"type": "object", "properties": {
                    "messaging_product": {"type": "string", "const": "whatsapp"},
                    "metadata": {"type": "object", "required": ["phone_number_id"], "properties": {
                        "phone_number_id": _TEXT, "display_phone_number": _TEXT}},
                    "contacts": {"type": "array", "items": {"type": "object", "properties": {
                        "wa_id": _TEXT, "user_id": _TEXT,
                        "profile": {"type": "object", "properties": {"name": _TEXT}}}}},
                    "messages": {"type": "array", "items": {"type": "object", "required": ["id", "timestamp", "type"],
                                                            "properties": {
                        "id": _TEXT, "from": _TEXT, "from_user_id": _TEXT,
                        "timestamp": {"type": "string", "pattern": "^[0-9]{1,11}$"},
                        "type": {"type": "string", "examples": ["text", "image", "audio", "reaction"]},
                        "text": {"type": "object", "required": ["body"], "properties": {"body": _TEXT}}}}},
                    "statuses": {"type": "array", "items": {"type": "object", "required": ["id", "status", "timestamp"],
                                                            "properties": {
                        "id": _TEXT, "recipient_id": _TEXT,
                        "status": {"type": "string", "enum": ["sent", "delivered", "read", "failed"]},
                        "timestamp": {"type": "string", "pattern": "^[0-9]{1,11}$"}, "errors": _OBJECTS}}},
                    "errors": _OBJECTS,
                }},
            }}},
        }}},
    },
    "examples": [{"object": "whatsapp_business_account", "entry": [{"id": "109876543210987", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15551230000", "phone_number_id": "123456789012345"},
            "contacts": [{"profile": {"name": "Anna Schmidt"}, "wa_id": "4915112345678"}],
            "messages": [{"from": "4915112345678", "id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNBQzFF",
                          "timestamp": "1767600000", "type": "text",
                          "text": {"body": "Hi, can you remind me about the dentist at 3pm?"}}]}}]}]}],
}


IMPORT_OPERATION = "ImportMemories"
_IMPORT_EXAMPLE = (
    '{"id":"0192f0c8-6a1e-7c3b-9d2e-3f4a5b6c7d8e","content":"Dentist on Friday at 3 pm","type":"reminder",'
    '"tags":["health"],"metadata":{"where":"Main Street 4"},"source":"api","createdAt":"2026-11-28T09:53:13.123456Z",'
    '"updatedAt":"2026-11-28T09:53:13.123456Z","version":1}\n'
    '{"id":"0192f0c9-1b2c-7d3e-8f4a-5b6c7d8e9f0a","content":"The wifi password is on the fridge","type":"note",'
    '"createdAt":"2026-11-29T18:02:44Z"}\n')
_JSON_LINES_BODY: dict[str, Any] = {
    "schema": {"type": "string", "description": "JSON Lines: one memory a line as GET /api/export writes it"},
    "example": _IMPORT_EXAMPLE}
IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "description": "JSON Lines (UTF-8), one memory a line as the export writes them: `id`, `content`, `type` and "
                   "`createdAt` required; `tags`, `metadata`, `source`, `updatedAt`, `version`, `whatsapp` optional. "
                   "Blank lines are ignored; a bad line is skipped with its number and a code. At most "
                   "MEMO_MAX_BODY_BYTES a batch. See docs/export.md.",
    "content": {"application/x-ndjson": _JSON_LINES_BODY, "application/jsonl": _JSON_LINES_BODY}}


EXPORT_OPERATION = "ExportMemories"


def _both_export_formats(operation: dict[str, Any]) -> None:
    """The export's 200 is JSON Lines or, with format=markdown, Markdown; a ResponseSpec names one media type."""
    content = operation["responses"]["200"].setdefault("content", {})
    jsonl = content.get("application/x-ndjson", {"schema": {"type": "string"}})
    content["text/markdown; charset=utf-8"] = {"schema": {"type": "string"}}
    content["text/markdown"] = {"schema": {"type": "string"}}
    content["application/x-ndjson"] = jsonl


def _describe_unseen(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for name in CLOSED_BODIES:
        if name in components:
            components[name]["additionalProperties"] = False
    for name in AT_LEAST_ONE_FIELD:
        if name in components:
            components[name]["minProperties"] = 1
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == WEBHOOK_OPERATION:
                components[WEBHOOK_BODY] = WHATSAPP_NOTIFICATION
                operation["requestBody"] = {"required": True, "description": "The raw bytes Meta signed", "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{WEBHOOK_BODY}"}}}}
            if isinstance(operation, dict) and operation.get("operationId") == IMPORT_OPERATION:
                operation["requestBody"] = IMPORT_BODY  # the handler reads the raw body: Litestar sees no `data`
            if isinstance(operation, dict) and operation.get("operationId") == EXPORT_OPERATION:
                _both_export_formats(operation)
    schema["components"]["securitySchemes"]["MemoHmacV1"]["x-deprecated"] = True


class MemoOpenAPI(OpenAPI):
    """The document, finished when it is written: by then the paths and component schemas are all in."""

    def to_schema(self) -> dict[str, Any]:
        has_internal_error_shape = ERROR_NAMES[500] in (self.components.schemas or {})
        for operation in _operations(self):
            _finish_operation(operation, has_internal_error_shape=has_internal_error_shape)
        schema = super().to_schema()
        _describe_unseen(schema)
        return schema


class MemoOpenAPIConfig(OpenAPIConfig):
    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return MemoOpenAPI(**{spec.name: getattr(base, spec.name) for spec in fields(base)})


def _key_header(name: str, description: str) -> SecurityScheme:
    return SecurityScheme(type="apiKey", name=name, security_scheme_in="header", description=description)


def openapi_config() -> OpenAPIConfig:
    return MemoOpenAPIConfig(
        title="Memo",
        version=VERSION,
        description="Memo, a personal AI memory.\n\n" + ENVELOPE + "\n\n" + SIGNING + "\n\n" + LIMITS,
        path="/schema",
        render_plugins=[ScalarRenderPlugin(version=SCALAR_VERSION)],
        components=Components(headers=HEADERS, security_schemes={
            "MemoHmacV2": _key_header("X-Memo-Signature", "`v2=` + 64 lowercase hex: " + SIGNING),
            "MemoKeyId": _key_header("X-Memo-Key-Id", "The API key's public id, [A-Za-z0-9_-]{8,64}."),
            "MemoTimestamp": _key_header("X-Memo-Timestamp", "Unix time in whole seconds, decimal digits only."),
            "MemoNonce": _key_header("X-Memo-Nonce", "16 to 64 of [A-Za-z0-9_-], fresh for every request."),
            "MemoHmacV1": _key_header("X-Memo-Signature", V1_SIGNING),
            "MetaHubSignature": _key_header("X-Hub-Signature-256", "Meta's signature of the WhatsApp webhook: "
                                            "`sha256=` + 64 lowercase hex HMAC-SHA256(WHATSAPP_APP_SECRET, the raw "
                                            "body)."),
        }),
    )


# Either requirement set signs a request; v1 only where the server accepts it (see MemoHmacV1).
SIGNED: list[dict[str, list[str]]] = [{"MemoHmacV2": [], "MemoKeyId": [], "MemoTimestamp": [], "MemoNonce": []},
                                      {"MemoHmacV1": [], "MemoTimestamp": []}]
META_SIGNED: list[dict[str, list[str]]] = [{"MetaHubSignature": []}]
