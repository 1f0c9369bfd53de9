"""What Memo keeps of a WhatsApp webhook notification, free of Meta's wire format.

The parser adapter turns Meta's JSON into these values; ingestion stores them. Only what a memory or a delivery
state needs is kept: the readable content, who sent it, when, the media to fetch later and what it replies to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from memo.domain.errors import DomainError


class InvalidJson(DomainError):
    code = "INVALID_JSON"

    def __init__(self) -> None:
        super().__init__("The request body is not valid JSON.")


class InvalidWebhookObject(DomainError):
    """A verified body that is not a WhatsApp Business Account notification: nothing in it can be trusted as one."""

    code = "INVALID_WEBHOOK_OBJECT"

    def __init__(self, found: str | None) -> None:
        what = "no 'object' field" if found is None else f"object {found[:64]!r}"
        super().__init__(f"Not a WhatsApp Business Account notification: {what}, "
                         "expected 'whatsapp_business_account'.")
        self.found = found


# Bounds on Meta's ids, far above what Meta sends (a wamid is under 100 characters): an id past them is not Meta's,
# and an unbounded one could not be indexed.
MAX_ID_CHARS = 256
MAX_TYPE_CHARS = 64


def _check_id(name: str, value: str | None, *, required: bool = False) -> None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is required")
        return
    if len(value) > MAX_ID_CHARS or not value.isprintable():
        raise ValueError(f"{name} must be at most {MAX_ID_CHARS} printable characters")


class MessageStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# Meta delivers statuses unordered and more than once: a message only ever moves up this ladder. `failed` is on
# top because it is terminal; a late `delivered` from another device does not revive a failed send.
_RANK = {MessageStatus.SENT: 0, MessageStatus.DELIVERED: 1, MessageStatus.READ: 2, MessageStatus.FAILED: 3}


def status_rank(status: MessageStatus) -> int:
    """The status's place on the ladder, for stores that compare statuses in their own queries."""
    return _RANK[status]


def advances(current: MessageStatus | None, incoming: MessageStatus) -> bool:
    """Whether `incoming` replaces `current`; an equal status does not, so a redelivery keeps the first one."""
    return current is None or _RANK[incoming] > _RANK[current]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageError:
    """An error Meta attaches to a message or a status; branch on `code`, never on the text."""

    code: int
    title: str
    details: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    message_id: str
    phone_number_id: str
    status: MessageStatus
    timestamp: datetime
    recipient: str | None  # wa_id, or the business-scoped user id when the user hides their number
    errors: tuple[MessageError, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)  # pricing and conversation, kept for reports only

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError("a status timestamp must be timezone-aware")
        _check_id("status id", self.message_id, required=True)
        _check_id("recipient_id", self.recipient)


def apply_status(current: StatusUpdate | None, incoming: StatusUpdate) -> StatusUpdate:
    """The status to keep for a message: never backwards, and a failure keeps the error it first came with."""
    if current is not None and current.message_id != incoming.message_id:
        raise ValueError("a status applies only to the message it names")
    if current is None or advances(current.status, incoming.status):
        return incoming
    return current


