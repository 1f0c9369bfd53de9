"""The TypeScript signer of clients/typescript: its `node --test` suite, and its end-to-end script against `memo serve`.

Node 20 is part of this machine's kind (no install step): a missing or older node is a failure, not a skip, so a
green run always means the signer was exercised.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port, kill_group, start_server

CLIENT = Path(__file__).parents[2] / "clients" / "typescript"
E2E_STEPS = ("create", "create with an Idempotency-Key, twice", "list with a raw query",
             "list with a query that fetch percent-encodes", "get",
             "update with If-Match, and a stale If-Match refused", "search", "ask", "WhatsApp sync status", "export",
             "delete, then not found",
             "import restores the deleted memory with its id and times", "a tampered body is refused",
             "a tampered query is refused", "a replayed request is refused", "a wrong secret is refused",
             "a clock 1000 s behind is corrected from the Date header", "clean up")


def node() -> str:
    found = shutil.which("node")
    assert found is not None, "node (20 or newer) is needed for the TypeScript client's tests"
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    major = re.match(r"v(\d+)", version)
    assert major is not None, f"cannot read node's version from {version!r}"
    assert int(major[1]) >= 20, f"node 20 or newer is needed, found {version.strip()}"
    return found


def test_signer_unit_suite_passes_under_node_test_runner() -> None:
    done = subprocess.run([node(), "--test", "test/"], cwd=CLIENT, capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-10_000:] + done.stderr[-5_000:]
    counts = dict(re.findall(r"^# (pass|fail) (\d+)$", done.stdout, re.MULTILINE))
    assert counts["fail"] == "0"
    assert int(counts["pass"]) >= 36, done.stdout[-2_000:]  # every shared vector and every fetch behaviour ran


def memo_cli(folder: Path, *args: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    done = subprocess.run([sys.executable, "-m", "memo", *args], cwd=folder, env=clean,  # noqa: S603 - our command
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_signer_creates_lists_updates_searches_asks_exports_imports_and_deletes_on_a_live_server(
        tmp_path: Path) -> None:
    memo_cli(tmp_path, "owners", "create", "browser")
    key = json.loads(memo_cli(tmp_path, "keys", "create", "--owner", "browser", "--label", "ts-e2e", "--json"))
    port = free_port()
    process = start_server(tmp_path, port)
    try:
        env = {**os.environ, "MEMO_URL": f"http://127.0.0.1:{port}", "MEMO_KEY_ID": key["keyId"],
               "MEMO_KEY_SECRET": key["secret"]}
        done = subprocess.run([node(), "scripts/e2e.mjs"], cwd=CLIENT, env=env,  # noqa: S603 - our script
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        kill_group(process)
    assert done.returncode == 0, done.stdout[-5_000:] + done.stderr[-5_000:]
    assert key["secret"] not in done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert tuple(summary["passed"]) == E2E_STEPS
