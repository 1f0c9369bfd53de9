"""MemoAuth passes the shared vectors (tests/vectors/signing.json): httpx keeps each target as the vector spells it,
and the headers MemoAuth sets are the vector's, for a sync and an async flow alike."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from memo.client import MemoAuth

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "signing.json").read_text())["vectors"]
V2 = [vector for vector in VECTORS if vector["scheme"] == "v2"]


def body_of(vector: dict[str, Any]) -> bytes:
    if "bodyRepeat" in vector:
        return str(vector["bodyRepeat"]["text"]).encode() * int(vector["bodyRepeat"]["times"])
    return base64.b64decode(vector["bodyBase64"])


def request_of(vector: dict[str, Any]) -> httpx.Request:
    query = f"?{vector['query']}" if vector["query"] else ""
    return httpx.Request(vector["method"], f"http://memo.example{vector['path']}{query}", content=body_of(vector))


def auth_of(vector: dict[str, Any]) -> MemoAuth:
    return MemoAuth(vector["keyId"], vector["secret"], clock=lambda: float(vector["timestamp"]),
                    nonces=lambda: str(vector["nonce"]))


def expected_headers(vector: dict[str, Any]) -> dict[str, str]:
    return {"x-memo-key-id": vector["keyId"], "x-memo-timestamp": vector["timestamp"],
            "x-memo-nonce": vector["nonce"], "x-memo-signature": vector["signature"]}


def memo_headers(request: httpx.Request) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name.startswith("x-memo-")}


def test_every_v2_vector_is_covered() -> None:
    assert len(V2) >= 10


@pytest.mark.parametrize("vector", V2, ids=[vector["name"] for vector in V2])
def test_httpx_sends_the_vector_target_unchanged(vector: dict[str, Any]) -> None:
    request = request_of(vector)
    path, _, query = request.url.raw_path.decode("ascii").partition("?")
    assert (path, query) == (vector["path"], vector["query"])


@pytest.mark.parametrize("vector", V2, ids=[vector["name"] for vector in V2])
def test_the_sync_flow_signs_each_vector(vector: dict[str, Any]) -> None:
    flow = auth_of(vector).sync_auth_flow(request_of(vector))
    assert memo_headers(next(flow)) == expected_headers(vector)


@pytest.mark.parametrize("vector", V2, ids=[vector["name"] for vector in V2])
async def test_the_async_flow_signs_each_vector(vector: dict[str, Any]) -> None:
    flow = auth_of(vector).async_auth_flow(request_of(vector))
    assert memo_headers(await anext(flow)) == expected_headers(vector)
