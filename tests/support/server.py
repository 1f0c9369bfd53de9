"""Run `memo serve` as a real process, the way a user or an orchestrator does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(folder: Path, port: int, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `memo serve` and wait until /health answers 200; the caller stops it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    command = [sys.executable, "-m", "memo", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=folder, env={**clean, **(env or {})},  # noqa: S603 - our own command
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"memo serve exited early:\n{output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("memo serve did not become healthy")


def stop_server(process: subprocess.Popen[str], *, kill: bool = False) -> None:
    process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(folder: Path, port: int, env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    process = start_server(folder, port, env)
    try:
        yield process
    finally:
        stop_server(process)
