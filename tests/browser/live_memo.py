"""One live `memo serve` for a module of browser tests: the embedded default in a temp data dir, its first key,
a signed API client for changing things behind the page's back, and the CLI on the same data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from memo.client import MemoAuth
from tests.support.server import free_port, group_members, server_output, start_server, stop_server

# The page makes a few requests per view and the tests open many views: the default 100 per 15 minutes is too few.
ROOMY_LIMITS = {"RATE_LIMIT_MAX_REQUESTS": "100000", "RATE_LIMIT_IP_MAX_REQUESTS": "100000"}


@dataclass(frozen=True)
class LiveMemo:
    folder: Path
    url: str
    env: Mapping[str, str]
    key: Mapping[str, str]  # the first start's default-key.json: keyId, secret, owner, label, createdAt

    def api(self, key: Mapping[str, str] | None = None) -> httpx.Client:
        """A client signed with `key` (the default key if None), as another device of the same person."""
        chosen = key or self.key
        return httpx.Client(base_url=self.url, auth=MemoAuth(chosen["keyId"], chosen["secret"]), timeout=20)

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        with self.api() as client:
            return client.request(method, path, json=body, headers=headers)

    def create_memories(self, *bodies: Mapping[str, Any]) -> list[dict[str, Any]]:
        """POST each body on one connection; the created memories, in order."""
        created = []
        with self.api() as client:
            for body in bodies:
                answer = client.post("/api/memories", json=body)
                assert answer.status_code == 201, answer.text  # Created
                created.append(answer.json()["data"])
        return created

    def cli(self, *args: str) -> str:
        """`memo ARGS` on this server's data dir, as its operator would run it; stdout, or a failed test."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
        done = subprocess.run([sys.executable, "-m", "memo", *args], cwd=self.folder,  # noqa: S603 - our command
                              env={**clean, **self.env}, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"memo {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    def create_key(self, label: str) -> dict[str, str]:
        """A new key of the default owner, as `memo keys create --json` prints it (the JSON a person pastes)."""
        created: dict[str, str] = json.loads(self.cli("keys", "create", "--owner", self.key["owner"],
                                                      "--label", label, "--json"))
        return created

    def output(self) -> str:
        return server_output(self.folder)


@contextmanager
def live_memo(folder: Path, env: Mapping[str, str] | None = None) -> Iterator[LiveMemo]:
    """Start the server in a process group of its own; at the end stop it and check that no process of the group
    is left."""
    data = folder / "data"
    settings = {"MEMO_DATA_DIR": str(data), **ROOMY_LIMITS, **(env or {})}
    port = free_port()
    process = start_server(folder, port, settings)
    try:
        key = json.loads((data / "default-key.json").read_text())
        yield LiveMemo(folder=folder, url=f"http://127.0.0.1:{port}", env=settings, key=key)
    finally:
        stop_server(process)
        assert not group_members(process.pid), f"memo serve left processes behind:\n{server_output(folder)}"
