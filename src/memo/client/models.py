"""What the client hands back: typed, immutable views of API.md's wire shapes (camelCase on the wire).

Enumerated fields (`type`, `source`, `status`) are plain strings here, so a server that learns a new memory type
does not break older clients; the `Literal` aliases type what a caller sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

MemoryType = Literal["note", "reminder", "whatsapp_received", "whatsapp_sent", "voice_memo"]
Source = Literal["api", "whatsapp", "import"]
SearchMode = Literal["semantic", "keyword", "hybrid"]
SortBy = Literal["createdAt", "updatedAt"]
SortOrder = Literal["asc", "desc"]


class Memory(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    id: UUID
    content: str
    type: str
    tags: list[str]
    metadata: dict[str, Any]
    source: str
    created_at: datetime
    updated_at: datetime
    version: int


class Pagination(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    total: int
    limit: int
    offset: int
    has_more: bool


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing; `next_offset` is where the next one starts, None on the last page."""

    items: list[Memory]
    total: int
    limit: int
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        return self.offset + len(self.items) if self.has_more else None


class SearchHit(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    memory: Memory
    score: float
    matched_by: list[str] = msgspec.field(default_factory=list)


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    """Hits best first; `degraded` when hybrid search fell back to keywords, `degraded_reason` says why."""

    hits: list[SearchHit]
    degraded: bool = False
    degraded_reason: str | None = None


class AnswerSource(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    memory_id: UUID
    quote: str
    created_at: datetime


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """An answer drawn from the caller's memories only; empty `citations` when they hold none."""

    answer: str
    citations: list[UUID]
    sources: list[AnswerSource]


class SendResult(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    message_id: str
    to: str
    status: str
    memory_id: UUID


class SyncStatus(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    last_webhook_at: datetime | None
    received: int
    sent: int
    deliveries: dict[str, int]
    media: dict[str, int]
    jobs: dict[str, int]


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /health`, not enveloped; a 503 is an answer too (`healthy` False), not an exception."""

    status: str
    version: str
    uptime: float
    checks: dict[str, dict[str, Any]]

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


class ExportedMemory(Memory, frozen=True, rename="camel", kw_only=True, omit_defaults=True):
    """A line of `GET /api/export`: a Memory with times to the microsecond, and the WhatsApp record if any.

    `whatsapp` is carried as the server wrote it (docs/export.md), so an import restores the conversation.
    """

    whatsapp: dict[str, Any] | None = None


class SkippedLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line the import did not apply: `line` counts from 1 over everything given to `import_memories`."""

    line: int
    code: str
    message: str


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    created: int
    unchanged: int
    skipped: list[SkippedLine]

    def after(self, batch: ImportReport, *, lines_before: int) -> ImportReport:
        """This report followed by a batch's, the batch's line numbers moved past the lines sent before it."""
        moved = [SkippedLine(line=item.line + lines_before, code=item.code, message=item.message)
                 for item in batch.skipped]
        return ImportReport(created=self.created + batch.created, unchanged=self.unchanged + batch.unchanged,
                            skipped=[*self.skipped, *moved])
