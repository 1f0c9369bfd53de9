"""Run `memo serve` as a real process, the way a user or an orchestrator does."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

OUTPUT_FILE = "memo-serve.out"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_output(folder: Path) -> str:
    """Everything the servers started in `folder` printed (one file, appended to by each start)."""
    path = folder / OUTPUT_FILE
    return path.read_text(errors="replace") if path.exists() else ""


def start_server(folder: Path, port: int, env: Mapping[str, str] | None = None,
                 args: Sequence[str] = ()) -> subprocess.Popen[str]:
    """Start `memo serve` in a process group of its own and wait until /health answers 200; the caller stops it.

    Its output goes to a file, never to a pipe nobody reads: a full pipe would block the server mid-request.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    command = [sys.executable, "-m", "memo", "serve", "--port", str(port), *args]
    with (folder / OUTPUT_FILE).open("a") as output:
        process = subprocess.Popen(command, cwd=folder, env={**clean, **(env or {})},  # noqa: S603 - our command
                                   stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"memo serve exited early:\n{server_output(folder)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    kill_group(process)
    raise AssertionError("memo serve did not become healthy")


def stop_server(process: subprocess.Popen[str], *, kill: bool = False) -> None:
    """SIGINT and wait (a clean stop), or SIGKILL of the whole group; either way nothing of it is left."""
    if kill:
        kill_group(process)
        return
    process.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    kill_group(process)


def group_members(group: int) -> list[int]:
    """Every live process of a process group, read from /proc (zombies are dead: they hold no socket)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state != "Z":
            members.append(int(entry.name))
    return members


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL every process of the server's group, then check that none is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert wait_until(lambda: not group_members(process.pid), timeout_s=10), group_members(process.pid)


def wait_until(condition: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def port_is_free(port: int) -> bool:
    """Nothing listens on the port: a connection is refused."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def serving(folder: Path, port: int, env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    process = start_server(folder, port, env)
    try:
        yield process
    finally:
        stop_server(process)
