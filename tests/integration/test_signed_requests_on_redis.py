"""Signed requests through the whole app with REDIS_URL set: a request that authenticates costs one Redis round trip,
and the promises of API.md 2.1-2.3 hold at the HTTP edge (replays, the per-key limit, failing addresses, v1).

Storage is the embedded SQLite file here; the admission, and so the round trip, is the same on PostgreSQL. The app
keeps its counters under the default `memo:` prefix: the test client's address counter is deleted before and after
each test, and every test issues a key of its own, so reruns and other tests do not see each other's counts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from memo.adapters.limits.redis import DEFAULT_PREFIX, counter_key, nonce_key
from memo.adapters.storage.migrate import upgrade
from memo.client import sign_request
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Profile, Settings
from tests.support.postgres import seed_owner_and_key
from tests.support.round_trips import RoundTrips, count_round_trips

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason="MEMO_TEST_REDIS_URL is not set")]
TEST_CLIENT_FAILURES = "memo:rl:auth-fail:testclient"  # Litestar's test client always comes from "testclient"
V1_SECRET = "v1-secret-of-the-original-frontend-0123456789abcdef"


@dataclass
class Caller:
    client: AsyncTestClient[Any]
    key_id: str
    secret: str

    def signed(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        headers = sign_request(method=method, url_or_path_and_query=path, body=body, key_id=self.key_id,
                               secret=self.secret)
        return {**headers, "Content-Type": "application/json"} if body else headers

    async def create(self, content: str) -> httpx.Response:
        body = f'{{"content": "{content}"}}'.encode()
        return await self.client.post("/api/memories", content=body,
                                      headers=self.signed("POST", "/api/memories", body))

    async def send(self, method: str, headers: dict[str, str], body: bytes = b"") -> httpx.Response:
        return await self.client.request(method, "/api/memories", content=body, headers=headers)


@asynccontextmanager
async def serving(tmp_path: Path, **changes: Any) -> AsyncIterator[Caller]:
    assert REDIS_URL
    settings = Settings.for_tests(profile=Profile.EMBEDDED, data_dir=tmp_path, redis_url=Secret(REDIS_URL),
                                  **changes)
    await upgrade(settings.sqlalchemy_url)
    issued = await seed_owner_and_key(settings, "default")
    redis = Redis.from_url(REDIS_URL)
    await redis.delete(TEST_CLIENT_FAILURES)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Caller(client, issued.key_id, issued.secret)
    finally:
        await redis.delete(TEST_CLIENT_FAILURES)
        await redis.aclose()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    return count_round_trips(monkeypatch)


async def test_a_signed_create_and_a_signed_list_cost_one_redis_round_trip_each(
        tmp_path: Path, round_trips: RoundTrips) -> None:
    async with serving(tmp_path) as caller:
        assert (await caller.create("warming up")).status_code == 201  # the first connection says hello first
        round_trips.commands.clear()
        assert [(await caller.create(f"memory {i}")).status_code for i in range(5)] == [201] * 5
        assert round_trips.names() == ["EVALSHA"] * 5
        round_trips.commands.clear()
        assert [(await caller.send("GET", caller.signed("GET", "/api/memories"))).status_code
                for _ in range(3)] == [200] * 3
        assert round_trips.names() == ["EVALSHA"] * 3


async def test_a_replayed_nonce_is_refused_401_replayed_request(tmp_path: Path) -> None:
    async with serving(tmp_path) as caller:
        body = b'{"content": "sent once"}'
        headers = caller.signed("POST", "/api/memories", body)
        assert (await caller.send("POST", headers, body)).status_code == 201
        replay = await caller.send("POST", headers, body)
        assert (replay.status_code, replay.json()["code"]) == (401, "REPLAYED_REQUEST")


async def test_the_per_key_limit_is_exact(tmp_path: Path) -> None:
    async with serving(tmp_path, rate_limit_max_requests=3) as caller:
        answers = [await caller.send("GET", caller.signed("GET", "/api/memories")) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [answer.headers.get("ratelimit-remaining") for answer in answers[:3]] == ["2", "1", "0"]
        assert answers[3].json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert int(answers[3].headers["retry-after"]) > 0


async def test_an_address_over_its_failure_limit_is_refused_429_signed_or_not(tmp_path: Path) -> None:
    async with serving(tmp_path, rate_limit_ip_max_requests=2, rate_limit_max_requests=100) as caller:
        forged = {**caller.signed("GET", "/api/memories"), "X-Memo-Signature": "v2=" + "0" * 64}
        failures = [await caller.send("GET", {**forged, "X-Memo-Nonce": f"forged-nonce-{i:08d}"}) for i in range(3)]
        assert [answer.status_code for answer in failures] == [401, 401, 429]
        blocked = await caller.send("GET", caller.signed("GET", "/api/memories"))
        assert (blocked.status_code, blocked.json()["code"]) == (429, "RATE_LIMIT_EXCEEDED")
        assert int(blocked.headers["retry-after"]) > 0


async def test_an_address_blocked_by_another_instances_counts_is_refused_at_admission_with_nothing_claimed(
        tmp_path: Path) -> None:
    async with serving(tmp_path, rate_limit_ip_max_requests=2, rate_limit_max_requests=100) as caller:
        redis = Redis.from_url(REDIS_URL or "")
        try:
            await redis.set(TEST_CLIENT_FAILURES, 2, px=60_000)  # two failures another instance counted
            good = caller.signed("GET", "/api/memories")
            blocked = await caller.send("GET", good)
            assert (blocked.status_code, blocked.json()["code"]) == (429, "RATE_LIMIT_EXCEEDED")
            assert 0 < int(blocked.headers["retry-after"]) <= 60
            nonce = nonce_key(DEFAULT_PREFIX, caller.key_id, good["X-Memo-Nonce"])
            assert await redis.exists(nonce, counter_key(DEFAULT_PREFIX, f"key:{caller.key_id}")) == 0
        finally:
            await redis.aclose()


async def test_v1_writes_are_replay_checked_and_v1_reads_may_repeat(tmp_path: Path) -> None:
    async with serving(tmp_path, accept_v1_signatures=True, api_secret_key=Secret(V1_SECRET)) as caller:
        stamp = str(int(time.time()))
        body = b'{"content": "from the old frontend"}'
        write = {"X-Memo-Signature": v1_signature(stamp, body), "X-Memo-Timestamp": stamp,
                 "Content-Type": "application/json"}
        assert (await caller.send("POST", write, body)).status_code == 201
        replay = await caller.send("POST", write, body)
        assert (replay.status_code, replay.json()["code"]) == (401, "REPLAYED_REQUEST")
        read = {"X-Memo-Signature": v1_signature(stamp, b""), "X-Memo-Timestamp": stamp}
        assert [(await caller.send("GET", read)).status_code for _ in range(2)] == [200, 200]


def v1_signature(stamp: str, body: bytes) -> str:
    return hmac.new(V1_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
