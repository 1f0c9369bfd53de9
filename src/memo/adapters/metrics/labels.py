"""Label values that stay bounded whatever a caller sends: a metric's series are counted in tens, never per input.

A value that does not look like one Memo itself writes (a code, a method, a job kind) is folded into one `OTHER`
value, so no request can mint a series, and nothing that could hold data (an id, an address, text) is ever a label.
"""

from __future__ import annotations

import re

OTHER = "OTHER"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
_KIND = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# the refusals of a request's credentials (API.md 2.3, and the webhook's own two): of all security events, the ones
# counted again as authentication failures
AUTH_FAILURE_CODES = frozenset({
    "MISSING_SIGNATURE", "MISSING_TIMESTAMP", "INVALID_TIMESTAMP", "MISSING_KEY_ID", "MISSING_NONCE", "INVALID_NONCE",
    "UNKNOWN_KEY", "EXPIRED_TIMESTAMP", "REPLAYED_REQUEST", "INVALID_SIGNATURE", "MISSING_WHATSAPP_SIGNATURE",
    "INVALID_WHATSAPP_SIGNATURE", "INVALID_VERIFY_TOKEN"})
# which limit a rate limiter key counts against, by the prefix the use cases give it (`key:<key id>` and so on)
LIMIT_OF_PREFIX = {"key": "key", "auth-fail": "ip", "send": "send", "whatsapp-verify": "webhook_verify",
                   "whatsapp-webhook": "webhook_signature"}


def code_label(reason: str) -> str:
    """The code of an audit reason or an error: its first word (`UNKNOWN_PHONE_NUMBER_ID 1234` -> the code)."""
    code = reason.split(" ", 1)[0]
    return code if _CODE.fullmatch(code) else OTHER


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def kind_label(kind: str) -> str:
    return kind if _KIND.fullmatch(kind) else "other"


def limit_label(key: str) -> str:
    """The limit a rate limiter key belongs to: the part before its first `:`, never what follows (a key id, an
    address)."""
    return LIMIT_OF_PREFIX.get(key.split(":", 1)[0], "other")
