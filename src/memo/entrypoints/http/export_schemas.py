"""Wire shapes of export and import: one memory a JSON line, camelCase, times to the microsecond.

The memories API writes milliseconds; an export writes what is stored, so a round trip gives back equal times.
Reading an import body, each line is decoded on its own: a bad line becomes a SkippedLine with its number, and only
a body with no JSON at all is refused as a whole.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from memo.application.dto import ExportedMemory, ImportRecord, ImportReport, RestoredMessage, SkipCode, SkippedLine
from memo.domain.conversation import Direction, MediaState
from memo.domain.memory import MemoryType, Source, storable
from memo.domain.whatsapp import MessageError, MessageStatus, StatusUpdate

ZonedTime = Annotated[datetime, msgspec.Meta(tz=True)]
MAX_VERSION = 2**31 - 1  # the stores' version column is a 32-bit integer
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")
_NOT_AN_OBJECT = re.compile(r"^Expected `object`, got `\w+`$")


class StatusWire(msgspec.Struct, rename="camel", omit_defaults=True):
    status: MessageStatus
    at: ZonedTime
    recipient: str | None = None
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    details: dict[str, str] = msgspec.field(default_factory=dict)


class WhatsAppWire(msgspec.Struct, rename="camel", omit_defaults=True):
    direction: Direction
    message_id: str
    peer: str
    type: str
    sent_at: ZonedTime
    recorded_at: ZonedTime
    phone_number_id: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    media_state: MediaState | None = None
    media_ref: str | None = None
    status: StatusWire | None = None


class MemoryLine(msgspec.Struct, rename="camel"):
    """A line as the export writes it and the import reads it; unknown fields are ignored on import."""

    id: UUID
    content: str
    type: MemoryType
    created_at: ZonedTime
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    source: Source = Source.IMPORT
    updated_at: ZonedTime | None = None
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)] = 1
    whatsapp: WhatsAppWire | msgspec.UnsetType | None = msgspec.UNSET  # left out of a line that has none


def _whatsapp_out(exported: ExportedMemory) -> WhatsAppWire | msgspec.UnsetType:
    message, status = exported.message, exported.status
    if message is None:
        return msgspec.UNSET
    kept = None if status is None else StatusWire(
        status=status.status, at=status.timestamp, recipient=status.recipient, details=dict(status.details),
        errors=[{"code": error.code, "title": error.title, "details": error.details} for error in status.errors])
    return WhatsAppWire(direction=message.direction, message_id=message.whatsapp_message_id, peer=message.peer,
                        type=message.type, sent_at=message.sent_at, recorded_at=message.recorded_at,
                        phone_number_id=message.phone_number_id, media_id=message.media_id,
                        mime_type=message.mime_type, sha256=message.sha256, media_state=message.media_state,
                        media_ref=message.media_ref, status=kept)


_ENCODER = msgspec.json.Encoder()  # aware times as RFC 3339, to the microsecond when there are any


def jsonl_page(page: Sequence[ExportedMemory]) -> bytes:
    """One line per memory; every line ends with a newline."""
    out = bytearray()
    for exported in page:
        memory = exported.memory
        line = MemoryLine(id=memory.id, content=memory.content, type=memory.type, created_at=memory.created_at,
                          tags=list(memory.tags), metadata=memory.metadata, source=memory.source,
                          updated_at=memory.updated_at, version=memory.version, whatsapp=_whatsapp_out(exported))
        _ENCODER.encode_into(line, out, len(out))
        out += b"\n"
    return bytes(out)


async def jsonl_stream(pages: AsyncIterator[Sequence[ExportedMemory]]) -> AsyncIterator[bytes]:
    async for page in pages:
        yield jsonl_page(page)


async def markdown_stream(pages: AsyncIterator[Sequence[ExportedMemory]]) -> AsyncIterator[bytes]:
    """Grouped by UTC day, oldest first: the order the export reads in, so a day never has to be held back."""
    yield b"# Memo export\n"
    day = None
    async for page in pages:
        parts: list[str] = []
        for exported in page:
            memory = exported.memory
            moment = memory.created_at.astimezone(UTC)
            if moment.date() != day:
                day = moment.date()
                parts.append(f"\n## {day.isoformat()}\n")
            heading = f"\n### {moment.strftime('%H:%M:%S')} UTC · {memory.type.value}"
            if memory.tags:
                heading += " · " + " ".join(f"#{tag}" for tag in memory.tags)
            parts.append(f"{heading}\n\n{memory.content}\n")
        yield "".join(parts).encode()


_DECODER = msgspec.json.Decoder(MemoryLine)


def _status_in(wire: StatusWire, message: WhatsAppWire) -> StatusUpdate:
    errors = tuple(MessageError(code=int(item["code"]), title=str(item["title"]),
                                details=None if item.get("details") is None else str(item["details"]))
                   for item in wire.errors)
    return StatusUpdate(message_id=message.message_id, phone_number_id=message.phone_number_id or "",
                        status=wire.status, timestamp=_utc("whatsapp.status.at", wire.at), recipient=wire.recipient,
                        errors=errors, details=wire.details)


def _utc(name: str, moment: datetime) -> datetime:
    """In UTC, as every store keeps it; a time a zone pushes past year 1 or 9999 is refused here, not by a store."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name}: out of range once in UTC") from None


