"""Request bodies under attack: a deadline to arrive, a memory budget until authenticated, quiet disconnects.

The server's own limits cut a slow request head and idle connections (see `serving.py`); a body is the app's to
read, so its deadline lives here, where a late body can still be answered `408` in the error envelope.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any

from litestar import Request, Response
from litestar.types import Receive, ReceiveMessage

from memo.application.throttled_log import ThrottledWarning
from memo.entrypoints.http.schemas import ErrorBody

log = logging.getLogger("memo.http")

CLOSE_STATE = "close_connection"  # scope state flag: the response must close the connection


class RequestBodyTimeout(Exception):
    """The body did not arrive within MEMO_BODY_TIMEOUT_S."""


class ClientDisconnected(Exception):
    """The client went away before its body was complete: its loss, not a server fault."""


class ServerBusy(Exception):
    """The memory budget for bodies of unauthenticated requests is spent."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("the unauthenticated body budget is spent")
        self.retry_after_s = retry_after_s


class DisconnectCounter:
    """Counts disconnects mid-body, and says so in the debug log at most once per interval."""

    def __init__(self) -> None:
        self.count = 0
        self._note = ThrottledWarning(log, "clients disconnected before their body was complete", every_s=30,
                                      level=logging.DEBUG)

    def __call__(self, path: str) -> None:
        self.count += 1
        if log.isEnabledFor(logging.DEBUG):
            self._note(f"last on {path[:128]}")


CLIENT_DISCONNECTS = DisconnectCounter()


def with_body_deadline(receive: Receive, state: dict[str, Any], timeout_s: float) -> Receive:
    """`receive`, bounded: the whole body must arrive within `timeout_s` of the request's start."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    body_done = False

    async def receive_before_deadline() -> ReceiveMessage:
        nonlocal body_done
        if body_done:
            return await receive()
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            state[CLOSE_STATE] = True
            raise RequestBodyTimeout from None
        if message["type"] == "http.disconnect":
            state[CLOSE_STATE] = True
            raise ClientDisconnected
        if not message.get("more_body", False):
            body_done = True
        return message

    return receive_before_deadline


class BodyBudget:
    """Bytes that requests not yet authenticated may hold in memory, shared by every request of the process.

    A reservation that does not fit waits up to `wait_s` for others to be released, first come first served,
    then fails; an authenticated caller's body no longer counts. Everything runs on the event loop, so the
    bookkeeping needs no lock, and the common case (it fits, nobody waits) never suspends.
    """

    def __init__(self, total_bytes: int, *, wait_s: float = 0.5) -> None:
        if total_bytes < 1:
            raise ValueError("the budget must be positive")
        self.total, self.free, self._wait_s = total_bytes, total_bytes, wait_s
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def reserve(self, size: int) -> int:
        """Take `size` bytes (at most the whole budget); return what was taken, for `release`."""
        size = min(size, self.total)
        if not self._waiters and size <= self.free:
            self.free -= size
            return size
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self._wait_s)
        except TimeoutError:
            if waiter.done():  # granted at the very last moment: keep it
                return size
            self._waiters.remove(entry)
            self._wake()
            raise ServerBusy(retry_after_s=max(1, math.ceil(self._wait_s))) from None
        return size

    def release(self, size: int) -> None:
        self.free = min(self.total, self.free + size)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            size, waiter = self._waiters.popleft()
            if not waiter.done():
                self.free -= size
                waiter.set_result(None)


def handle_body_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    state = request.scope.setdefault("state", {})
    state[CLOSE_STATE] = True  # each of these leaves a body unread, or half read
    request_id = state.get("request_id")
    headers: dict[str, str] = {}
    if isinstance(exc, RequestBodyTimeout):
        status, body = 408, ErrorBody(error="The request body did not arrive in time.", code="REQUEST_TIMEOUT")
    elif isinstance(exc, ServerBusy):
        status, body = 503, ErrorBody(error="The server is busy; retry shortly.", code="SERVER_BUSY")
        headers["Retry-After"] = str(exc.retry_after_s)
    else:  # ClientDisconnected: nobody will read this answer
        CLIENT_DISCONNECTS(request.scope.get("path", ""))
        status, body = 400, ErrorBody(error="The client disconnected before its body was complete.",
                                      code="CLIENT_DISCONNECTED")
    if isinstance(request_id, str):
        body.request_id = request_id
    return Response(body, status_code=status, headers=headers, media_type="application/json")


BODY_EXCEPTION_HANDLERS = {RequestBodyTimeout: handle_body_error, ClientDisconnected: handle_body_error,
                           ServerBusy: handle_body_error}
