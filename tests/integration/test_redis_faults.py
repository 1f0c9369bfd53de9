"""Redis going away: replay protection fails closed (503), limits fail open, /health says so, and it recovers."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from memo.adapters.storage.migrate import upgrade
from memo.client import sign_request
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Profile, Settings
from tests.support.postgres import seed_owner_and_key
from tests.support.tcp_proxy import TcpProxy

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason="MEMO_TEST_REDIS_URL is not set")]


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient, TcpProxy, str, str]]:  # type: ignore[type-arg]
    assert REDIS_URL
    target = make_url(REDIS_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 6379)
    proxy.start()
    settings = Settings.for_tests(profile=Profile.EMBEDDED, data_dir=tmp_path,
                                  redis_url=Secret(f"redis://127.0.0.1:{proxy.port}/{target.database or 0}"),
                                  redis_timeout_ms=300)
    await upgrade(settings.sqlalchemy_url)
    issued = await seed_owner_and_key(settings)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield client, proxy, issued.key_id, issued.secret
    finally:
        proxy.close()


async def test_redis_down_refuses_signed_requests_with_503_and_recovers(
        proxied: tuple[AsyncTestClient, TcpProxy, str, str],  # type: ignore[type-arg]
        caplog: pytest.LogCaptureFixture) -> None:
    client, proxy, key_id, secret = proxied

    async def call() -> tuple[int, str | None]:
        headers = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id=key_id,
                               secret=secret)
        response = await client.get("/api/memories", headers=headers)
        return response.status_code, response.json().get("code")

    assert (await call())[0] == 200
    proxy.cut()
    with caplog.at_level(logging.WARNING, logger="memo.limits"):
        assert await call() == (503, "NONCE_STORE_UNAVAILABLE")
        forged = {**sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id=key_id,
                                 secret=secret), "X-Memo-Signature": "v2=" + "0" * 64}
        refused = await client.get("/api/memories", headers=forged)  # its failure cannot be counted: fails open
        assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_SIGNATURE")
    assert any("failing open" in record.getMessage() for record in caplog.records)
    health = await client.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"]["redis"]["status"] == "error"
    assert health.json()["checks"]["database"]["status"] == "ok"

    proxy.start()
    for _ in range(30):
        if (await call())[0] == 200:
            break
        await asyncio.sleep(0.1)
    assert (await call())[0] == 200
    assert (await client.get("/health")).status_code == 200
