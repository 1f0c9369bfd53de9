"""What unauthenticated clients can do to `memo serve` (embedded default), measured with raw sockets.

Run: `uv run python bench/stall.py` — starts its own server in a temporary folder, prints one table, stops it.
Figures: the siege (1,500 stalled bodies and 500 idle sockets) and what /health and a signed create take under
it; a body trickled one byte every 3 s; an idle socket; 300 unsigned bodies of just under 1 MiB held open, and
the server's RSS (its whole process tree) before and during.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from memo.client import sign_request

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def tree_rss_mib(root: int) -> float:
    """RSS of `root` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(stat[1]), []).append(pid)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 1024


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=30)


def post_head(length: int) -> bytes:
    return (f"POST /api/memories HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def status_of(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split()[1])


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="memo-stall-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    env.update({"MEMO_DATA_DIR": str(folder / "data"), "LOG_LEVEL": "warning"})
    server = subprocess.Popen([sys.executable, "-m", "memo", "serve", "--port", str(port)], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        key = json.loads((folder / "data" / "default-key.json").read_text())
        rows = measure(port, key, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def health(port: int) -> None:
    with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=30) as answer:
        answer.read()


def signed_create(port: int, key: dict[str, str]) -> None:
    body = b'{"content": "under siege"}'
    headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                           key_id=key["keyId"], secret=key["secret"])
    request = urllib.request.Request(f"http://{HOST}:{port}/api/memories", data=body, method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201


def measure(port: int, key: dict[str, str], pid: int) -> list[tuple[str, str]]:
    rows = [("RSS at rest (MiB)", f"{tree_rss_mib(pid):.0f}")]
    rows += siege(port, key, pid)
    rows += slow_and_idle(port)
    rows += big_bodies(port, pid)
    return rows


def siege(port: int, key: dict[str, str], pid: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    held: list[socket.socket] = []
    lock = threading.Lock()

    def open_many(count: int, *, stalled: bool) -> None:
        for _ in range(count):
            sock = connect(port)
            if stalled:
                sock.sendall(post_head(100))
            with lock:
                held.append(sock)

    started = time.perf_counter()
    openers = [threading.Thread(target=open_many, args=(300,), kwargs={"stalled": True}) for _ in range(5)]
    openers.append(threading.Thread(target=open_many, args=(500,), kwargs={"stalled": False}))
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    absorbed = timed(lambda: health(port))
    rows.append(("siege: 1,500 stalled bodies + 500 idle sockets opened in (s)",
                 f"{time.perf_counter() - started:.2f}"))
    rows.append(("siege: first /health, while the server takes them in (ms)", f"{absorbed:.0f}"))
    health_ms = [timed(lambda: health(port)) for _ in range(20)]
    create_ms = [timed(lambda: signed_create(port, key)) for _ in range(20)]
    rows.append(("siege: /health median / max (ms)", f"{statistics.median(health_ms):.1f} / {max(health_ms):.1f}"))
    rows.append(("siege: signed create median / max (ms)",
                 f"{statistics.median(create_ms):.1f} / {max(create_ms):.1f}"))
    rows.append(("siege: RSS (MiB)", f"{tree_rss_mib(pid):.0f}"))
    stalled = held[:1]
    started = time.perf_counter()
    answer = status_of(stalled[0])
    rows.append(("a stalled body: answer, after (s, from the end of the siege set-up)",
                 f"{answer} after {time.perf_counter() - started:.1f}"))
    for sock in held:
        sock.close()
    time.sleep(1)
    return rows


def slow_and_idle(port: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with connect(port) as trickle:
        trickle.sendall(post_head(100))
        started = time.perf_counter()
        trickle.settimeout(3)
        answer = 0
        while answer == 0 and time.perf_counter() - started < 60:
            try:
                answer = status_of(trickle)
            except TimeoutError:
                trickle.sendall(b" ")
        rows.append(("a body trickled 1 byte / 3 s: answer, after (s)",
                     f"{answer} after {time.perf_counter() - started:.1f}"))

    with connect(port) as idle:
        started = time.perf_counter()
        idle.settimeout(60)
        closed = idle.recv(1) == b""
        rows.append(("an idle socket: closed by the server after (s)",
                     f"{time.perf_counter() - started:.1f}" if closed else "not closed"))
    return rows


def big_bodies(port: int, pid: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    big = 1_048_576 - 1024
    bodies: list[socket.socket] = []
    for _ in range(300):
        sock = connect(port)
        sock.settimeout(0)
        with contextlib.suppress(BlockingIOError):
            sock.send(post_head(big) + b"x" * (big - 1))
        bodies.append(sock)
    time.sleep(2)
    rows.append(("300 unsigned ~1 MiB bodies held open: RSS (MiB)", f"{tree_rss_mib(pid):.0f}"))
    busy = 0
    for sock in bodies:
        sock.settimeout(15)
        with contextlib.suppress(OSError):
            busy += status_of(sock) == 503
        sock.close()
    rows.append(("300 unsigned ~1 MiB bodies: answered 503 SERVER_BUSY", str(busy)))
    rows.append(("RSS after (MiB)", f"{tree_rss_mib(pid):.0f}"))
    return rows


if __name__ == "__main__":
    main()
