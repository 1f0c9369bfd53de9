"""The published vectors (tests/vectors/signing.json) hold for memo.domain.signing, memo.client and the server side."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from memo.adapters.signing.hmac import HmacRequestAuthenticator
from memo.adapters.system import FixedClock
from memo.application.dto import ActiveKey, SignedRequest
from memo.application.ports import KeyStore
from memo.client import sign_request, sign_v1, split_target
from memo.domain.owners import Principal
from memo.domain.signing import v1_signature, v1_signed_bytes, v2_signature, v2_signed_string

VECTORS_DIR = Path(__file__).parents[1] / "vectors"
VECTORS: list[dict[str, Any]] = json.loads((VECTORS_DIR / "signing.json").read_text(encoding="utf-8"))["vectors"]
V2 = [vector for vector in VECTORS if vector["scheme"] == "v2"]
V1 = [vector for vector in VECTORS if vector["scheme"] == "v1"]
OWNER = UUID("01900000-0000-7000-8000-00000000000a")


def body_of(vector: dict[str, Any]) -> bytes:
    if "bodyRepeat" in vector:
        return str(vector["bodyRepeat"]["text"]).encode() * int(vector["bodyRepeat"]["times"])
    return base64.b64decode(vector["bodyBase64"])


def target_of(vector: dict[str, Any]) -> str:
    return f"{vector['path']}?{vector['query']}" if vector["query"] else vector["path"]


def named(vectors: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("vector", vectors, ids=[vector["name"] for vector in vectors])


class OneKeyStore(KeyStore):
    def __init__(self, key_id: str, secret: bytes) -> None:
        self._key = ActiveKey(key_id=key_id, owner_id=OWNER, secret=secret)

    async def find_active(self, key_id: str) -> ActiveKey | None:
        return self._key if key_id == self._key.key_id else None

    async def owner_id_by_name(self, name: str) -> UUID | None:
        return OWNER if name == "default" else None


def authenticator_for(vector: dict[str, Any]) -> HmacRequestAuthenticator:
    clock = FixedClock(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
    secret = vector["secret"].encode()
    keys = OneKeyStore(vector["keyId"] or "unused-key", secret)
    v1_secret = secret if vector["scheme"] == "v1" else None
    return HmacRequestAuthenticator(keys, clock, v1_secret=v1_secret)


def request_for(vector: dict[str, Any], headers: dict[str, str]) -> SignedRequest:
    return SignedRequest(method=vector["method"], path=vector["path"], query=vector["query"],
                         headers={name.lower(): value for name, value in headers.items()}, body=body_of(vector),
                         client_ip="192.0.2.1")


def test_the_vectors_cover_every_published_case() -> None:
    assert len(VECTORS) >= 14
    assert len({vector["name"] for vector in VECTORS}) == len(VECTORS)
    assert any(vector["method"] != vector["method"].upper() for vector in V2)
    assert any(len(body_of(vector)) > 64 * 1024 for vector in V2)
    assert any(vector["signature"].startswith("sha256=") for vector in V1)


def test_the_vectors_file_is_what_its_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_signing_vectors", VECTORS_DIR / "make_signing_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.build()["vectors"] == VECTORS


@named(VECTORS)
def test_each_vector_body_is_consistent(vector: dict[str, Any]) -> None:
    body = body_of(vector)
    assert hashlib.sha256(body).hexdigest() == vector["bodySha256"]
    if "bodyText" in vector:
        assert vector["bodyText"].encode() == body


@named(V2)
def test_domain_signing_reproduces_the_v2_vector(vector: dict[str, Any]) -> None:
    signed = v2_signed_string(timestamp=vector["timestamp"], nonce=vector["nonce"], key_id=vector["keyId"],
                              method=vector["method"], path=vector["path"], query=vector["query"],
                              body=body_of(vector))
    assert signed == vector["signedString"].encode()
    assert v2_signature(vector["secret"].encode(), signed) == vector["signature"]


@named(V2)
def test_the_client_signs_the_v2_vector(vector: dict[str, Any]) -> None:
    headers = sign_request(method=vector["method"], url_or_path_and_query=target_of(vector), body=body_of(vector),
                           key_id=vector["keyId"], secret=vector["secret"], timestamp=int(vector["timestamp"]),
                           nonce=vector["nonce"])
    assert headers == {"X-Memo-Key-Id": vector["keyId"], "X-Memo-Timestamp": vector["timestamp"],
                       "X-Memo-Nonce": vector["nonce"], "X-Memo-Signature": vector["signature"]}


@named(V2)
def test_the_client_signs_the_v2_vector_from_an_absolute_url(vector: dict[str, Any]) -> None:
    url = "https://memo.example:8443" + target_of(vector) + "#fragment-is-never-sent"
    headers = sign_request(method=vector["method"], url_or_path_and_query=url, body=body_of(vector),
                           key_id=vector["keyId"], secret=vector["secret"].encode(),
                           timestamp=int(vector["timestamp"]), nonce=vector["nonce"])
    assert headers["X-Memo-Signature"] == vector["signature"]


@named(V2)
async def test_the_server_accepts_the_v2_vector(vector: dict[str, Any]) -> None:
    headers = {"x-memo-key-id": vector["keyId"], "x-memo-timestamp": vector["timestamp"],
               "x-memo-nonce": vector["nonce"], "x-memo-signature": vector["signature"]}
    verified = await authenticator_for(vector).authenticate(request_for(vector, headers))
    assert verified.principal == Principal(owner_id=OWNER, key_id=vector["keyId"])


@named(V1)
def test_domain_signing_reproduces_the_v1_vector(vector: dict[str, Any]) -> None:
    body = body_of(vector)
    assert v1_signed_bytes(timestamp=vector["timestamp"], body=body) == vector["signedString"].encode()
    digest = v1_signature(vector["secret"].encode(), timestamp=vector["timestamp"], body=body)
    assert vector["signature"].removeprefix("sha256=") == digest


@named(V1)
def test_the_client_signs_the_v1_vector(vector: dict[str, Any]) -> None:
    headers = sign_v1(body=body_of(vector), secret=vector["secret"], timestamp=int(vector["timestamp"]),
                      sha256_prefix=vector["signature"].startswith("sha256="))
    assert headers == {"X-Memo-Timestamp": vector["timestamp"], "X-Memo-Signature": vector["signature"]}


@named(V1)
async def test_the_server_accepts_the_v1_vector_when_v1_is_enabled(vector: dict[str, Any]) -> None:
    headers = {"x-memo-timestamp": vector["timestamp"], "x-memo-signature": vector["signature"]}
    verified = await authenticator_for(vector).authenticate(request_for(vector, headers))
    assert verified.principal == Principal(owner_id=OWNER, key_id="v1")


@pytest.mark.parametrize(("target", "expected"), [
    ("/api/memories", ("/api/memories", "")),
    ("/api/memories?", ("/api/memories", "")),
    ("/api/memories?a=1&a=2#top", ("/api/memories", "a=1&a=2")),
    ("/a%2Fb?q=x?y", ("/a%2Fb", "q=x?y")),
    ("http://127.0.0.1:3001", ("/", "")),
    ("http://127.0.0.1:3001?limit=5", ("/", "limit=5")),
    ("https://user@memo.example/api/memories/caf%C3%A9?search=a+b%20c", ("/api/memories/caf%C3%A9", "search=a+b%20c")),
])
def test_split_target_keeps_path_and_query_exactly_as_written(target: str, expected: tuple[str, str]) -> None:
    assert split_target(target) == expected


def test_split_target_refuses_a_relative_target() -> None:
    with pytest.raises(ValueError, match="absolute URL"):
        split_target("api/memories")


@pytest.mark.parametrize("url", [
    "http://h/api/memories?tags=a&tags=b&search=buy+milk%20now",
    "http://h/api/memories/a%2Fb/caf%C3%A9?q=%7E~",
    "http://h?x=1",
])
def test_signing_httpx_final_url_signs_what_httpx_sends(url: str) -> None:
    request = httpx.Request("GET", url)
    path, _, query = request.url.raw_path.decode("ascii").partition("?")
    assert split_target(str(request.url)) == (path, query)


def test_client_refuses_a_nonce_or_key_id_the_server_would_refuse() -> None:
    with pytest.raises(ValueError, match="nonce"):
        sign_request(method="GET", url_or_path_and_query="/", body=b"", key_id="mk_valid_key", secret="s",
                     nonce="short")
    with pytest.raises(ValueError, match="key id"):
        sign_request(method="GET", url_or_path_and_query="/", body=b"", key_id="bad key", secret="s")


def test_client_makes_a_fresh_nonce_and_the_current_time_by_default() -> None:
    first = sign_request(method="GET", url_or_path_and_query="/", body=b"", key_id="mk_valid_key", secret="s")
    second = sign_request(method="GET", url_or_path_and_query="/", body=b"", key_id="mk_valid_key", secret="s")
    assert first["X-Memo-Nonce"] != second["X-Memo-Nonce"]
    assert first["X-Memo-Timestamp"].isdigit()
