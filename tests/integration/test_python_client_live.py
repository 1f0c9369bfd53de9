"""memo.client against a live `memo serve`: the signed routes end to end over real sockets, and the clock fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memo.client import AsyncMemoClient, MemoClient, NotFound
from tests.support.server import free_port, serving

pytestmark = pytest.mark.slow  # starts `memo serve`


def memo(folder: Path, *args: str) -> str:
    """The `memo` command run as a user runs it, in the server's folder (so on its data dir)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    done = subprocess.run([sys.executable, "-m", "memo", *args], cwd=folder, env=clean,  # noqa: S603 - our command
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_client_drives_a_live_server_through_every_memory_route_and_back_through_export(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port):
        memo(tmp_path, "owners", "create", "alice")
        key = json.loads(memo(tmp_path, "keys", "create", "--owner", "alice", "--label", "python", "--json"))
        with MemoClient(f"http://127.0.0.1:{port}", key["keyId"], key["secret"], timeout=10) as client:
            made = client.create_memory("The dentist appointment is on Friday at 3 pm", type="reminder",
                                        tags=["Health"], idempotency_key="live-1")
            other = client.create_memory("Buy oat milk and bread", tags=["errands"])
            assert client.create_memory("The dentist appointment is on Friday at 3 pm", type="reminder",
                                        tags=["Health"], idempotency_key="live-1") == made

            listed = client.list_memories(tags=["health"], limit=10)
            assert [m.id for m in listed.items] == [made.id]
            assert {m.id for m in client.iter_memories(page_size=1)} == {made.id, other.id}
            assert made.id in [hit.memory.id for hit in client.search("dentist appointment", mode="keyword").hits]
            answer = client.ask("When is the dentist appointment?")
            assert made.id in answer.citations

            changed = client.update_memory(made.id, content="The dentist moved to Monday", if_match=made.version)
            assert changed.version == 2
            exported = list(client.export())
            assert {m.id for m in exported} == {made.id, other.id}

            client.delete_memory(made.id)
            with pytest.raises(NotFound):
                client.get_memory(made.id)
            report = client.import_memories(exported)
            assert (report.created, report.unchanged, report.skipped) == (1, 1, [])
            restored = client.get_memory(made.id)
            assert (restored.content, restored.version) == ("The dentist moved to Monday", 2)
            assert client.health().healthy


async def test_a_client_an_hour_fast_corrects_itself_from_the_live_server_date(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port):
        memo(tmp_path, "owners", "create", "alice")
        key = json.loads(memo(tmp_path, "keys", "create", "--owner", "alice", "--json"))
        async with AsyncMemoClient(f"http://127.0.0.1:{port}", key["keyId"], key["secret"], timeout=10,
                                   clock=lambda: time.time() + 3600) as client:
            made = await client.create_memory("from a fast clock")
            assert (await client.get_memory(made.id)).content == "from a fast clock"
            assert -3602 <= client.auth.clock_offset <= -3598
