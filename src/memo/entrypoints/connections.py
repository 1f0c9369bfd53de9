"""uvicorn's HTTP/1.1 protocols with the connection deadlines Memo adds: the httptools one `memo serve` runs, and
the h11 one beside it, held to the same tests.

Both parsers get the two deadlines uvicorn lacks and TCP_NODELAY (`ConnectionDeadlines`). The httptools protocol
also gets what h11 did by itself and httptools leaves out: a bound on the request head, a refusal of a request
that is not HTTP/1.0 or HTTP/1.1 with its Host, answers in the order of the requests even when one is refused, and
a bound on requests read ahead of the one being answered. See docs/decisions.md, "Connections and bodies".
"""

from __future__ import annotations

import array
import asyncio
import http
import json
import re
import socket
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

HEAD_LIMIT_BYTES = 16_384  # h11's bound on a head not yet complete, kept on httptools, which has none
READ_AHEAD_LIMIT = 32  # requests parsed and queued behind the one being answered (h11 parses none ahead)
HEAD_TOO_LARGE = (http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request head too large.")
UNKNOWN_METHOD = (http.HTTPStatus.METHOD_NOT_ALLOWED, "This route does not accept that method.")
REQUEST_LINE = re.compile(rb"(?:^|\r\n\r\n)[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32} \S+ HTTP/1\.[01]\r\n")
#: the error envelope's codes for what the protocol refuses before the app sees a request (API.md, 1)
REFUSAL_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 431: "REQUEST_HEADERS_TOO_LARGE",
                 505: "HTTP_VERSION_NOT_SUPPORTED"}


class _RecordingParser(httptools.HttpRequestParser):
    """httptools' parser, remembering why it refused, which uvicorn's handler of its error does not pass on."""

    refused_method = False

    def feed_data(self, data: bytes | bytearray | memoryview | array.array[int]) -> None:
        try:
            super().feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            # a method word llhttp does not know, in an HTTP request line; bytes that are not HTTP at all are not
            self.refused_method = REQUEST_LINE.search(bytes(data)) is not None
            raise


