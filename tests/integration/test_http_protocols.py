"""The HTTP/1.1 protocols of `memo serve` held to one behaviour: httptools (what it runs) and h11 (what it ran).

uvicorn runs in a thread of this process on a small ASGI app, reached through raw sockets, with short deadlines:
idle 0.3 s, request head 1 s. Where the parsers differ and the contract lets them, the test says what each answers;
neither ever answers a malformed request with a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from memo.entrypoints import connections, serving
from memo.entrypoints.connections import DeadlineH11Protocol, DeadlineHttpToolsProtocol
from tests.support.raw_http import closed_by_server, connect, head, read_response

KEEPALIVE_S = 0.3
HEADER_TIMEOUT_S = 1.0
SLOW_S = 0.3
SLOWER_THAN_THE_HEAD_DEADLINE_S = HEADER_TIMEOUT_S + 0.5


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers the length of the body it read; `/slow` and `/slower` answer later."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep({"/slow": SLOW_S, "/slower": SLOWER_THAN_THE_HEAD_DEADLINE_S}.get(scope["path"], 0))
    text = f"{scope['path']} {len(body)}".encode()
    headers = [(b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@dataclass
class Running:
    port: int
    parser: str
    server: serving.GracefulServer

    def replies(self, *parts: bytes, gap_s: float = 0.05) -> list[tuple[int, bytes]]:
        return replies_to(self.port, parts, gap_s)


@contextlib.contextmanager
def serving_with(protocol: type[asyncio.Protocol]) -> Iterator[Running]:
    """uvicorn in a thread of this process, stopped as a signal stops it."""
    config = uvicorn.Config(app, lifespan="off", log_config=None, http=protocol,
                            timeout_keep_alive=KEEPALIVE_S, limit_concurrency=8)  # type: ignore[arg-type]
    server = serving.GracefulServer(config, grace_s=5, hard_stop=lambda _: None)
    sock = serving.listen("127.0.0.1", 0, 64)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.01)
        yield Running(sock.getsockname()[1], PARSERS[PROTOCOLS.index(protocol)], server)
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=10)


PROTOCOLS, PARSERS = [DeadlineHttpToolsProtocol, DeadlineH11Protocol], ["httptools", "h11"]


@pytest.fixture(autouse=True, scope="module")
def head_deadline() -> Iterator[None]:
    kept = connections.ConnectionDeadlines.header_timeout_s
    connections.ConnectionDeadlines.header_timeout_s = HEADER_TIMEOUT_S
    try:
        yield
    finally:
        connections.ConnectionDeadlines.header_timeout_s = kept


@pytest.fixture(scope="module", params=PROTOCOLS, ids=PARSERS)
def running(request: pytest.FixtureRequest, head_deadline: None) -> Iterator[Running]:
    """One server per parser for the module: each test leaves no connection open behind it."""
    with serving_with(request.param) as server:
        yield server


def replies_to(port: int, parts: tuple[bytes, ...], gap_s: float) -> list[tuple[int, bytes]]:
    """Send each part at once, `gap_s` apart, read until the server closes (the idle timeout at the latest),
    and split what came back into (status, body) pairs, in order."""
    with connect(port, timeout_s=5) as sock:
        for number, part in enumerate(parts):
            if number:
                time.sleep(gap_s)
            with contextlib.suppress(OSError):  # a server that refused the first part may be gone
                sock.sendall(part)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    answers = []
    while received:
        raw_head, _, rest = received.partition(b"\r\n\r\n")
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines)
        length = int(fields.get("content-length", len(rest)))  # h11's refusal: a body ended by the close
        answers.append((int(status_line.split()[1]), rest[:length]))
        received = rest[length:]
    return answers


def get(path: str) -> bytes:
    return head("GET", path)


def refused_code(body: bytes) -> str:
    """The code of a refusal in the error envelope (API.md, 1)."""
    envelope = json.loads(body)
    assert envelope["success"] is False
    assert envelope["error"]
    code: str = envelope["code"]
    return code


MALFORMED = {
    "not HTTP at all": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "a space in a header name": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "a NUL in a header value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "a bracket in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n",
    "two different lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "a negative length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc",
    "a length past 64 bits": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "a chunk size that is not hex": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
    "a broken chunk after a good one":
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
    "an unknown transfer coding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nabc",
    "a space in the target": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "a raw UTF-8 target": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "an HTTP/1.1 request without Host": b"GET / HTTP/1.1\r\n\r\n",
    "an HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_is_refused_400_and_its_connection_closed(running: Running, data: bytes) -> None:
    replies = running.replies(data)
    if running.parser == "h11" and data.startswith(b"PRI"):  # h11 serves the preface's head, then refuses "SM"
        replies = replies[1:]
    assert [status for status, _ in replies] == [400]


def big_head(path: str) -> tuple[bytes, bytes]:
    """About 27 KiB of head in two parts: h11 bounds only a head still incomplete, as the first part is."""
    lines = b"".join(b"X-%d: v\r\n" % n for n in range(3000))
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + lines, b"\r\n"


def test_a_head_past_16_kib_is_refused_without_being_served(running: Running) -> None:
    expected = 431 if running.parser == "httptools" else 400  # h11's own refusal says only "invalid"
    assert [status for status, _ in running.replies(*big_head("/"))] == [expected]


def test_a_head_whose_header_never_ends_is_refused_once_past_the_limit(running: Running) -> None:
    with connect(running.port, timeout_s=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in range(40):  # 40 reads of 1 KiB in 0.2 s or so
            try:
                sock.sendall(b"v" * 1024)
            except OSError:
                break
            time.sleep(0.005)
        assert closed_by_server(sock, within_s=HEADER_TIMEOUT_S) is not None
    assert time.monotonic() - started < HEADER_TIMEOUT_S - 0.2  # refused for its size, not cut by the deadline


def test_a_head_just_under_the_limit_is_served(running: Running) -> None:
    data = head("GET", "/", {"X-Big": "v" * 15_000})
    assert running.replies(data) == [(200, b"/ 0")]


def test_content_length_beside_chunked_is_never_read_as_a_length(running: Running) -> None:
    """A smuggling attempt: a server framing by Content-Length would read `/next` as part of this body."""
    data = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n" + get("/next"))
    replies = running.replies(data)
    if running.parser == "httptools":
        assert [(status, refused_code(body)) for status, body in replies] == [(400, "BAD_REQUEST")]  # outright
    else:
        assert replies == [(200, b"/ 3"), (200, b"/next 0")]  # h11 frames by chunked, as RFC 9112 says


def test_an_http_1_0_request_is_answered_and_its_connection_closed(running: Running) -> None:
    started = time.monotonic()
    assert running.replies(b"GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == [(200, b"/one 0")]
    assert time.monotonic() - started < KEEPALIVE_S  # closed after the answer, not by the idle timeout


def test_another_http_version_is_refused(running: Running) -> None:
    replies = running.replies(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    if running.parser == "httptools":
        assert [(status, refused_code(body)) for status, body in replies] == [(505, "HTTP_VERSION_NOT_SUPPORTED")]
    else:
        assert replies == [(200, b"/ 0")]  # h11 serves any 1.x-shaped version


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "METHOD_NOT_ALLOWED"),
    (b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "BAD_REQUEST"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
])
def test_a_refusal_of_the_parser_is_in_the_error_envelope_with_a_request_id(running: Running, data: bytes,
                                                                            status: int, code: str) -> None:
    """What llhttp refuses never reaches the app, yet every failure has the envelope's shape (API.md, 1); a
    method it does not know gets what the app says of a method a route does not take."""
    if running.parser != "httptools":
        pytest.skip("h11 hands these to the app, or answers them itself as uvicorn does")
    with connect(running.port, timeout_s=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    raw_head, _, body = received.partition(b"\r\n\r\n")
    assert raw_head.startswith(f"HTTP/1.1 {status} ".encode())
    assert re.search(rb"\r\nx-request-id: [0-9a-f]{32}\r\n", raw_head + b"\r\n")
    assert b"\r\ncontent-type: application/json" in raw_head
    assert refused_code(body) == code


def test_pipelined_requests_are_answered_in_order(running: Running) -> None:
    data = get("/slow") + get("/two") + head("POST", "/three", {"Content-Length": "3"}) + b"abc" + get("/four")
    assert running.replies(data) == [(200, b"/slow 0"), (200, b"/two 0"), (200, b"/three 3"), (200, b"/four 0")]


def test_a_malformed_request_behind_a_slow_one_is_refused_after_its_answer(running: Running) -> None:
    replies = running.replies(get("/slow") + b"GET /two HTTP/1.1\r\nHo st: x\r\n\r\n" + get("/never"))
    assert [status for status, _ in replies] == [200, 400]
    assert replies[0] == (200, b"/slow 0")


def test_a_head_too_large_behind_a_slow_request_is_refused_after_its_answer(running: Running) -> None:
    first, rest = big_head("/two")
    replies = running.replies(get("/slow") + first, rest, gap_s=SLOW_S + 0.2)  # h11: incomplete till then
    assert replies[0] == (200, b"/slow 0")
    assert [status for status, _ in replies[1:]] == [431 if running.parser == "httptools" else 400]


def test_requests_sent_far_ahead_of_their_answers_are_bounded(running: Running) -> None:
    replies = running.replies(get("/slow") + get("/next") * 40)
    if running.parser == "httptools":  # 32 wait behind the one answered; the 34th is refused
        statuses = [200] * (1 + connections.READ_AHEAD_LIMIT) + [400]
        assert [status for status, _ in replies] == statuses
    else:
        assert [status for status, _ in replies] == [200] * 41  # h11 reads one request at a time


def test_a_connection_that_never_sends_a_byte_is_closed_after_the_idle_timeout(running: Running) -> None:
    with connect(running.port) as sock:
        closed_after = closed_by_server(sock, KEEPALIVE_S + 2)
    assert closed_after is not None
    assert closed_after < KEEPALIVE_S + 0.5


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(running: Running) -> None:
    with connect(running.port) as sock:
        sock.sendall(get("/"))
        assert read_response(sock).status == 200
        closed_after = closed_by_server(sock, within_s=KEEPALIVE_S + 2)
    assert closed_after is not None
    assert closed_after < KEEPALIVE_S + 0.5


def test_a_head_trickled_in_is_cut_at_the_head_deadline(running: Running) -> None:
    with connect(running.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT_S + 2:
            time.sleep(KEEPALIVE_S / 3)  # within the idle timeout: only the head deadline can cut it
            try:
                sock.sendall(b"X")
            except OSError:
                break
        assert closed_by_server(sock, within_s=0.5) is not None
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 0.8


def test_a_request_served_longer_than_the_head_deadline_is_not_cut(running: Running) -> None:
    assert running.replies(get("/slower") + get("/after")) == [(200, b"/slower 0"), (200, b"/after 0")]


def test_past_the_connection_limit_a_request_is_answered_503(running: Running) -> None:
    held = [connect(running.port) for _ in range(8)]  # limit_concurrency=8
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # a head begun: not idle, for the head deadline's 1 s
        time.sleep(0.1)
        assert [status for status, _ in running.replies(get("/"))] == [503]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.1)
    assert running.replies(get("/")) == [(200, b"/ 0")]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PARSERS)
def test_a_request_in_flight_as_the_server_stops_is_answered_with_connection_close(
        protocol: type[asyncio.Protocol]) -> None:
    with serving_with(protocol) as running, connect(running.port) as sock:
        sock.sendall(get("/slow"))
        time.sleep(SLOW_S / 3)
        running.server.handle_exit(signal.SIGTERM, None)
        answer = read_response(sock)
    assert (answer.status, answer.headers.get("connection")) == (200, "close")
