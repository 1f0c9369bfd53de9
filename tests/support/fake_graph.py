"""A fake Meta Graph API speaking real HTTP on 127.0.0.1, for the Cloud API adapters' contract tests.

Real sockets, so timeouts, dropped connections, refused connects and redirects happen as they would against
Meta, not as a mock transport imagines them. It runs `http.server` on a thread of its own (the test's event loop
stays free to be the client), records every request as it arrives (before any stall), and answers what each test
scripts per method and path: a sequence of replies, the last one repeated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

VERSION = "v21.0"
PHONE_NUMBER_ID = "106540352242922"
MESSAGES_PATH = f"/{VERSION}/{PHONE_NUMBER_ID}/messages"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_s: float = 0.0  # wait this long (or until the fake closes) before answering
    drop: bool = False  # close the connection without a byte of answer
    chunked: bool = False  # Transfer-Encoding: chunked, so no Content-Length says the size up front


def json_reply(payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(),
                 headers={"Content-Type": "application/json", **(headers or {})})


def meta_error(code: int, *, status: int = 400, message: str | None = None, details: str | None = None,
               subcode: int | None = None, retry_after: str | None = None) -> Reply:
    """Meta's error body: {"error": {message, type, code, error_subcode, error_data: {details}, fbtrace_id}}."""
    error: dict[str, Any] = {"message": message or f"(#{code}) Fake error", "type": "OAuthException", "code": code,
                             "fbtrace_id": "AbCdEfGhIjKlMnOp"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_reply({"error": error}, status=status, headers={"Retry-After": retry_after} if retry_after else None)


def sent(message_id: str = "wamid.FAKE1", wa_id: str = "4915112345678") -> Reply:
    return json_reply({"messaging_product": "whatsapp", "contacts": [{"input": wa_id, "wa_id": wa_id}],
                       "messages": [{"id": message_id}]})


def text_reply(text: str, *, status: int, content_type: str = "text/html") -> Reply:
    return Reply(status=status, body=text.encode(), headers={"Content-Type": content_type})


def redirect(location: str, *, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location})


def stall(seconds: float) -> Reply:
    return Reply(stall_s=seconds, body=b"{}")


DROP = Reply(drop=True)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeGraph:
    """The fake server; `base_url` is what an adapter is pointed at. Bound at once, listening when `listen()`ed.

    A port that is bound but not listening refuses connects, so `FakeGraph(listen=False)` plays a Graph host that
    is down until the test calls `listen()`.
    """

    def __init__(self, *, listen: bool = True) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.fake = self
        self._server.server_bind()
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    def listen(self) -> None:
        if self._thread is None:
            self._server.server_activate()
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closing.set()  # releases stalled answers
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Answer `method path` (query ignored) with `replies` in turn, the last one for every later request."""
        with self._lock:
            self._routes[(method.upper(), path)] = list(replies)

    def serve_media(self, media_id: str, data: bytes, *, mime_type: str = "image/jpeg", sha256: str | None = None,
                    file_size: int | str | None = None, url: str | None = None, chunked: bool = False) -> str:
        """Answer the media id lookup with a URL on this fake (or `url`), and that URL with `data`; the URL."""
        media_path = f"/media/{media_id}"
        media_url = url or f"{self.base_url}{media_path}?ext=1700000000&hash=ATs"
        self.reply("GET", f"/{VERSION}/{media_id}", json_reply({
            "messaging_product": "whatsapp", "url": media_url, "mime_type": mime_type, "id": media_id,
            "sha256": hashlib.sha256(data).hexdigest() if sha256 is None else sha256,
            "file_size": len(data) if file_size is None else file_size}))
        self.reply("GET", media_path, Reply(body=data, headers={"Content-Type": mime_type}, chunked=chunked))
        return media_url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if urlsplit(request.path).path == path]

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            replies = self._routes.get((request.method, urlsplit(request.path).path))
            if not replies:
                return text_reply(f"fake graph: nothing scripted for {request.method} {request.path}", status=500,
                                  content_type="text/plain")
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGraph


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: the tests read `requests`, and stderr is no place for a bearer header."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(method=self.command, path=self.path, body=body,
                                  headers={name.lower(): value for name, value in self.headers.items()})
        fake = self.server.fake
        reply = fake._record_and_pick(request)
        if reply.stall_s and fake._closing.wait(reply.stall_s):
            reply = DROP
        self.close_connection = True
        if reply.drop:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(reply.body), 16_384):
                    chunk = reply.body[start:start + 16_384]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listen queue is full and never drained: a connect to it times out, as to a host that is gone."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.settimeout(0)  # non-blocking: the connect is left to finish on its own
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)  # let the fillers' handshakes land first, so they, not the caller, hold the queue
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()
