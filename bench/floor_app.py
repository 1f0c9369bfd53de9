"""The framework's floor: a bare Litestar app with one signed create into a dict, and nothing of Memo.

Not Memo, and never served to users: it answers how much of a signed create's cost is Litestar and msgspec alone
on this machine, so Memo's figures can be read against what the framework can do at all. It checks a v2-shaped
HMAC over the body (one SHA-256, a constant-time compare, no key lookup, nonce, limit or log) and keeps the
memory in a dict.

    uv run python bench/asgi_calls.py --app floor_app:app            # in process
    cd bench && uv run uvicorn --http httptools floor_app:app         # behind a server, for wrk
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

import msgspec
from litestar import Litestar, Request, post

SECRET = b"floor-secret-floor-secret-floor-secret"
STORE: dict[str, dict[str, object]] = {}


class CreateBody(msgspec.Struct):
    content: str
    tags: list[str] = msgspec.field(default_factory=list)


class Created(msgspec.Struct):
    id: str
    content: str
    tags: list[str]


@post("/api/memories", status_code=201)
async def create(request: Request[object, object, object], data: CreateBody) -> Created:
    body = await request.body()
    signed = request.headers.get("x-memo-timestamp", "").encode() + b"." + body
    expected = hmac.new(SECRET, signed, hashlib.sha256).hexdigest()
    hmac.compare_digest("v2=" + expected, request.headers.get("x-memo-signature", ""))  # the answer is not used
    memory_id = str(uuid.uuid4())
    STORE[memory_id] = {"content": data.content, "tags": data.tags}
    return Created(id=memory_id, content=data.content, tags=data.tags)


app = Litestar([create])