def _check_whatsapp_text(wire: WhatsAppWire) -> None:
    """Meta's strings as a store can keep them (no NUL, no lone surrogate), whether or not a status names them."""
    texts = [wire.message_id, wire.peer, wire.type, wire.phone_number_id, wire.media_id, wire.mime_type, wire.sha256,
             wire.media_ref]
    if wire.status is not None:
        texts.append(wire.status.recipient)
        texts.extend(wire.status.details.values())
        texts.extend(str(value) for error in wire.status.errors for value in error.values())
    if not all(storable(text) for text in texts if text is not None):
        raise ValueError("must not contain NUL characters or unpaired surrogates")


def _record(number: int, line: MemoryLine) -> ImportRecord:
    whatsapp = None
    if isinstance(wire := line.whatsapp, WhatsAppWire):
        _check_whatsapp_text(wire)
        whatsapp = RestoredMessage(
            direction=wire.direction, whatsapp_message_id=wire.message_id, peer=wire.peer, type=wire.type,
            sent_at=_utc("whatsapp.sentAt", wire.sent_at), recorded_at=_utc("whatsapp.recordedAt", wire.recorded_at),
            phone_number_id=wire.phone_number_id, media_id=wire.media_id, mime_type=wire.mime_type, sha256=wire.sha256,
            media_state=wire.media_state, media_ref=wire.media_ref,
            status=None if wire.status is None else _status_in(wire.status, wire))
    return ImportRecord(line=number, id=line.id, content=line.content, type=line.type,
                        created_at=_utc("createdAt", line.created_at), tags=tuple(line.tags), metadata=line.metadata,
                        source=line.source,
                        updated_at=None if line.updated_at is None else _utc("updatedAt", line.updated_at),
                        version=line.version, whatsapp=whatsapp)


def read_line(number: int, raw: bytes) -> ImportRecord | SkippedLine:
    try:
        return _record(number, _DECODER.decode(raw))
    except msgspec.ValidationError as problem:
        text = str(problem)
        if (missing := _MISSING.match(text)) is not None and " - at `$." not in text:
            return SkippedLine(line=number, code=SkipCode.MISSING_FIELD, message=f"{missing['name']} is required")
        if _NOT_AN_OBJECT.match(text):
            return SkippedLine(line=number, code=SkipCode.INVALID_JSON, message="a line must be a JSON object")
        return SkippedLine(line=number, code=SkipCode.INVALID_FIELD, message=text.replace("$.", ""))
    except msgspec.DecodeError:
        return SkippedLine(line=number, code=SkipCode.INVALID_JSON, message="not JSON")
    except (ValueError, KeyError, TypeError) as problem:  # a time out of range, a WhatsApp record the domain refuses
        text = str(problem)
        prefix = "" if text.startswith(("createdAt", "updatedAt", "whatsapp")) else "whatsapp: "
        return SkippedLine(line=number, code=SkipCode.INVALID_FIELD, message=f"{prefix}{text}"[:200])


def read_lines(body: bytes) -> list[ImportRecord | SkippedLine] | None:
    """Every non-blank line, numbered from 1 counting blank ones; None when the body is not JSON Lines at all (not
    UTF-8, or not one line is a JSON object: a CSV, a binary file, an empty body)."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return None
    lines: list[ImportRecord | SkippedLine] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if raw.strip():
            lines.append(read_line(number, raw))
    if all(isinstance(line, SkippedLine) and line.code is SkipCode.INVALID_JSON for line in lines):
        return None
    return lines


class SkippedLineOut(msgspec.Struct):
    line: int
    code: SkipCode
    message: str


class ImportReportOut(msgspec.Struct):
    created: int
    unchanged: int
    skipped: list[SkippedLineOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportReportOut:
        return cls(created=report.created, unchanged=report.unchanged, skipped=[
            SkippedLineOut(line=item.line, code=item.code, message=item.message) for item in report.skipped])
