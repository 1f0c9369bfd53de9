"""`MemoClient`: every route of API.md as a method that returns typed objects or raises a `MemoError`."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import uuid4

import httpx

from memo.client import calls
from memo.client.auth import MemoAuth
from memo.client.calls import IMPORT_BATCH_BYTES, IMPORT_BATCH_LINES, Batch, Call, ImportItem, Instant, MemoryId
from memo.client.errors import TransportError
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

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:3001"
PAGE_SIZE = 100


def settings_from_env(environ: Mapping[str, str]) -> tuple[str, str, str]:
    """(MEMO_URL, MEMO_KEY_ID, MEMO_KEY_SECRET), the URL defaulting to a local `memo serve`."""
    missing = [name for name in ("MEMO_KEY_ID", "MEMO_KEY_SECRET") if not environ.get(name)]
    if missing:
        raise KeyError(f"set {' and '.join(missing)} (and MEMO_URL, default {DEFAULT_URL})")
    return environ.get("MEMO_URL") or DEFAULT_URL, environ["MEMO_KEY_ID"], environ["MEMO_KEY_SECRET"]


def transport_error(exc: httpx.TransportError) -> TransportError:
    return TransportError(f"{type(exc).__name__}: {exc}", code="TRANSPORT_ERROR")


class MemoClient:
    """A signed client of one Memo server; use it as a context manager, or call `close()`.

    `http` lets you bring your own httpx.Client (proxies, TLS, a test transport); it is signed per request and
    closed by you. `clock` is the local time source; the learned offset to the server's lives on `auth`.
    """

    def __init__(self, base_url: str, key_id: str, secret: str | bytes, *, timeout: float = 30.0,
                 http: httpx.Client | None = None, clock: Callable[[], float] = time.time) -> None:
        self.auth = MemoAuth(key_id, secret, clock=clock)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(base_url=base_url, timeout=timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, timeout: float = 30.0,
                 http: httpx.Client | None = None, clock: Callable[[], float] = time.time) -> Self:
        """From MEMO_URL (default a local `memo serve`), MEMO_KEY_ID and MEMO_KEY_SECRET."""
        url, key_id, secret = settings_from_env(environ)
        return cls(url, key_id, secret, timeout=timeout, http=http, clock=clock)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _run(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.request(self._http), auth=self.auth)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        return call.read(response)

    def create_memory(self, content: str, *, type: MemoryType | None = None,  # noqa: A002 - the wire name
                      tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                      idempotency_key: str | None = None) -> Memory:
        """Save a memory; with `idempotency_key`, a retry of the same body answers the same memory for 24 h."""
        return self._run(calls.create_memory(content, type=type, tags=tags, metadata=metadata,
                                             idempotency_key=idempotency_key))

    def list_memories(self, *, search: str | None = None, type: MemoryType | None = None,  # noqa: A002
                      tags: Sequence[str] | None = None, created_after: Instant | None = None,
                      created_before: Instant | None = None, limit: int | None = None, offset: int | None = None,
                      sort_by: SortBy | None = None, sort_order: SortOrder | None = None) -> Page:
        return self._run(calls.list_memories(search=search, type=type, tags=tags, created_after=created_after,
                                             created_before=created_before, limit=limit, offset=offset,
                                             sort_by=sort_by, sort_order=sort_order))

    def iter_memories(self, *, page_size: int = PAGE_SIZE, search: str | None = None,
                      type: MemoryType | None = None, tags: Sequence[str] | None = None,  # noqa: A002
                      created_after: Instant | None = None, created_before: Instant | None = None,
                      sort_by: SortBy | None = None, sort_order: SortOrder | None = None) -> Iterator[Memory]:
        """Every matching memory, page after page (one request per `page_size`)."""
        offset: int | None = 0
        while offset is not None:
            page = self.list_memories(search=search, type=type, tags=tags, created_after=created_after,
                                      created_before=created_before, limit=page_size, offset=offset,
                                      sort_by=sort_by, sort_order=sort_order)
            yield from page.items
            offset = page.next_offset

    def get_memory(self, memory_id: MemoryId) -> Memory:
        return self._run(calls.get_memory(memory_id))

    def update_memory(self, memory_id: MemoryId, *, content: str | None = None,
                      type: MemoryType | None = None, tags: Sequence[str] | None = None,  # noqa: A002
                      metadata: Mapping[str, Any] | None = None, if_match: int | None = None) -> Memory:
        """Change the fields given (metadata is merged); `if_match` is the version you read, else 412 Conflict."""
        return self._run(calls.update_memory(memory_id, content=content, type=type, tags=tags, metadata=metadata,
                                             if_match=if_match))

    def delete_memory(self, memory_id: MemoryId) -> None:
        self._run(calls.delete_memory(memory_id))

    def search(self, query: str, *, limit: int | None = None, type: MemoryType | None = None,  # noqa: A002
               tags: Sequence[str] | None = None, source: Source | None = None,
               created_after: Instant | None = None, created_before: Instant | None = None,
               mode: SearchMode | None = None) -> SearchResult:
        return self._run(calls.search(query, limit=limit, type=type, tags=tags, source=source,
                                      created_after=created_after, created_before=created_before, mode=mode))

    def ask(self, question: str, *, limit: int | None = None) -> Answer:
        return self._run(calls.ask(question, limit=limit))

    def send_whatsapp(self, to: str, message: str, *, reply_to: str | None = None) -> SendResult:
        return self._run(calls.send_whatsapp(to, message, reply_to=reply_to))

    def sync_status(self) -> SyncStatus:
        return self._run(calls.sync_status())

    def health(self) -> Health:
        return self._run(calls.health())

    def export(self) -> Iterator[ExportedMemory]:
        """Every memory of the caller, oldest first, decoded line by line as the server streams them."""
        for line in self.export_lines():
            yield calls.exported_memory(line)

    def export_lines(self) -> Iterator[bytes]:
        """The export's JSON lines as sent (no newline), for writing a file that `import_memories` takes back."""
        with self._streamed(calls.export()) as response:
            for line in response.iter_lines():
                if line:
                    yield line.encode()

    def export_markdown(self) -> Iterator[str]:
        """The export as one readable Markdown document, in the pieces the server streams."""
        with self._streamed(calls.export(markdown=True)) as response:
            yield from response.iter_text()

    def import_memories(self, memories: Iterable[ImportItem], *, batch_size: int = IMPORT_BATCH_LINES,
                        max_batch_bytes: int = IMPORT_BATCH_BYTES, idempotency_key: str | None = None,
                        ) -> ImportReport:
        """Restore memories (Memory objects, mappings or JSON lines) in batches; safe to run again.

        Batch n carries `Idempotency-Key: <idempotency_key>-<n>` (a fresh key when none is given), so re-running
        the same import with the same key replays each batch instead of failing on a reused key.
        """
        run, report = idempotency_key or str(uuid4()), ImportReport(created=0, unchanged=0, skipped=[])
        batcher = calls.Batcher(max_lines=batch_size, max_bytes=max_batch_bytes)
        for item in memories:
            if (full := batcher.add(item)) is not None:
                report = self._import(report, full, run)
        if (last := batcher.flush()) is not None:
            report = self._import(report, last, run)
        return report

    def _import(self, report: ImportReport, batch: Batch, run: str) -> ImportReport:
        answered = self._run(calls.import_batch(batch.lines, f"{run}-{batch.number}"))
        return report.after(answered, lines_before=batch.lines_before)

    @contextlib.contextmanager
    def _streamed(self, call: Call[None]) -> Iterator[httpx.Response]:
        try:
            response = self._http.send(call.request(self._http), auth=self.auth, stream=True)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        try:
            if not response.is_success:
                response.read()
                call.read(response)
            yield response
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        finally:
            response.close()