class DrainingState(ServerState):
    """uvicorn's state shared by a server's connections, and whether the server has begun to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False


class ConnectionDeadlines(asyncio.Protocol):
    """What uvicorn's protocols lack, whichever parser reads the requests.

    - A connection is idle from its first moment: one that never sends a byte is closed after the keep-alive
      timeout, as one that went quiet after a response already is.
    - The request head must arrive within `header_timeout_s` of its first byte; a head trickled in slowly
      (the slowloris way) loses its connection.
    - A connection accepted as the server stops draining is closed unanswered.
    The body has its own deadline, kept by the ASGI layer, which can answer `408` in the error envelope.
    """

    header_timeout_s: ClassVar[float] = 30.0

    # set by uvicorn's protocol, which follows this class in the method resolution order
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    server_state: ServerState
    timeout_keep_alive: int  # as uvicorn types it; a float given to the config is kept
    timeout_keep_alive_task: asyncio.TimerHandle | None
    cycle: Any  # the request being answered, or the last one: each parser has its own cycle class
    shutdown: Callable[[], None]
    timeout_keep_alive_handler: Callable[[], None]
    _head_deadline: asyncio.TimerHandle | None = None  # while a request head is arriving

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        no_delay(transport.get_extra_info("socket"))
        super().connection_made(transport)
        if isinstance(self.server_state, DrainingState) and self.server_state.draining:
            # accepted in the very moment the server stopped listening, after uvicorn asked every connection it
            # knew to close: served, it would keep the server alive as long as its client kept it busy
            self.shutdown()
            return
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and not self._answering():
            self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)
        super().data_received(data)
        if self._head_deadline is not None and self._answering():
            self._head_deadline.cancel()  # the head is in: a request is being served
            self._head_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class DeadlineH11Protocol(ConnectionDeadlines, H11Protocol):
    """uvicorn's h11 protocol with Memo's deadlines; h11 bounds the head and answers in order by itself."""

    def shutdown(self) -> None:
        """uvicorn's: an idle connection closes now, one with a request in flight after its response. That
        response also says `Connection: close` (uvicorn's h11 cycle adds it only when the request did), so the
        client sends no further request on a connection that is about to close."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.scope["headers"] = [*cycle.scope["headers"], CLOSE_HEADER]
        super().shutdown()


class _Refused(Exception):
    """Raised in a parser callback: httptools stops at once, and uvicorn asks for its 400, already decided."""


class DeadlineHttpToolsProtocol(ConnectionDeadlines, HttpToolsProtocol):
    """uvicorn's httptools protocol with Memo's deadlines, and what h11 did by itself that httptools does not.

    - A head past `HEAD_LIMIT_BYTES` is refused `431`: httptools keeps any head whole in memory. What is
      counted is its target and complete header lines, as parsed, or the reads that fell wholly inside it,
      whichever is more (a header line that never ends is parsed never).
    - A request that is not HTTP/1.0 or 1.1 is refused `505`, and an HTTP/1.1 one without `Host` `400`
      (RFC 9112, 3.2).
    - A refusal comes after the responses owed to the requests read before it: httptools reads pipelined
      requests ahead and would write its 400 first, where the client takes it for an earlier request's answer.
    - At most `READ_AHEAD_LIMIT` requests wait behind the one being answered; the next is refused `400`, so a
      client cannot queue a read's worth of tiny requests (thousands) over and over.
    Every refusal is in the error envelope, says `Connection: close`, and ends the connection once written.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's own signature
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._heads_begun = 0
        self._head_reads = 0  # bytes of the reads that fell wholly inside the head now arriving
        self._refusal: bytes | None = None  # once set, nothing more is read: the connection ends with it
        self._recording = self.parser = _RecordingParser(self)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        inside, heads_begun = self._in_head, self._heads_begun
        super().data_received(data)
        if self._refusal is None and self._in_head:
            if inside and self._heads_begun == heads_begun:
                self._head_reads += len(data)
            if max(self._head_parsed(), self._head_reads) > HEAD_LIMIT_BYTES:  # both count less than the head
                self._refuse(*HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        self._in_head, self._head_reads = True, 0
        self._heads_begun += 1
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        version = self.parser.get_http_version()
        if self._head_parsed() > HEAD_LIMIT_BYTES:
            self._refuse(*HEAD_TOO_LARGE)
        elif version not in {"1.0", "1.1"}:
            self._refuse(http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/1.1 or HTTP/1.0 only.")
        elif version == "1.1" and all(name != b"host" for name, _ in self.headers):
            self._refuse(http.HTTPStatus.BAD_REQUEST, "An HTTP/1.1 request names its Host.")
        elif len(self.pipeline) >= READ_AHEAD_LIMIT:
            self._refuse(http.HTTPStatus.BAD_REQUEST, "Too many requests sent ahead of their answers.")
        if self._refusal is not None:
            raise _Refused
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - the envelope says it in its own words
        """uvicorn's answer to what its parser refused; here it keeps its place behind the answers owed. A method
        llhttp does not know (`FOO`) is what the app answers for a method a route does not take: 405."""
        if self._recording.refused_method:
            self._refuse(*UNKNOWN_METHOD)
        else:
            self._refuse(http.HTTPStatus.BAD_REQUEST, "The request is malformed.")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None:
            self._send_refusal_when_due()

    def _head_parsed(self) -> int:
        """The target and the complete header lines of the head now arriving, as uvicorn keeps them."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)  # ": ", CRLF

    def _owed(self) -> bool:
        """Answers are owed to requests read in full before the refused one. A request whose own body broke
        the parser is the refused one: its answer is the refusal."""
        cycle = self.cycle
        return bool(self.pipeline) or (cycle is not None and not cycle.response_complete and not cycle.more_body)

    def _refuse(self, status: http.HTTPStatus, reason: str) -> None:
        """The first refusal of a connection is its last answer; any later one (uvicorn's 400 for the parser
        that a refusal stopped) changes nothing."""
        if self._refusal is None:
            self._refusal = refusal(status, reason)
        self._send_refusal_when_due()

    def _send_refusal_when_due(self) -> None:
        if self._owed():
            self.flow.pause_reading()  # resumed by the answers owed; what is read meanwhile is dropped
        elif self._refusal is not None and not self.transport.is_closing():
            self.transport.write(self._refusal)
            self.transport.close()


def refusal(status: http.HTTPStatus, reason: str) -> bytes:
    """A whole response in the error envelope, with a request id and `Connection: close`: every failure has the
    envelope's shape (API.md, 1), these too, though no request reached the app and its headers layer."""
    body = json.dumps({"success": False, "error": reason, "code": REFUSAL_CODES[status.value]}).encode()
    return (f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nx-request-id: {uuid.uuid4().hex}\r\n"
            "x-content-type-options: nosniff\r\nconnection: close\r\n\r\n").encode("ascii") + body


def no_delay(sock: Any) -> None:  # noqa: ANN401 - a socket, or asyncio's TransportSocket wrapping one
    """Turn Nagle's algorithm off: uvicorn writes a response's head and body apart, and with Nagle on the body
    waits for the client's delayed ACK of the head, 40 ms on Linux, on every request of a kept-alive connection.

    asyncio sets TCP_NODELAY itself only on sockets made with `IPPROTO_TCP`; a listening socket made without it
    (as `listen` once was) hands out connections without it, so it is set here, whatever made the socket.
    """
    if sock is not None and sock.family in {socket.AF_INET, socket.AF_INET6}:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
