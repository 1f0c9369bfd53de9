"""`AsyncMemoClient`: `MemoClient` for asyncio, method for method, over an httpx.AsyncClient."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import uuid4

import httpx

from memo.client import calls
from memo.client.auth import MemoAuth
from memo.client.calls import IMPORT_BATCH_BYTES, IMPORT_BATCH_LINES, Batch, Call, ImportItem, Instant, MemoryId
from memo.client.models import (
    Answer,
    ExportedMemory,
    Health,
    ImportReport,
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

    async def export(self) -> AsyncIterator[ExportedMemory]:
        """Every memory of the caller, oldest first, decoded line by line as the server streams them."""
        async for line in self.export_lines():
            yield calls.exported_memory(line)

    async def export_lines(self) -> AsyncIterator[bytes]:
        """The export's JSON lines as sent (no newline), for writing a file that `import_memories` takes back."""
        async with self._streamed(calls.export()) as response:
            async for line in response.aiter_lines():
                if line:
                    yield line.encode()

    async def export_markdown(self) -> AsyncIterator[str]:
        """The export as one readable Markdown document, in the pieces the server streams."""
        async with self._streamed(calls.export(markdown=True)) as response:
            async for piece in response.aiter_text():
                yield piece

    async def import_memories(self, memories: Iterable[ImportItem] | AsyncIterable[ImportItem], *,
                              batch_size: int = IMPORT_BATCH_LINES, max_batch_bytes: int = IMPORT_BATCH_BYTES,
                              idempotency_key: str | None = None) -> ImportReport:
        """Restore memories in batches, as `MemoClient.import_memories` does; takes an async iterable too."""
        run, report = idempotency_key or str(uuid4()), ImportReport(created=0, unchanged=0, skipped=[])
        batcher = calls.Batcher(max_lines=batch_size, max_bytes=max_batch_bytes)
        async for item in _each(memories):
            if (full := batcher.add(item)) is not None:
                report = await self._import(report, full, run)
        if (last := batcher.flush()) is not None:
            report = await self._import(report, last, run)
        return report

    async def _import(self, report: ImportReport, batch: Batch, run: str) -> ImportReport:
        answered = await self._run(calls.import_batch(batch.lines, f"{run}-{batch.number}"))
        return report.after(answered, lines_before=batch.lines_before)

    @contextlib.asynccontextmanager
    async def _streamed(self, call: Call[None]) -> AsyncIterator[httpx.Response]:
        try:
            response = await self._http.send(call.request(self._http), auth=self.auth, stream=True)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        try:
            if not response.is_success:
                await response.aread()
                call.read(response)
            yield response
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        finally:
            await response.aclose()


async def _each(items: Iterable[ImportItem] | AsyncIterable[ImportItem]) -> AsyncIterator[ImportItem]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
