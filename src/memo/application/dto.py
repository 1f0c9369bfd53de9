"""Commands, queries and results that cross the application boundary: frozen, framework-free."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from memo.domain.conversation import ConversationMessage, Direction, MediaState
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import previous_accepted
from memo.domain.whatsapp import StatusUpdate

T = TypeVar("T")


class SortField(StrEnum):
    CREATED_AT = "createdAt"
    UPDATED_AT = "updatedAt"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryQuery:
    search: str | None = None
    type: MemoryType | None = None
    tags: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 20
    offset: int = 0
    sort_by: SortField = SortField.CREATED_AT
    sort_order: SortOrder = SortOrder.DESC


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMemoryCommand:
    owner_id: UUID
    content: str
    type: MemoryType = MemoryType.NOTE
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Source = Source.API
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMemoryResult:
    memory: Memory
    created: bool  # False when an Idempotency-Key replay answered a memory made earlier


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMemoryCommand:
    owner_id: UUID
    memory_id: UUID
    content: str | None = None
    type: MemoryType | None = None
    tags: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingRequest:
    """A request whose body is not read yet: authentication reads it only once the caller may still try."""

    method: str
    path: str  # raw path as sent, percent-encoding untouched
    query: str  # raw query string without '?'
    headers: Mapping[str, str]  # every header, lower-case names, the first of repeated ones
    client_ip: str
    read_body: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    """What an authenticator may look at: the request exactly as received."""

    method: str
    path: str  # raw path as sent, percent-encoding untouched
    query: str  # raw query string without '?'
    headers: Mapping[str, str]  # every header, lower-case names: the authenticator picks the ones it reads
    body: bytes
    client_ip: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveKey:
    key_id: str
    owner_id: UUID
    secret: bytes
    previous_secret: bytes | None = None  # the secret a rotation replaced, while the store still holds it
    previous_valid_until: datetime | None = None

    def previous_at(self, now: datetime) -> bytes | None:
        """The previous secret if it is still accepted at `now`; None once its grace has ended (or never rotated)."""
        return self.previous_secret if previous_accepted(self.previous_secret, self.previous_valid_until, now) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEvent:
    """An audit record; never holds a signature, secret or signed string."""

    reason: str
    key_id: str | None
    client_ip: str
    path: str
    owner_id: UUID | None = None  # whose key or data it concerns, when that is known


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    healthy: bool
    backend: str  # what backs the check: "sqlite", "postgresql", "in-process", "not configured"...
    detail: str | None = None
    latency_ms: float | None = None
    enabled: bool = True  # False for a part that is not configured or not built: healthy, and says so
    figures: Mapping[str, int | float | str | None] = field(default_factory=dict)  # camelCase names, shown as is


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedKey:
    """The one moment a key's secret is visible: right after it is made."""

    key_id: str
    secret: str
    owner_name: str
    label: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    """What the Cloud API answered for an accepted send: its WhatsApp message id and the recipient it names."""

    message_id: str
    to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadedMedia:
    data: bytes
    mime_type: str | None
    sha256: str  # hex, of `data`, computed here


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncStatus:
    """One owner's WhatsApp figures, all read from storage."""

    last_webhook_at: datetime | None  # the last time a webhook brought this owner a new message or status
    received: int
    sent: int
    deliveries: Mapping[str, int]  # sent messages by delivery state: sent, delivered, read, failed
    media: Mapping[str, int]  # received media by state: pending, stored, failed
    jobs: Mapping[str, int]  # this owner's jobs: pending, running, failed


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportedMemory:
    """A memory as an export writes it: with its WhatsApp record and that message's furthest status, if any."""

    memory: Memory
    message: ConversationMessage | None = None
    status: StatusUpdate | None = None


class SkipCode(StrEnum):
    """Why an import left a line out (docs/export.md)."""

    INVALID_JSON = "INVALID_JSON"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_FIELD = "INVALID_FIELD"
    DUPLICATE_ID = "DUPLICATE_ID"
    ID_TAKEN = "ID_TAKEN"
    CONFLICT = "CONFLICT"


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedLine:
    line: int
    code: SkipCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredMessage:
    """The WhatsApp record of an imported memory, as the export wrote it."""

    direction: Direction
    whatsapp_message_id: str
    peer: str
    type: str
    sent_at: datetime
    recorded_at: datetime
    phone_number_id: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    media_state: MediaState | None = None
    media_ref: str | None = None
    status: StatusUpdate | None = None

    def for_memory(self, memory: Memory, *, id: UUID) -> ConversationMessage:  # noqa: A002
        return ConversationMessage(
            id=id, owner_id=memory.owner_id, direction=self.direction, whatsapp_message_id=self.whatsapp_message_id,
            peer=self.peer, type=self.type, memory_id=memory.id, sent_at=self.sent_at, recorded_at=self.recorded_at,
            phone_number_id=self.phone_number_id, media_id=self.media_id, mime_type=self.mime_type,
            sha256=self.sha256, media_state=self.media_state, media_ref=self.media_ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRecord:
    """One line of an import that has the shape of a memory; the memory rules are checked by the use case."""

    line: int
    id: UUID
    content: str
    type: MemoryType
    created_at: datetime
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Source = Source.IMPORT
    updated_at: datetime | None = None  # None: createdAt
    version: int = 1
    whatsapp: RestoredMessage | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportCommand:
    owner_id: UUID
    lines: Sequence[ImportRecord | SkippedLine]  # in line order; the edge already skipped what is not a memory
    idempotency_key: str | None = None
    fingerprint: str = ""  # a hash of the body, told apart from another body under the same Idempotency-Key


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    created: int
    unchanged: int
    skipped: Sequence[SkippedLine]
