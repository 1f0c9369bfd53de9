"""Two Memo processes on one PostgreSQL and one Redis: one nonce space, one set of counters, one key list."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from click.testing import CliRunner

from memo.client import sign_request
from memo.entrypoints.cli import main
from tests.support.postgres import create_database, drop_database
from tests.support.server import free_port, start_server, stop_server

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.skipif(not (POSTGRES_ADMIN_URL and REDIS_URL),
                                 reason="needs MEMO_TEST_POSTGRES_URL and MEMO_TEST_REDIS_URL")]


@pytest.fixture
def shared_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    import asyncio  # noqa: PLC0415

    from sqlalchemy.engine import make_url  # noqa: PLC0415

    assert POSTGRES_ADMIN_URL
    assert REDIS_URL
    name = asyncio.run(create_database("memo_shared"))
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {"DATABASE_URL": make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False),
           "REDIS_URL": REDIS_URL, "RATE_LIMIT_MAX_REQUESTS": "6", "MEMO_DATA_DIR": str(tmp_path / "data"),
           "ENCRYPTION_KEY": "shared-encryption-key-for-both-instances-0123456789"}
    try:
        yield env
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
        asyncio.run(drop_database(name))


@pytest.fixture
def two_instances(tmp_path: Path, shared_env: dict[str, str]) -> Iterator[tuple[int, int, dict[str, str]]]:
    ports = free_port(), free_port()
    first = start_server(tmp_path, ports[0], shared_env)
    second = start_server(tmp_path, ports[1], shared_env)
    try:
        key = json.loads((Path(shared_env["MEMO_DATA_DIR"]) / "default-key.json").read_text())
        yield ports[0], ports[1], key
    finally:
        for process in (first, second):
            stop_server(process)


def get(port: int, headers: dict[str, str], path: str = "/api/memories") -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=5)


def signed(key: dict[str, str], path: str = "/api/memories") -> dict[str, str]:
    return sign_request(method="GET", url_or_path_and_query=path, body=b"", key_id=key["keyId"],
                        secret=key["secret"])


def test_a_nonce_used_on_one_instance_is_refused_on_the_other(two_instances: tuple[int, int, dict[str, str]]) -> None:
    first, second, key = two_instances
    headers = signed(key)
    assert get(first, headers).status_code == 200
    replay = get(second, headers)
    assert (replay.status_code, replay.json()["code"]) == (401, "REPLAYED_REQUEST")


def test_the_per_key_limit_is_counted_across_instances(two_instances: tuple[int, int, dict[str, str]]) -> None:
    first, second, key = two_instances
    statuses = [get(port, signed(key)).status_code for port in (first, second, first, second, first, second)]
    assert statuses == [200] * 6
    limited = get(second, signed(key))
    assert (limited.status_code, limited.json()["code"]) == (429, "RATE_LIMIT_EXCEEDED")
    assert (get(first, signed(key))).status_code == 429


def test_health_reports_redis_and_postgresql(two_instances: tuple[int, int, dict[str, str]]) -> None:
    first, _, _ = two_instances
    checks = httpx.get(f"http://127.0.0.1:{first}/health", timeout=5).json()["checks"]
    assert (checks["redis"]["status"], checks["redis"]["backend"]) == ("ok", "redis")
    assert (checks["database"]["status"], checks["database"]["backend"]) == ("ok", "postgresql")


def test_a_key_revoked_by_the_cli_is_refused_by_every_instance(
        two_instances: tuple[int, int, dict[str, str]], shared_env: dict[str, str]) -> None:
    first, second, key = two_instances
    assert get(first, signed(key)).status_code == 200
    result = CliRunner(env=shared_env).invoke(main, ["keys", "revoke", key["keyId"]])
    assert result.exit_code == 0, result.output
    for port in (first, second):
        refused = get(port, signed(key))
        assert (refused.status_code, refused.json()["code"]) == (401, "UNKNOWN_KEY")