# --- inbound content, one value per kind of message -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TextBody:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaBody:
    """Image, audio, video, document or sticker: only the id travels, the bytes are fetched later by a job."""

    kind: str
    media_id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationBody:
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactCard:
    name: str | None = None
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactsBody:
    cards: tuple[ContactCard, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceBody:
    """A tapped reply button, list row or template quick reply: the title is what the person saw and chose."""

    title: str
    choice_id: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionBody:
    message_id: str
    emoji: str | None  # None: the person removed their reaction


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherBody:
    """Order, system, unsupported and types Meta adds later: kept with a placeholder rather than dropped."""

    type: str
    text: str | None = None


Body = TextBody | MediaBody | LocationBody | ContactsBody | ChoiceBody | ReactionBody | OtherBody

_MEDIA_PLACEHOLDERS = {"image": "[image]", "audio": "[audio]", "video": "[video]", "sticker": "[sticker]"}


def readable_content(body: Body) -> str:  # noqa: PLR0911  (one return per kind reads best)
    """The text a memory holds for a message: what a person would read, never empty."""
    match body:
        case TextBody(text=text):
            return text or "[text]"
        case MediaBody():
            return _media(body)
        case LocationBody():
            return _location(body)
        case ContactsBody(cards=cards):
            return _contacts(cards)
        case ChoiceBody(title=title):
            return title or "[button]"
        case ReactionBody(message_id=message_id, emoji=None):
            return f"[reaction removed] on {message_id}"
        case ReactionBody(message_id=message_id, emoji=emoji):
            return f"[reaction {emoji}] on {message_id}"
        case OtherBody(type=kind, text=text):
            return f"[{kind}] {text}" if text else f"[{kind}]"


def _media(body: MediaBody) -> str:
    if body.caption:
        return body.caption
    if body.kind == "audio" and body.voice:
        return "[voice note]"
    if body.kind == "document":
        return f"[document: {body.filename}]" if body.filename else "[document]"
    return _MEDIA_PLACEHOLDERS.get(body.kind, f"[{body.kind}]")


def _location(body: LocationBody) -> str:
    parts = [part for part in (body.name, body.address) if part]
    if body.latitude is not None and body.longitude is not None:
        parts.append(f"({body.latitude}, {body.longitude})")
    return "[location] " + ", ".join(parts) if parts else "[location]"


def _contacts(cards: Sequence[ContactCard]) -> str:
    shown = [" ".join(part for part in (card.name, ", ".join(card.phones)) if part) for card in cards]
    shown = [entry for entry in shown if entry]
    return "[contacts] " + "; ".join(shown) if shown else "[contacts]"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    """What a message points at: the message it replies to, and whether it was forwarded."""

    replied_to: str | None = None
    replied_to_from: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    message_id: str
    phone_number_id: str  # the receiving business number: it names the owner
    wa_id: str | None  # the sender's phone-number id; absent for users who hide their number behind a username
    user_id: str | None  # the business-scoped user id (BSUID)
    contact_name: str | None
    type: str  # Meta's type, verbatim, so a future type is still told apart
    timestamp: datetime
    body: Body
    context: MessageContext | None = None
    errors: tuple[MessageError, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)  # small extras: choice ids, referral, system type

    def __post_init__(self) -> None:
        if not self.wa_id and not self.user_id:
            raise ValueError("a message needs a sender: wa_id or user_id")
        if self.timestamp.tzinfo is None:
            raise ValueError("a message timestamp must be timezone-aware")
        _check_id("message id", self.message_id, required=True)
        for name, value in (("wa_id", self.wa_id), ("user_id", self.user_id), ("media id", self.media_id),
                            ("mime_type", self.mime_type), ("sha256", self.sha256)):
            _check_id(name, value)
        if not 0 < len(self.type) <= MAX_TYPE_CHARS:
            raise ValueError(f"a message type has 1 to {MAX_TYPE_CHARS} characters")

    @property
    def sender(self) -> str:
        """The phone number when Meta shares it, else the business-scoped user id."""
        return self.wa_id or self.user_id or ""

    @property
    def content(self) -> str:
        return readable_content(self.body)

    @property
    def media_id(self) -> str | None:
        return self.body.media_id if isinstance(self.body, MediaBody) else None

    @property
    def mime_type(self) -> str | None:
        return self.body.mime_type if isinstance(self.body, MediaBody) else None

    @property
    def sha256(self) -> str | None:
        return self.body.sha256 if isinstance(self.body, MediaBody) else None

    @property
    def voice(self) -> bool:
        return isinstance(self.body, MediaBody) and self.body.voice

    def memory_metadata(self) -> dict[str, object]:
        """What a `whatsapp_received` memory keeps beside its content (API.md 4): JSON values, absent ones left out."""
        found: dict[str, object] = {
            "whatsappMessageId": self.message_id, "phoneNumberId": self.phone_number_id, "sender": self.sender,
            "waId": self.wa_id, "userId": self.user_id, "contactName": self.contact_name, "messageType": self.type,
            "timestamp": self.timestamp.isoformat(), "mediaId": self.media_id, "mimeType": self.mime_type,
            "sha256": self.sha256, "voice": self.voice or None,
        }
        if self.context is not None:
            context = {"repliedTo": self.context.replied_to, "repliedToFrom": self.context.replied_to_from,
                       "forwarded": self.context.forwarded or None,
                       "frequentlyForwarded": self.context.frequently_forwarded or None}
            found["context"] = {key: value for key, value in context.items() if value is not None} or None
        if self.errors:
            found["errors"] = [{"code": error.code, "title": error.title} for error in self.errors]
        if self.metadata:
            found["extra"] = dict(self.metadata)
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedItem:
    """A part of a notification that could not be read; its siblings are kept, it is audited and not stored."""

    where: str  # e.g. "entry[0].changes[1].messages[2]"
    reason: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumberBatch:
    """Everything one notification carries for one receiving business number."""

    phone_number_id: str
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    errors: tuple[MessageError, ...] = ()  # errors Meta reports for the number itself, outside any message


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedNotification:
    batches: Mapping[str, PhoneNumberBatch] = field(default_factory=dict)  # keyed by phone_number_id
    skipped: tuple[SkippedItem, ...] = ()

    @property
    def messages(self) -> tuple[InboundMessage, ...]:
        return tuple(message for batch in self.batches.values() for message in batch.messages)

    @property
    def statuses(self) -> tuple[StatusUpdate, ...]:
        return tuple(status for batch in self.batches.values() for status in batch.statuses)
