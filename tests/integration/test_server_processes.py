"""No serving process outlives `memo serve`: a SIGKILL of the server alone leaves nothing on the port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port, group_members, kill_group, port_is_free, start_server, wait_until

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")


def sigkill_the_server_alone(process: subprocess.Popen[str], port: int) -> list[int]:
    """What a supervisor does: SIGKILL the one process it started; return what is still alive of its group."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    wait_until(lambda: not group_members(process.pid) and port_is_free(port), timeout_s=5)
    return group_members(process.pid)


def test_one_worker_serves_in_process_so_a_sigkill_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    process = start_server(tmp_path, port, {"MEMO_DATA_DIR": str(tmp_path / "data")})
    try:
        assert group_members(process.pid) == [process.pid]  # no worker process at all
        assert sigkill_the_server_alone(process, port) == []
        assert port_is_free(port)
    finally:
        kill_group(process)


@pytest.mark.redis
def test_worker_processes_die_with_a_sigkilled_server(tmp_path: Path) -> None:
    if not REDIS_URL:
        pytest.skip("MEMO_TEST_REDIS_URL is not set")
    port = free_port()
    process = start_server(tmp_path, port, {"MEMO_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": REDIS_URL},
                           args=["--workers", "2"])
    try:
        assert wait_until(lambda: len(group_members(process.pid)) == 3, timeout_s=10)  # the server and 2 workers
        assert sigkill_the_server_alone(process, port) == []
        assert port_is_free(port)
    finally:
        kill_group(process)


def test_several_workers_without_redis_refuse_to_start_and_say_why(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    done = subprocess.run([sys.executable, "-m", "memo", "serve", "--port", str(free_port()), "--workers", "2"],  # noqa: S603
                          cwd=tmp_path, env={**clean, "MEMO_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "--workers 2 needs REDIS_URL" in done.stderr
