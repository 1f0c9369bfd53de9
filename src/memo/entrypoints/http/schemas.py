"""Wire shapes: msgspec Structs, camelCase on the wire, turned into commands and out of domain objects here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

import msgspec

from memo.application.dto import CreateMemoryCommand, Page, SyncStatus, UpdateMemoryCommand
from memo.domain.memory import MAX_CONTENT_CHARS, MAX_TAG_CHARS, MAX_TAGS, Memory, MemoryType, Source

T = TypeVar("T")

# The limits below are documented, not decoded: the domain checks them after trimming (Memory.create), so a body
# breaking one gets the same field-by-field VALIDATION_ERROR whichever edge it came through.
Content = Annotated[str, msgspec.Meta(description="1 to 10000 characters after trimming", extra_json_schema={
    "extra": {"min_length": 1, "max_length": MAX_CONTENT_CHARS}})]
Tags = Annotated[list[str], msgspec.Meta(
    description="at most 10 distinct tags of 1 to 50 characters, stored lower-cased", extra_json_schema={
        "extra": {"max_items": MAX_TAGS, "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS}}})]
Metadata = Annotated[dict[str, Any], msgspec.Meta(description="a JSON object of at most 16 KiB serialised")]


def rfc3339(moment: datetime) -> str:
    """Millisecond RFC 3339 in UTC with a Z, as API.md writes times."""
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"  # the date and time, without any offset


class CreateMemoryBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    content: Content
    type: MemoryType = MemoryType.NOTE
    tags: Tags = msgspec.field(default_factory=list)
    metadata: Metadata = msgspec.field(default_factory=dict)
    source: Literal["api", "import"] = "api"

    def to_command(self, *, owner_id: UUID, idempotency_key: str | None) -> CreateMemoryCommand:
        return CreateMemoryCommand(owner_id=owner_id, content=self.content, type=self.type, tags=tuple(self.tags),
                                   metadata=self.metadata, source=Source(self.source),
                                   idempotency_key=idempotency_key)


class UpdateMemoryBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    content: Content | None = None
    type: MemoryType | None = None
    tags: Tags | None = None
    metadata: Metadata | None = None

    def to_command(self, *, owner_id: UUID, memory_id: UUID, expected_version: int | None) -> UpdateMemoryCommand:
        return UpdateMemoryCommand(owner_id=owner_id, memory_id=memory_id, content=self.content, type=self.type,
                                   tags=None if self.tags is None else tuple(self.tags), metadata=self.metadata,
                                   expected_version=expected_version)


Time = Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"format": "date-time"}})]


class MemoryOut(msgspec.Struct, rename="camel"):
    id: UUID
    content: str
    type: MemoryType
    tags: list[str]
    metadata: dict[str, Any]
    source: Source
    created_at: Time
    updated_at: Time
    version: Annotated[int, msgspec.Meta(extra_json_schema={"extra": {"minimum": 1}})]

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        return cls(id=memory.id, content=memory.content, type=memory.type, tags=list(memory.tags),
                   metadata=memory.metadata, source=memory.source, created_at=rfc3339(memory.created_at),
                   updated_at=rfc3339(memory.updated_at), version=memory.version)


class Envelope(msgspec.Struct, Generic[T], kw_only=True):
    success: bool = True
    data: T


class Pagination(msgspec.Struct, rename="camel"):
    total: int
    limit: int
    offset: int
    has_more: bool


class ListEnvelope(msgspec.Struct, Generic[T], kw_only=True):
    success: bool = True
    data: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, page: Page[Memory]) -> ListEnvelope[MemoryOut]:
        return ListEnvelope(data=[MemoryOut.of(memory) for memory in page.items],
                            pagination=Pagination(total=page.total, limit=page.limit, offset=page.offset,
                                                  has_more=page.has_more))


class Message(msgspec.Struct, kw_only=True):
    success: bool = True
    message: str


ReplyTo = Annotated[str, msgspec.Meta(min_length=1, max_length=256,
                                      description="the WhatsApp message id of a stored message to reply to")]


class SendMessageBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    to: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{10,15}$", examples=["4915112345678"],
                                    description="the recipient's number: 10 to 15 digits, country code first, no '+'")]
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=4096, description="1 to 4096 characters",
                                         examples=["Your appointment is confirmed for Friday at 3 pm."])]
    type: Literal["text"] = "text"
    reply_to: ReplyTo | None = None


class SentOut(msgspec.Struct, rename="camel", kw_only=True):
    message_id: str
    to: str
    status: str
    memory_id: UUID


class SyncStatusOut(msgspec.Struct, rename="camel", kw_only=True):
    last_webhook_at: str | None
    received: int
    sent: int
    deliveries: dict[str, int]
    media: dict[str, int]
    jobs: dict[str, int]

    @classmethod
    def of(cls, status: SyncStatus) -> SyncStatusOut:
        return cls(last_webhook_at=rfc3339(status.last_webhook_at) if status.last_webhook_at else None,
                   received=status.received, sent=status.sent, deliveries=dict(status.deliveries),
                   media=dict(status.media), jobs=dict(status.jobs))


class WebhookAck(msgspec.Struct, kw_only=True):
    """The webhook's answer to Meta: `processed` counts the messages newly stored."""

    success: bool = True
    processed: int


class FieldError(msgspec.Struct):
    field: str
    message: str


class ErrorBody(msgspec.Struct, kw_only=True):
    success: bool = False
    error: str
    code: str
    details: str | list[FieldError] | msgspec.UnsetType = msgspec.UNSET
    request_id: str | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="requestId")
