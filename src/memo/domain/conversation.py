"""The WhatsApp conversation as Memo keeps it: each message received or sent, once, with the memory it made.

A message is recorded under (owner, WhatsApp message id), which is what makes storage exactly once while Meta
delivers at least once: the record outlives the memory (a person deleting the memory does not let a redelivery
bring it back). What Meta sends is untrusted text; `received_memory` fits it into a memory's rules (no NUL, no lone
surrogate, the content and metadata limits) rather than losing the message to a validation error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from memo.domain.jobs import Job
from memo.domain.memory import MAX_CONTENT_CHARS, MAX_METADATA_BYTES, Memory, MemoryType, Source, metadata_size
from memo.domain.whatsapp import InboundMessage

MAX_METADATA_TEXT_CHARS = 1_024  # one metadata string; a contact name or a referral headline fits many times over
TRUNCATED = "\u2026"


class Direction(StrEnum):
    RECEIVED = "received"
    SENT = "sent"


class MediaState(StrEnum):
    PENDING = "pending"  # a job will fetch it
    STORED = "stored"
    FAILED = "failed"  # the job gave up: Meta no longer has it, or it never matched its checksum


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationMessage:
    id: UUID
    owner_id: UUID
    direction: Direction
    whatsapp_message_id: str
    peer: str  # the sender of a received message, the recipient of a sent one
    type: str
    memory_id: UUID
    sent_at: datetime  # Meta's timestamp for a received message; when Meta accepted it for a sent one
    recorded_at: datetime
    phone_number_id: str | None = None  # the business number it came to or went from
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None  # as Meta gives it, checked when the bytes are fetched
    media_state: MediaState | None = None  # None: no media
    media_ref: str | None = None  # where the media store keeps the bytes

    @classmethod
    def received(cls, message: InboundMessage, *, id: UUID, owner_id: UUID, memory_id: UUID,  # noqa: A002
                 now: datetime) -> ConversationMessage:
        return cls(id=id, owner_id=owner_id, direction=Direction.RECEIVED,
                   whatsapp_message_id=message.message_id, peer=message.sender, type=message.type,
                   memory_id=memory_id, sent_at=message.timestamp, recorded_at=now,
                   phone_number_id=message.phone_number_id, media_id=message.media_id,
                   mime_type=message.mime_type, sha256=message.sha256,
                   media_state=MediaState.PENDING if message.media_id else None)

    def media_stored(self, ref: str, mime_type: str | None) -> ConversationMessage:
        return replace(self, media_state=MediaState.STORED, media_ref=ref, mime_type=mime_type or self.mime_type)

    def media_failed(self) -> ConversationMessage:
        return replace(self, media_state=MediaState.FAILED)


def storable_text(text: str) -> str:
    """`text` with what no store can keep replaced: NUL by U+FFFD, a lone surrogate by '?'."""
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode()
    return text


def clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + TRUNCATED


def _fitted(value: object) -> object:
    if isinstance(value, str):
        return clipped(storable_text(value), MAX_METADATA_TEXT_CHARS)
    if isinstance(value, Mapping):
        return {storable_text(str(key)): _fitted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fitted(item) for item in value]
    return value


def fitted_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata every store keeps and the 16 KiB limit allows: the optional parts go first, the ids stay."""
    fitted: dict[str, Any] = {str(key): value for key, value in _fitted(metadata).items()}  # type: ignore[attr-defined]
    for optional in ("extra", "errors", "context"):
        if metadata_size(fitted) <= MAX_METADATA_BYTES:
            break
        fitted.pop(optional, None)
    return fitted


def received_memory(message: InboundMessage, *, id: UUID, owner_id: UUID, now: datetime) -> Memory:  # noqa: A002
    """The `whatsapp_received` memory of a message: always valid, whatever Meta put in it."""
    content = clipped(storable_text(message.content).strip(), MAX_CONTENT_CHARS) or f"[{message.type}]"
    return Memory.create(id=id, owner_id=owner_id, content=content, type=MemoryType.WHATSAPP_RECEIVED,
                         metadata=fitted_metadata(message.memory_metadata()), source=Source.WHATSAPP, now=now)


FETCH_MEDIA_JOB = "whatsapp.fetch_media"  # payload: {"messageId": the WhatsApp message id}


def message_job(kind: str, owner_id: UUID, message_id: str, *, id: UUID, now: datetime) -> Job:  # noqa: A002
    """A job about one WhatsApp message of an owner: fetch its media, transcribe it, answer it."""
    return Job.new(id=id, kind=kind, owner_id=owner_id, now=now, payload={"messageId": message_id})


def job_message(job: Job) -> tuple[UUID, str]:
    """The owner and WhatsApp message id a message job names; ValueError for a payload no Memo wrote."""
    message_id = job.payload.get("messageId")
    if job.owner_id is None or not isinstance(message_id, str):
        raise ValueError(f"a {job.kind} job names its owner and a WhatsApp message id")
    return job.owner_id, message_id
