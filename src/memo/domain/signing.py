"""The byte-exact signed strings of API.md section 2, shared by the server's verifier and every Python client."""

from __future__ import annotations

import hashlib
import hmac

V2_PREFIX = "v2="


def v2_signed_string(*, timestamp: str, nonce: str, key_id: str, method: str, path: str, query: str,
                     body: bytes) -> bytes:
    """Eight lines joined by newlines; the path and query exactly as they travelled, percent-encoding untouched."""
    lines = ("v2", timestamp, nonce, key_id, method.upper(), path, query, hashlib.sha256(body).hexdigest())
    return "\n".join(lines).encode()


def v2_signature(secret: bytes, signed_string: bytes) -> str:
    return V2_PREFIX + hmac.new(secret, signed_string, hashlib.sha256).hexdigest()


def v1_signed_bytes(*, timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


def v1_signature(secret: bytes, *, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, v1_signed_bytes(timestamp=timestamp, body=body), hashlib.sha256).hexdigest()


def same_signature(presented: str, expected: str) -> bool:
    """Constant time for equal lengths; any other length or alphabet is a plain mismatch, never an exception."""
    try:
        presented_bytes = presented.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(presented_bytes, expected.encode("ascii"))
