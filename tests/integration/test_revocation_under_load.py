"""A key revoked from the command line while `memo serve` is busy writing: refused from the very next request.

On the embedded default the server writes in groups on one connection (`memo.adapters.sqlite_writer`) while the
CLI, another process, writes the revocation to the same file; both must get their turn, and no create may be lost
or half-answered on the way.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from memo.client import sign_request
from tests.support.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow  # starts `memo serve` and the CLI as processes
WRITERS = 24


@dataclass(frozen=True)
class Sent:
    at: float  # time.monotonic() just before the request left
    status: int
    code: str | None
    memory_id: str | None


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    env = {"MEMO_DATA_DIR": str(tmp_path / "data"), "RATE_LIMIT_MAX_REQUESTS": "1000000",
           "RATE_LIMIT_IP_MAX_REQUESTS": "1000000"}
    port = free_port()
    server = start_server(tmp_path, port, env)
    try:
        yield port, json.loads((tmp_path / "data" / "default-key.json").read_text()), env
    finally:
        stop_server(server)


def memo_cli(env: dict[str, str], *args: str) -> str:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("MEMO_", "DATABASE_URL"))}
    done = subprocess.run([sys.executable, "-m", "memo", *args], env={**clean, **env},  # noqa: S603 - our command
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def create(client: httpx.AsyncClient, key: dict[str, str], number: int) -> Sent:
    body = json.dumps({"content": f"written under load {number}"}).encode()
    headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body, key_id=key["keyId"],
                           secret=key["secret"])
    at = time.monotonic()
    answer = await client.post("/api/memories", content=body, headers={**headers, "Content-Type": "application/json"})
    envelope = answer.json()
    return Sent(at=at, status=answer.status_code, code=envelope.get("code"),
                memory_id=envelope["data"]["id"] if answer.status_code == 201 else None)


async def load_and_revoke(port: int, key: dict[str, str], env: dict[str, str]) -> tuple[list[Sent], float, float]:
    """Creates on WRITERS connections; the key is revoked by the CLI once a few hundred went through. Returns what
    was sent, and when the revocation began and returned."""
    sent: list[Sent] = []
    revoked, enough = asyncio.Event(), asyncio.Event()
    numbers = iter(range(10**6))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:

        async def writer() -> None:
            refusals_after, stop_at = 0, math.inf
            # each writer goes on until it saw its own refusals once the key is gone, or for 3 s at most
            while refusals_after < 5 and time.monotonic() < stop_at:
                if revoked.is_set() and stop_at == math.inf:
                    stop_at = time.monotonic() + 3
                outcome = await create(client, key, next(numbers))
                sent.append(outcome)
                refusals_after += revoked.is_set() and outcome.status == 401
                if len(sent) >= 300:  # a few hundred creates under way before the revocation
                    enough.set()

        async def revoke() -> tuple[float, float]:
            await enough.wait()
            began = time.monotonic()
            await asyncio.to_thread(memo_cli, env, "keys", "revoke", key["keyId"])
            returned = time.monotonic()
            revoked.set()
            return began, returned

        *_, (began, returned) = await asyncio.gather(*(writer() for _ in range(WRITERS)), revoke())
    return sent, began, returned


def test_a_key_revoked_by_the_cli_under_load_is_refused_from_the_next_request_and_no_create_is_lost(
        embedded: tuple[int, dict[str, str], dict[str, str]], tmp_path: Path) -> None:
    port, key, env = embedded
    sent, began, returned = asyncio.run(load_and_revoke(port, key, env))

    assert {(outcome.status, outcome.code) for outcome in sent} <= {(201, None), (401, "UNKNOWN_KEY")}
    after = [outcome for outcome in sent if outcome.at > returned]
    assert after
    assert all(outcome.status == 401 for outcome in after)  # no server still trusts the key it cached
    assert not [outcome for outcome in sent if outcome.at < began and outcome.status == 401]
    acknowledged = {outcome.memory_id for outcome in sent if outcome.memory_id is not None}
    with sqlite3.connect(tmp_path / "data" / "memo.db") as database:  # what is on disk, read by another process
        stored = {bytes(row[0]).hex() for row in database.execute("SELECT id FROM memories")}
    assert {memory_id.replace("-", "") for memory_id in acknowledged} <= stored
