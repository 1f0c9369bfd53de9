"""`AsyncMemoClient`: `MemoClient` for asyncio, method for method, over an httpx.AsyncClient."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from memo.client import calls
from memo.client.auth import MemoAuth
from memo.client.calls import Call, Instant, MemoryId
from memo.client.models import (
    Answer,
    Health,
    Memory,
    MemoryType,
    Page,
    SearchMode,
    SearchResult,
    SendResult,
    SortBy,
    SortOrder,
    Source,
    SyncStatus,
)
from memo.client.sync import PAGE_SIZE, settings_from_env, transport_error

T = TypeVar("T")


class AsyncMemoClient:
    """A signed client of one Memo server; use it as an async context manager, or await `aclose()`.

    `http` lets you bring your own httpx.AsyncClient (proxies, TLS, a test transport); it is signed per request and
    closed by you. `clock` is the local time source; the learned offset to the server's lives on `auth`.
    """

    def __init__(self, base_url: str, key_id: str, secret: str | bytes, *, timeout: float = 30.0,
                 http: httpx.AsyncClient | None = None, clock: Callable[[], float] = time.time) -> None:
        self.auth = MemoAuth(key_id, secret, clock=clock)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(base_url=base_url, timeout=timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, timeout: float = 30.0,
                 http: httpx.AsyncClient | None = None, clock: Callable[[], float] = time.time) -> Self:
        """From MEMO_URL (default a local `memo serve`), MEMO_KEY_ID and MEMO_KEY_SECRET."""
        url, key_id, secret = settings_from_env(environ)
        return cls(url, key_id, secret, timeout=timeout, http=http, clock=clock)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                       trace: TracebackType | None) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.request(self._http), auth=self.auth)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        return call.read(response)

    async def create_memory(self, content: str, *, type: MemoryType | None = None,  # noqa: A002 - the wire name
                            tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                            idempotency_key: str | None = None) -> Memory:
        """Save a memory; with `idempotency_key`, a retry of the same body answers the same memory for 24 h."""
        return await self._run(calls.create_memory(content, type=type, tags=tags, metadata=metadata,
                                                   idempotency_key=idempotency_key))

    async def list_memories(self, *, search: str | None = None, type: MemoryType | None = None,  # noqa: A002
                            tags: Sequence[str] | None = None, created_after: Instant | None = None,
                            created_before: Instant | None = None, limit: int | None = None, offset: int | None = None,
                            sort_by: SortBy | None = None, sort_order: SortOrder | None = None) -> Page:
        return await self._run(calls.list_memories(search=search, type=type, tags=tags, created_after=created_after,
                                                   created_before=created_before, limit=limit, offset=offset,
                                                   sort_by=sort_by, sort_order=sort_order))

    async def iter_memories(self, *, page_size: int = PAGE_SIZE, search: str | None = None,
                            type: MemoryType | None = None, tags: Sequence[str] | None = None,  # noqa: A002
                            created_after: Instant | None = None, created_before: Instant | None = None,
                            sort_by: SortBy | None = None, sort_order: SortOrder | None = None,
                            ) -> AsyncIterator[Memory]:
        """Every matching memory, page after page (one request per `page_size`)."""
        offset: int | None = 0
        while offset is not None:
            page = await self.list_memories(search=search, type=type, tags=tags, created_after=created_after,
                                            created_before=created_before, limit=page_size, offset=offset,
                                            sort_by=sort_by, sort_order=sort_order)
            for memory in page.items:
                yield memory
            offset = page.next_offset

    async def get_memory(self, memory_id: MemoryId) -> Memory:
        return await self._run(calls.get_memory(memory_id))

    async def update_memory(self, memory_id: MemoryId, *, content: str | None = None,
                            type: MemoryType | None = None, tags: Sequence[str] | None = None,  # noqa: A002
                            metadata: Mapping[str, Any] | None = None, if_match: int | None = None) -> Memory:
        """Change the fields given (metadata is merged); `if_match` is the version you read, else 412 Conflict."""
        return await self._run(calls.update_memory(memory_id, content=content, type=type, tags=tags, metadata=metadata,
                                                   if_match=if_match))

    async def delete_memory(self, memory_id: MemoryId) -> None:
        await self._run(calls.delete_memory(memory_id))

    async def search(self, query: str, *, limit: int | None = None, type: MemoryType | None = None,  # noqa: A002
                     tags: Sequence[str] | None = None, source: Source | None = None,
                     created_after: Instant | None = None, created_before: Instant | None = None,
                     mode: SearchMode | None = None) -> SearchResult:
        return await self._run(calls.search(query, limit=limit, type=type, tags=tags, source=source,
                                            created_after=created_after, created_before=created_before, mode=mode))

    async def ask(self, question: str, *, limit: int | None = None) -> Answer:
        return await self._run(calls.ask(question, limit=limit))

    async def send_whatsapp(self, to: str, message: str, *, reply_to: str | None = None) -> SendResult:
        return await self._run(calls.send_whatsapp(to, message, reply_to=reply_to))

    async def sync_status(self) -> SyncStatus:
        return await self._run(calls.sync_status())

    async def health(self) -> Health:
        return await self._run(calls.health())
