"""The OpenAPI document, with the v2 signing headers described as security schemes a client generator can read."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from memo.entrypoints.http.ops import VERSION

SIGNING = (
    "Every /api request except the WhatsApp webhook is signed (scheme v2). The signed string is eight lines "
    "joined with \\n: `v2`, the timestamp, the nonce, the key id, the upper-case method, the raw path, the raw "
    "query (empty line if none) and the lowercase hex SHA-256 of the raw body. X-Memo-Signature is `v2=` + "
    "hex HMAC-SHA256(secret, signed string). Requests older than 300 s or more than 60 s ahead are refused, "
    "and a nonce is accepted once per key."
)

LIMITS = (
    "Limits on every request, in the error envelope: a body larger than MEMO_MAX_BODY_BYTES is `413 "
    "PAYLOAD_TOO_LARGE` before any signature work; a body not complete within MEMO_BODY_TIMEOUT_S (10 s) is "
    "`408 REQUEST_TIMEOUT`; while the memory budget for bodies of requests not yet authenticated is spent, "
    "`503 SERVER_BUSY` with Retry-After; too many requests per key, or too many failed authentications per "
    "address, `429 RATE_LIMIT_EXCEEDED` with Retry-After and RateLimit-* headers."
)


def _header(name: str, description: str) -> SecurityScheme:
    return SecurityScheme(type="apiKey", name=name, security_scheme_in="header", description=description)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Memo",
        version=VERSION,
        description="Memo, a personal AI memory.\n\n" + SIGNING + "\n\n" + LIMITS,
        path="/schema",
        render_plugins=[ScalarRenderPlugin()],
        components=Components(security_schemes={
            "MemoHmacV2": _header("X-Memo-Signature", "`v2=` + 64 lowercase hex: " + SIGNING),
            "MemoKeyId": _header("X-Memo-Key-Id", "The API key's public id, [A-Za-z0-9_-]{8,64}."),
            "MemoTimestamp": _header("X-Memo-Timestamp", "Unix time in whole seconds."),
            "MemoNonce": _header("X-Memo-Nonce", "16 to 64 of [A-Za-z0-9_-], fresh for every request."),
            "MetaHubSignature": _header("X-Hub-Signature-256", "Meta's signature of the WhatsApp webhook: `sha256=` "
                                        "+ 64 lowercase hex HMAC-SHA256(WHATSAPP_APP_SECRET, the raw body)."),
        }),
    )


SIGNED: list[dict[str, list[str]]] = [{"MemoHmacV2": [], "MemoKeyId": [], "MemoTimestamp": [], "MemoNonce": []}]
META_SIGNED: list[dict[str, list[str]]] = [{"MetaHubSignature": []}]
