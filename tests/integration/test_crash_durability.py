"""SIGKILL during 500 concurrent signed creates: after a restart, every acknowledged memory is there.

The kill takes the server's whole process group, and the restart waits until no process of it is left and the
port is free, so the restarted server is the only one that can answer.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from memo.client import sign_request
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, drop_database
from tests.support.server import free_port, group_members, kill_group, port_is_free, serving, start_server

CREATES = 500
IN_FLIGHT = 64
pytestmark = pytest.mark.slow  # starts, kills and restarts `memo serve`


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"MEMO_DATA_DIR": str(tmp_path / "data"), "RATE_LIMIT_MAX_REQUESTS": "100000"}
    if request.param == "sqlite":
        yield env
        return
    if not POSTGRES_ADMIN_URL:
        pytest.skip("MEMO_TEST_POSTGRES_URL is not set")
    name = asyncio.run(create_database("memo_crash"))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield {**env, "DATABASE_URL": url}
    finally:
        asyncio.run(drop_database(name))


async def create_until_killed(port: int, key: dict[str, str], kill: asyncio.Event,
                              outcomes: Counter[str]) -> set[str]:
    """Fire the creates at once; return the ids the server acknowledged with a 201, count every outcome."""
    acknowledged: set[str] = set()
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    # at most IN_FLIGHT requests wait on the client's pool: hundreds of waiters make its bookkeeping quadratic,
    # slow enough under a coverage tracer that every request timed out before it was sent
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits) as client:

        async def create(number: int) -> None:
            async with in_flight:
                await send(number)

        async def send(number: int) -> None:
            body = json.dumps({"content": f"memory number {number}", "tags": ["crash"]}).encode()
            headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                                   key_id=key["keyId"], secret=key["secret"])
            try:
                response = await client.post("/api/memories", content=body,
                                             headers={**headers, "Content-Type": "application/json"})
            except httpx.HTTPError as error:
                outcomes[type(error).__name__] += 1
                return  # cut off by the kill: not acknowledged, so nothing is owed
            outcomes[f"{response.status_code} {response.json().get('code', '')}".strip()] += 1
            if response.status_code == 201:
                acknowledged.add(response.json()["data"]["id"])
                if len(acknowledged) >= CREATES // 4:
                    kill.set()

        await asyncio.gather(*(create(number) for number in range(CREATES)))
    return acknowledged


def test_every_acknowledged_create_survives_a_sigkill(tmp_path: Path, database_env: dict[str, str]) -> None:
    port = free_port()
    process = start_server(tmp_path, port, database_env)
    key = json.loads((Path(database_env["MEMO_DATA_DIR"]) / "default-key.json").read_text())

    async def load_and_kill() -> set[str]:
        kill = asyncio.Event()

        async def killer() -> None:
            await kill.wait()
            await asyncio.to_thread(kill_group, process)

        killing = asyncio.create_task(killer())
        acknowledged = await create_until_killed(port, key, kill, outcomes)
        kill.set()
        await killing
        return acknowledged

    outcomes: Counter[str] = Counter()
    acknowledged = asyncio.run(load_and_kill())
    assert len(acknowledged) >= CREATES // 4, outcomes
    assert process.returncode == -9
    assert group_members(process.pid) == []
    assert port_is_free(port)

    with serving(tmp_path, port, database_env):
        async def stored_ids() -> set[str]:
            found: set[str] = set()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                offset = 0
                while True:
                    path = f"/api/memories?limit=100&offset={offset}&tags=crash"
                    headers = sign_request(method="GET", url_or_path_and_query=path, body=b"",
                                           key_id=key["keyId"], secret=key["secret"])
                    page = (await client.get(path, headers=headers)).json()
                    found.update(item["id"] for item in page["data"])
                    if not page["pagination"]["hasMore"]:
                        return found
                    offset += 100

        stored = asyncio.run(stored_ids())
    assert acknowledged <= stored
