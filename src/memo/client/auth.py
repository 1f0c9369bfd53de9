"""`MemoAuth`: an httpx.Auth that signs scheme v2 over the bytes httpx actually sends.

httpx reads the whole body first (a generator or file body included, `requires_request_body`), so the digest is
of the exact bytes on the wire, and the target signed is `request.url.raw_path`, the path and query as httpx
writes them in the request line. Every attempt gets a fresh nonce and timestamp: the retry after an
`EXPIRED_TIMESTAMP`, and each hop of a redirect, is signed anew.

A clock off by more than the server's window (300 s back, 60 s ahead) gets `401 EXPIRED_TIMESTAMP`; the auth then
takes the server's time from the answer's `Date` header, keeps the difference as `clock_offset` for every later
request, and retries once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from email.utils import parsedate_to_datetime

import httpx
import msgspec

from memo.client.signing import sign_request

EXPIRED = "EXPIRED_TIMESTAMP"
UNAUTHORIZED = 401


class _Refusal(msgspec.Struct):
    code: str = ""


def fresh_nonce() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


class MemoAuth(httpx.Auth):
    """Use with `httpx.Client(auth=...)` or `httpx.AsyncClient(auth=...)`, or per request (`auth=`)."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str | bytes, *, clock: Callable[[], float] = time.time,
                 nonces: Callable[[], str] = fresh_nonce, clock_offset: float = 0.0) -> None:
        self.key_id = key_id
        self._secret = secret
        self._clock = clock
        self._nonces = nonces
        self._lock = threading.Lock()
        self._offset = clock_offset

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock: the server's time minus ours, as last learned."""
        return self._offset

    def sign(self, request: httpx.Request) -> httpx.Request:
        """Set the four X-Memo-* headers for this attempt (the body must have been read)."""
        with self._lock:
            offset = self._offset
        headers = sign_request(method=request.method, url_or_path_and_query=request.url.raw_path.decode("ascii"),
                               body=request.content, key_id=self.key_id, secret=self._secret,
                               timestamp=int(self._clock() + offset), nonce=self._nonces())
        request.headers.update(headers)
        return request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        response = yield self.sign(request)
        if response.status_code == UNAUTHORIZED:
            response.read()
            if self._learn_offset(response):
                yield self.sign(request)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        response = yield self.sign(request)
        if response.status_code == UNAUTHORIZED:
            await response.aread()
            if self._learn_offset(response):
                yield self.sign(request)

    def _learn_offset(self, response: httpx.Response) -> bool:
        """Whether the answer was EXPIRED_TIMESTAMP with a usable Date, the offset then taken from it."""
        try:
            code = msgspec.json.decode(response.content, type=_Refusal).code
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        date = response.headers.get("Date")
        if code != EXPIRED or date is None:
            return False
        try:
            server_now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return False
        with self._lock:
            self._offset = server_now - self._clock()
        return True
