"""What an unauthenticated client can do to a running `memo serve`, through raw sockets: stall, trickle, idle, vanish.

One server for the module, with short deadlines so each behaviour shows in seconds: body 2 s, request head 2 s,
idle 1 s, and a 1 MiB budget for bodies not yet authenticated.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memo.client import sign_request
from tests.support.raw_http import RawResponse, closed_by_server, connect, exchange, head, read_response
from tests.support.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow

BODY_TIMEOUT_S = 2
HEADER_TIMEOUT_S = 2
KEEPALIVE_TIMEOUT_S = 1
BUDGET = 1_048_576


class Server:
    def __init__(self, folder: Path, port: int, log_file: Path) -> None:
        self.folder, self.port, self.log_file = folder, port, log_file
        self.key: dict[str, str] = json.loads((folder / "data" / "default-key.json").read_text())

    def signed_create(self, content: str) -> RawResponse:
        body = json.dumps({"content": content}).encode()
        headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                               key_id=self.key["keyId"], secret=self.key["secret"])
        return exchange(self.port, "POST", "/api/memories", {**headers, "Content-Type": "application/json"}, body)

    def log_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]


def start(folder: Path, **env: str) -> tuple[Server, object]:
    port, log_file = free_port(), folder / "memo.log"
    process = start_server(folder, port, {
        "MEMO_DATA_DIR": str(folder / "data"), "MEMO_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "MEMO_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "MEMO_KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
        "MEMO_UNAUTHENTICATED_BODY_BUDGET_BYTES": str(BUDGET), "LOG_LEVEL": "debug", "LOG_FILE": str(log_file),
        **env})
    return Server(folder, port, log_file), process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running, process = start(tmp_path_factory.mktemp("limits"))
    try:
        yield running
    finally:
        stop_server(process)  # type: ignore[arg-type]


def stalled_post(port: int, declared: int, sent: bytes = b"{") -> socket.socket:
    sock = connect(port)
    sock.sendall(head("POST", "/api/memories", {"Content-Type": "application/json",
                                                "Content-Length": str(declared)}) + sent)
    return sock


def test_a_body_that_never_arrives_is_answered_408_and_the_connection_closed(server: Server) -> None:
    with stalled_post(server.port, declared=100) as sock:
        started = time.monotonic()
        response = read_response(sock)
        waited = time.monotonic() - started
        assert response.status == 408
        assert response.json()["code"] == "REQUEST_TIMEOUT"
        assert response.json()["requestId"] == response.headers["x-request-id"]
        assert response.headers["connection"] == "close"
        assert BODY_TIMEOUT_S - 0.5 < waited < BODY_TIMEOUT_S + 1.5
        assert closed_by_server(sock, within_s=2) is not None


def test_a_body_trickled_a_byte_at_a_time_is_cut_at_the_deadline(server: Server) -> None:
    with stalled_post(server.port, declared=100) as sock:
        started = time.monotonic()
        for _ in range(6):  # 0.5 s a byte: the deadline is for the whole body, not between bytes
            time.sleep(0.5)
            try:
                sock.sendall(b" ")
            except OSError:
                break
        response = read_response(sock)
        assert response.status == 408
        assert time.monotonic() - started < BODY_TIMEOUT_S + 2


def test_a_connection_that_never_sends_a_byte_is_closed_after_the_idle_timeout(server: Server) -> None:
    with connect(server.port) as sock:
        closed_after = closed_by_server(sock, within_s=KEEPALIVE_TIMEOUT_S + 3)
    assert closed_after is not None
    assert closed_after < KEEPALIVE_TIMEOUT_S + 1


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server: Server) -> None:
    with connect(server.port) as sock:
        sock.sendall(head("GET", "/health"))
        assert read_response(sock).status == 200
        closed_after = closed_by_server(sock, within_s=KEEPALIVE_TIMEOUT_S + 3)
    assert closed_after is not None
    assert closed_after < KEEPALIVE_TIMEOUT_S + 1


def test_a_request_head_trickled_in_is_cut_at_the_head_deadline(server: Server) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT_S + 3:
            time.sleep(0.3)  # each byte comes well within the idle timeout: only the head deadline can cut it
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
        closed = closed or closed_by_server(sock, within_s=0.5) is not None
        assert closed
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 1.5


def test_past_the_budget_an_unauthenticated_body_gets_503_while_health_answers(server: Server) -> None:
    quarter = BUDGET // 4
    holders = [stalled_post(server.port, declared=quarter) for _ in range(4)]
    try:
        time.sleep(0.3)  # the four hold the whole budget
        started = time.monotonic()
        with stalled_post(server.port, declared=quarter) as sock:
            response = read_response(sock)
        assert response.status == 503
        assert response.json()["code"] == "SERVER_BUSY"
        assert int(response.headers["retry-after"]) >= 1
        assert time.monotonic() - started < 1.5  # a brief wait, then the answer, not the body deadline
        assert exchange(server.port, "GET", "/health").status == 200
    finally:
        for sock in holders:
            sock.close()
    time.sleep(0.3)
    assert server.signed_create("the budget is free again").status == 201


def test_a_client_that_vanishes_mid_body_is_no_server_fault(server: Server) -> None:
    for _ in range(20):
        sock = stalled_post(server.port, declared=4800, sent=b'{"content": "' + b"x" * 2000)
        time.sleep(0.02)
        sock.close()
    time.sleep(0.5)
    assert exchange(server.port, "GET", "/health").status == 200
    lines = server.log_lines()
    assert [line for line in lines if line["level"] in {"error", "critical"}] == []
    assert not any("exception" in line or "Traceback" in str(line["message"]) for line in lines)
    noted = [line for line in lines if "disconnected before their body" in str(line["message"])]
    assert 1 <= len(noted) <= 2  # throttled: one line, not one per client
    assert all(line["level"] == "debug" for line in noted)


def test_a_blocked_address_is_refused_before_its_body_is_read(tmp_path: Path) -> None:
    server, process = start(tmp_path, RATE_LIMIT_IP_MAX_REQUESTS="2")
    try:
        for _ in range(2):
            failed = exchange(server.port, "POST", "/api/memories", {"X-Memo-Signature": "v2=" + "0" * 64,
                                                                     "X-Memo-Timestamp": str(int(time.time()))}, b"{}")
            assert failed.status == 401
        with stalled_post(server.port, declared=100) as sock:
            started = time.monotonic()
            response = read_response(sock)
        assert response.status == 429
        assert time.monotonic() - started < 1  # answered at once: the body was never waited for
    finally:
        stop_server(process)  # type: ignore[arg-type]


def test_health_and_a_signed_create_answer_within_1_s_under_1500_stalled_bodies_and_500_idle_sockets(
        tmp_path: Path) -> None:
    # the default deadlines (body 10 s, idle 5 s), so the siege holds while it is measured
    server, process = start(tmp_path, MEMO_BODY_TIMEOUT_S="10", MEMO_KEEPALIVE_TIMEOUT_S="5")
    sockets: list[socket.socket] = []
    lock = threading.Lock()

    def open_many(count: int, *, stalled: bool) -> None:
        for _ in range(count):
            sock = stalled_post(server.port, declared=100) if stalled else connect(server.port)
            with lock:
                sockets.append(sock)

    try:
        openers = [threading.Thread(target=open_many, args=(300,), kwargs={"stalled": True}) for _ in range(5)]
        openers.append(threading.Thread(target=open_many, args=(500,), kwargs={"stalled": False}))
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        assert len(sockets) == 2000
        started = time.monotonic()  # first the server takes in the 2,000 connections, once
        assert exchange(server.port, "GET", "/health").status == 200
        absorbed_s = time.monotonic() - started
        health, create = [], []
        for number in range(5):
            started = time.monotonic()
            assert exchange(server.port, "GET", "/health").status == 200
            health.append(time.monotonic() - started)
            started = time.monotonic()
            assert server.signed_create(f"under siege {number}").status == 201
            create.append(time.monotonic() - started)
            time.sleep(0.1)
        assert absorbed_s < 10, "the stalled bodies' deadline"
        assert max(health) < 1.0
        assert max(create) < 1.0
    finally:
        for sock in sockets:
            sock.close()
        stop_server(process)  # type: ignore[arg-type]
