"""Each route as a `Call`: what to send and how to read the answer. Shared by the sync and async clients.

Nothing here does I/O, so `MemoClient` and `AsyncMemoClient` differ only in how they send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
import msgspec

from memo.client.errors import FieldError, MemoError, family_of
from memo.client.models import (
    Answer,
    ExportedMemory,
    Health,
    ImportReport,
    Memory,
    MemoryType,
    Page,
    Pagination,
    SearchHit,
    SearchMode,
    SearchResult,
    SendResult,
    SortBy,
    SortOrder,
    Source,
    SyncStatus,
)

T = TypeVar("T")
MemoryId = UUID | str
Instant = datetime | str
JSON = "application/json"
JSON_LINES = "application/x-ndjson"
IMPORT_BATCH_LINES = 500
IMPORT_BATCH_BYTES = 1_000_000  # under the server's default MEMO_MAX_BODY_BYTES of 1 MiB
ImportItem = Memory | Mapping[str, Any] | bytes | str


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {**self.headers, **({"Content-Type": self.content_type} if self.body is not None else {})}
        return http.build_request(self.method, self.path, params=self.params or None, content=self.body,
                                  headers=headers)


# -- reading answers --------------------------------------------------------------------------------------------

class _ErrorEnvelope(msgspec.Struct, rename="camel"):
    code: str
    error: str = ""
    details: str | list[FieldError] | None = None
    request_id: str | None = None


class _Data(msgspec.Struct, Generic[T]):
    data: T


class _List(msgspec.Struct):
    data: list[Memory]
    pagination: Pagination


class _Search(msgspec.Struct, rename="camel"):
    data: list[SearchHit]
    degraded: bool = False
    degraded_reason: str | None = None


def error_of(response: httpx.Response) -> MemoError:
    """The family's exception for a refusal; a body that is not Memo's envelope (a proxy's page) still maps."""
    status = response.status_code
    header_id = response.headers.get("X-Request-ID")
    retry_after = retry_after_of(response.headers.get("Retry-After"))
    try:
        envelope = msgspec.json.decode(response.content, type=_ErrorEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        phrase = response.reason_phrase or "the server answered without Memo's error envelope"
        return family_of(status)(phrase, code=f"HTTP_{status}", status=status, request_id=header_id,
                                 retry_after=retry_after)
    return family_of(status)(envelope.error or envelope.code, code=envelope.code, status=status,
                             details=envelope.details, request_id=envelope.request_id or header_id,
                             retry_after=retry_after)


def retry_after_of(value: str | None) -> float | None:
    """Retry-After in seconds, from either of its forms (delta seconds or an HTTP date)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - datetime.now(UTC).timestamp())
    except (TypeError, ValueError):
        return None


def _checked(response: httpx.Response) -> bytes:
    if not response.is_success:
        raise error_of(response)
    return response.content


def _reader(kind: type[T]) -> Callable[[httpx.Response], T]:
    def read(response: httpx.Response) -> T:
        return msgspec.json.decode(_checked(response), type=_Data[kind]).data  # type: ignore[valid-type]
    return read


def read_page(response: httpx.Response) -> Page:
    answer = msgspec.json.decode(_checked(response), type=_List)
    p = answer.pagination
    return Page(items=answer.data, total=p.total, limit=p.limit, offset=p.offset, has_more=p.has_more)


def read_search(response: httpx.Response) -> SearchResult:
    answer = msgspec.json.decode(_checked(response), type=_Search)
    return SearchResult(hits=answer.data, degraded=answer.degraded, degraded_reason=answer.degraded_reason)


def read_nothing(response: httpx.Response) -> None:
    _checked(response)


def read_health(response: httpx.Response) -> Health:
    if response.status_code not in {200, 503}:
        raise error_of(response)
    return msgspec.json.decode(response.content, type=Health)


# -- building requests ------------------------------------------------------------------------------------------

def _json(fields: Mapping[str, Any]) -> bytes:
    return msgspec.json.encode({name: value for name, value in fields.items() if value is not None})


def _instant(value: Instant | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("a time sent to Memo needs a zone: use datetime.now(UTC) or an aware datetime")
    return value.isoformat()


def _tags(tags: Sequence[str] | None) -> list[str] | None:
    if isinstance(tags, str):
        raise TypeError("tags is a sequence of strings, not one string")
    return None if tags is None else list(tags)


def _memory_path(memory_id: MemoryId) -> str:
    return "/api/memories/" + quote(str(memory_id), safe="")


def create_memory(content: str, *, type: MemoryType | None = None, tags: Sequence[str] | None = None,  # noqa: A002
                  metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Memory]:
    body = _json({"content": content, "type": type, "tags": _tags(tags), "metadata": metadata})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return Call("POST", "/api/memories", _reader(Memory), body=body, headers=headers)


def list_memories(*, search: str | None = None, type: MemoryType | None = None,  # noqa: A002
                  tags: Sequence[str] | None = None, created_after: Instant | None = None,
                  created_before: Instant | None = None, limit: int | None = None, offset: int | None = None,
                  sort_by: SortBy | None = None, sort_order: SortOrder | None = None) -> Call[Page]:
    tag_list = _tags(tags)
    raw = {"search": search, "type": type, "tags": ",".join(tag_list) if tag_list is not None else None,
           "createdAfter": _instant(created_after), "createdBefore": _instant(created_before),
           "limit": None if limit is None else str(limit), "offset": None if offset is None else str(offset),
           "sortBy": sort_by, "sortOrder": sort_order}
    return Call("GET", "/api/memories", read_page, params={k: v for k, v in raw.items() if v is not None})


def get_memory(memory_id: MemoryId) -> Call[Memory]:
    return Call("GET", _memory_path(memory_id), _reader(Memory))


def update_memory(memory_id: MemoryId, *, content: str | None = None, type: MemoryType | None = None,  # noqa: A002
                  tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                  if_match: int | None = None) -> Call[Memory]:
    body = _json({"content": content, "type": type, "tags": _tags(tags), "metadata": metadata})
    headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
    return Call("PUT", _memory_path(memory_id), _reader(Memory), body=body, headers=headers)


def delete_memory(memory_id: MemoryId) -> Call[None]:
    return Call("DELETE", _memory_path(memory_id), read_nothing)


def search(query: str, *, limit: int | None = None, type: MemoryType | None = None,  # noqa: A002
           tags: Sequence[str] | None = None, source: Source | None = None, created_after: Instant | None = None,
           created_before: Instant | None = None, mode: SearchMode | None = None) -> Call[SearchResult]:
    body = _json({"query": query, "limit": limit, "type": type, "tags": _tags(tags), "source": source,
                  "createdAfter": _instant(created_after), "createdBefore": _instant(created_before), "mode": mode})
    return Call("POST", "/api/memories/search", read_search, body=body)


def ask(question: str, *, limit: int | None = None) -> Call[Answer]:
    return Call("POST", "/api/ask", _reader(Answer), body=_json({"question": question, "limit": limit}))


def send_whatsapp(to: str, message: str, *, reply_to: str | None = None) -> Call[SendResult]:
    body = _json({"to": to, "message": message, "type": "text", "replyTo": reply_to})
    return Call("POST", "/api/whatsapp/send", _reader(SendResult), body=body)


def sync_status() -> Call[SyncStatus]:
    return Call("GET", "/api/whatsapp/sync-status", _reader(SyncStatus))


def health() -> Call[Health]:
    return Call("GET", "/health", read_health)


def export(*, markdown: bool = False) -> Call[None]:
    """The request only: the clients stream the answer, and `read` serves to raise a refusal."""
    return Call("GET", "/api/export", read_nothing, params={"format": "markdown"} if markdown else {})


def exported_memory(line: bytes) -> ExportedMemory:
    return msgspec.json.decode(line, type=ExportedMemory)


def import_batch(lines: Sequence[bytes], idempotency_key: str) -> Call[ImportReport]:
    return Call("POST", "/api/import", _reader(ImportReport), body=b"".join(line + b"\n" for line in lines),
                headers={"Idempotency-Key": idempotency_key}, content_type=JSON_LINES)


def import_line(item: ImportItem) -> bytes:
    """One JSON line: a Memory (or ExportedMemory) encoded as the export writes it, a mapping, or a ready line."""
    line = item.encode() if isinstance(item, str) else item
    if not isinstance(line, bytes):
        return msgspec.json.encode(line)
    line = line.rstrip(b"\r\n")
    if b"\n" in line:
        raise ValueError("one memory a line: a line given to import_memories holds a newline")
    return line


@dataclass(frozen=True, slots=True)
class Batch:
    lines: list[bytes]
    number: int  # from 0, for the batch's Idempotency-Key
    lines_before: int  # lines of the earlier batches, blank ones included


@dataclass(slots=True)
class Batcher:
    """Cuts the lines to import into batches of whole lines, under a count and a byte size.

    Blank lines travel as they are: the server skips them but counts them, so its line numbers, moved by
    `lines_before`, point into what the caller gave.
    """

    max_lines: int = IMPORT_BATCH_LINES
    max_bytes: int = IMPORT_BATCH_BYTES
    pending: list[bytes] = field(default_factory=list)
    size: int = 0
    number: int = 0
    lines_before: int = 0

    def add(self, item: ImportItem) -> Batch | None:
        """Take a line; answer the batch that must be sent first when the line does not fit beside it."""
        line = import_line(item)
        full = None
        if self.pending and (len(self.pending) >= self.max_lines or self.size + len(line) + 1 > self.max_bytes):
            full = self.flush()
        self.pending.append(line)
        self.size += len(line) + 1
        return full

    def flush(self) -> Batch | None:
        if not self.pending:
            return None
        batch = Batch(self.pending, self.number, self.lines_before)
        self.number += 1
        self.lines_before += len(self.pending)
        self.pending, self.size = [], 0
        return batch
