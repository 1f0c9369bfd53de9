"""Sign requests for a Memo server (API.md section 2). Standard library only, so any Python program can use it.

Most programs want `MemoAuth` (an httpx.Auth) or `MemoClient` instead; this is the layer both are built on.

Sign the target exactly as the HTTP library will put it on the wire. Libraries may percent-encode what they are
given (httpx quotes spaces and non-ASCII characters, and builds `params=` itself), so build the request first and
sign its final URL, e.g. `str(httpx_request.url)`; nothing here re-encodes or normalises.

    headers = sign_request(method="POST", url_or_path_and_query="http://127.0.0.1:3001/api/memories",
                           body=body, key_id=key_id, secret=secret)
"""

from __future__ import annotations

import re
import secrets
import time

from memo.domain.owners import KEY_ID_PATTERN
from memo.domain.signing import v1_signature, v2_signature, v2_signed_string

NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SCHEME_AND_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def split_target(url_or_path_and_query: str) -> tuple[str, str]:
    """(path, raw query) of an absolute URL or an origin-form target; the fragment is dropped, as it is never sent."""
    target = url_or_path_and_query.partition("#")[0]
    origin = _SCHEME_AND_AUTHORITY.match(target)
    if origin is not None:
        target = target[origin.end():]
        if not target.startswith("/"):
            target = "/" + target  # "http://host" and "http://host?q" are sent as "/" and "/?q"
    elif not target.startswith("/"):
        raise ValueError("expected an absolute URL or a target starting with '/'")
    path, _, query = target.partition("?")
    return path, query


def sign_request(*, method: str, url_or_path_and_query: str, body: bytes, key_id: str, secret: str | bytes,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four X-Memo-* headers of scheme v2; a fresh nonce and the current time unless given."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError("a key id is 8 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
    nonce = secrets.token_urlsafe(24) if nonce is None else nonce
    if not NONCE_PATTERN.fullmatch(nonce):
        raise ValueError("a nonce is 16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
    sent_timestamp = _timestamp(timestamp)
    path, query = split_target(url_or_path_and_query)
    signed = v2_signed_string(timestamp=sent_timestamp, nonce=nonce, key_id=key_id, method=method, path=path,
                              query=query, body=body)
    return {
        "X-Memo-Key-Id": key_id,
        "X-Memo-Timestamp": sent_timestamp,
        "X-Memo-Nonce": nonce,
        "X-Memo-Signature": v2_signature(_secret_bytes(secret), signed),
    }


def sign_v1(*, body: bytes, secret: str | bytes, timestamp: int | None = None,
            sha256_prefix: bool = False) -> dict[str, str]:
    """The legacy scheme's two headers. It binds neither method nor path: a migration aid, never a recommendation."""
    sent_timestamp = _timestamp(timestamp)
    digest = v1_signature(_secret_bytes(secret), timestamp=sent_timestamp, body=body)
    return {"X-Memo-Timestamp": sent_timestamp, "X-Memo-Signature": ("sha256=" if sha256_prefix else "") + digest}


def _timestamp(timestamp: int | None) -> str:
    value = int(time.time()) if timestamp is None else timestamp
    if value < 0:
        raise ValueError("the timestamp is Unix time in whole seconds, not negative")
    return str(value)


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret
