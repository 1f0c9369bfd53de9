"""A signed request is refused twice across restarts: nonces live where every process and restart sees them.

The process-level test runs `memo serve` on the embedded default, as a user does; the wiring tests say which nonce
store each profile gets, so that a REDIS_URL-less deployment never falls back to a store a restart forgets.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from memo.adapters.limits.memory import InProcessNonceStore
from memo.adapters.limits.redis import RedisNonceStore
from memo.adapters.storage.nonces import SqlNonceStore
from memo.application.ports import HealthCheck, NonceStore
from memo.client import sign_request
from memo.entrypoints.container import make_container
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Profile, Settings
from tests.support.server import free_port, start_server, stop_server


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body or None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1 only
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_a_signed_create_sent_again_after_a_restart_is_a_replay(tmp_path: Path) -> None:
    port, env = free_port(), {"MEMO_DATA_DIR": str(tmp_path / "data")}
    body = b'{"content": "captured before the restart"}'
    process = start_server(tmp_path, port, env)
    try:
        key = json.loads((tmp_path / "data" / "default-key.json").read_text())
        headers = {**sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                                  key_id=key["keyId"], secret=key["secret"]),
                   "Content-Type": "application/json"}
        status, _ = send(port, "POST", "/api/memories", headers, body)
        assert status == 201
    finally:
        stop_server(process)

    process = start_server(tmp_path, port, env)
    try:
        status, answer = send(port, "POST", "/api/memories", headers, body)  # the very same bytes and headers
        listing = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id=key["keyId"],
                               secret=key["secret"])
        listed_status, listed = send(port, "GET", "/api/memories", listing)
    finally:
        stop_server(process)
    assert (status, answer.get("code")) == (401, "REPLAYED_REQUEST")
    assert listed_status == 200
    assert [memory["content"] for memory in listed["data"]] == ["captured before the restart"]


async def _wired(settings: Settings) -> tuple[NonceStore, dict[str, str]]:
    container = make_container(settings)
    try:
        nonces = await container.get(NonceStore)
        checks = {check.name: check for check in await container.get(list[HealthCheck])}
        return nonces, {"redis": (await checks["redis"].check()).backend}
    finally:
        await container.close()


async def test_the_embedded_default_keeps_nonces_in_its_database(tmp_path: Path) -> None:
    nonces, checks = await _wired(Settings.for_tests(profile=Profile.EMBEDDED, data_dir=tmp_path))
    assert isinstance(nonces, SqlNonceStore)
    assert checks["redis"] == "database nonces, in-process limits"


async def test_a_redis_url_puts_nonces_in_redis(tmp_path: Path) -> None:
    settings = Settings.for_tests(profile=Profile.EMBEDDED, data_dir=tmp_path, redis_url=Secret("redis://127.0.0.1:1/0"))
    container = make_container(settings)
    try:
        assert isinstance(await container.get(NonceStore), RedisNonceStore)  # built without connecting
    finally:
        await container.close()


async def test_the_test_profile_keeps_nonces_in_process() -> None:
    nonces, _ = await _wired(Settings.for_tests())
    assert isinstance(nonces, InProcessNonceStore)
