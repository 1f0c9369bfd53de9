"""Meta's WhatsApp Cloud API webhook notification, typed with msgspec, turned into domain values.

Meta batches entries, changes, messages and statuses in one body and retries the whole body until it gets a
`200`. A message Memo cannot read must therefore never cost its siblings: every level below the envelope is
decoded on its own (`msgspec.Raw`), and what fails is returned in `skipped` with a reason instead of raising.
Fields Meta adds later are ignored (msgspec ignores unknown fields), and so are types Meta adds later: they are
kept with a placeholder. Only two things reject the body: bytes that are not JSON, and an `object` that is not
a WhatsApp Business Account.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from memo.application.ports import NotificationParser
from memo.domain.whatsapp import (
    Body,
    ChoiceBody,
    ContactCard,
    ContactsBody,
    InboundMessage,
    InvalidJson,
    InvalidWebhookObject,
    LocationBody,
    MediaBody,
    MessageContext,
    MessageError,
    MessageStatus,
    OtherBody,
    ParsedNotification,
    PhoneNumberBatch,
    ReactionBody,
    SkippedItem,
    StatusUpdate,
    TextBody,
)

WHATSAPP_OBJECT = "whatsapp_business_account"
_TIMESTAMP = re.compile(r"[0-9]{1,11}")  # Unix seconds as Meta writes them, a string of digits; 11 keeps it < 5138
_MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


# --- wire structs: Meta's names, every field Memo does not need left out -------------------------------------


class _ErrorData(msgspec.Struct):
    details: str | None = None


class _Error(msgspec.Struct):
    code: int
    title: str | None = None
    message: str | None = None
    error_data: _ErrorData | None = None


class _Text(msgspec.Struct):
    body: str


class _Media(msgspec.Struct):
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False


class _Location(msgspec.Struct):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


class _ContactName(msgspec.Struct):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class _ContactPhone(msgspec.Struct):
    phone: str | None = None
    wa_id: str | None = None


class _Contact(msgspec.Struct):
    name: _ContactName | None = None
    phones: list[_ContactPhone] = []


class _Reply(msgspec.Struct):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class _FlowReply(msgspec.Struct):
    body: str | None = None
    name: str | None = None


class _Interactive(msgspec.Struct):
    type: str
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None
    nfm_reply: _FlowReply | None = None


class _Button(msgspec.Struct):
    text: str
    payload: str | None = None


class _Reaction(msgspec.Struct):
    message_id: str
    emoji: str | None = None


class _Order(msgspec.Struct):
    catalog_id: str | None = None
    text: str | None = None
    product_items: list[msgspec.Raw] = []


class _System(msgspec.Struct):
    body: str | None = None
    type: str | None = None


class _Context(msgspec.Struct):
    id: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    forwarded: bool = False
    frequently_forwarded: bool = False


class _Referral(msgspec.Struct):
    source_url: str | None = None
    source_type: str | None = None
    source_id: str | None = None


class _Message(msgspec.Struct):
    id: str
    timestamp: str
    type: str
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    context: _Context | None = None
    errors: list[_Error] = []
    referral: _Referral | None = None
    text: _Text | None = None
    image: _Media | None = None
    audio: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    contacts: list[_Contact] | None = None
    interactive: _Interactive | None = None
    button: _Button | None = None
    reaction: _Reaction | None = None
    order: _Order | None = None
    system: _System | None = None


class _Pricing(msgspec.Struct):
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class _Origin(msgspec.Struct):
    type: str | None = None


class _Conversation(msgspec.Struct):
    id: str | None = None
    origin: _Origin | None = None


class _Status(msgspec.Struct):
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: list[_Error] = []
    pricing: _Pricing | None = None
    conversation: _Conversation | None = None


class _Profile(msgspec.Struct):
    name: str | None = None


class _Sender(msgspec.Struct):
    wa_id: str | None = None
    user_id: str | None = None
    profile: _Profile | None = None


class _Metadata(msgspec.Struct):
    phone_number_id: str
    display_phone_number: str | None = None


class _Value(msgspec.Struct):
    metadata: _Metadata | None = None
    contacts: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []
    statuses: list[msgspec.Raw] = []
    errors: list[msgspec.Raw] = []


class _Change(msgspec.Struct):
    value: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)  # empty when absent
    field: str | None = None


class _Entry(msgspec.Struct):
    changes: list[msgspec.Raw] = []


class _Envelope(msgspec.Struct):
    object: str | None = None
    entry: list[msgspec.Raw] = []


class _Probe(msgspec.Struct):
    """Read from a message that failed to decode, so its skip names the message when it can."""

    id: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_ENTRY = msgspec.json.Decoder(_Entry)
_CHANGE = msgspec.json.Decoder(_Change)
_VALUE = msgspec.json.Decoder(_Value)
_MESSAGE = msgspec.json.Decoder(_Message)
_STATUS = msgspec.json.Decoder(_Status)
_SENDER = msgspec.json.Decoder(_Sender)
_ERROR = msgspec.json.Decoder(_Error)
_PROBE = msgspec.json.Decoder(_Probe)

T = TypeVar("T")


class _Skip(Exception):
    """A message or status that is well-formed JSON but not something Memo can keep."""



def parse_notification(raw: bytes) -> ParsedNotification:
    """Every message and status of a verified body, grouped by receiving number; what cannot be read is skipped.

    Raises InvalidJson or InvalidWebhookObject only; any other shape problem becomes a SkippedItem.
    """
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as wrong:  # JSON, but not an object with a string `object`, or `entry` not a list
        found = _object_of(raw)
        if found != WHATSAPP_OBJECT:
            raise InvalidWebhookObject(found) from None
        # Meta's object with an unreadable `entry`: acknowledged with nothing stored (a 400 would be retried for a
        # week), and the skip audited like any other unreadable part
        return ParsedNotification(skipped=(SkippedItem(where="entry", reason=str(wrong)[:200]),))
    except msgspec.DecodeError:
        raise InvalidJson from None
    if envelope.object != WHATSAPP_OBJECT:
        raise InvalidWebhookObject(envelope.object)
    builder = _Builder()
    for e, entry_raw in enumerate(envelope.entry):
        entry = builder.decode(_ENTRY, entry_raw, f"entry[{e}]")
        if entry is None:
            continue
        for c, change_raw in enumerate(entry.changes):
            builder.change(change_raw, f"entry[{e}].changes[{c}]")
    return builder.result()


def _object_of(raw: bytes) -> str | None:
    try:
        found = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    value = found.get("object") if isinstance(found, dict) else None
    return value if isinstance(value, str) else None


class _Builder:
    def __init__(self) -> None:
        self._messages: dict[str, list[InboundMessage]] = {}
        self._statuses: dict[str, list[StatusUpdate]] = {}
        self._errors: dict[str, list[MessageError]] = {}
        self._skipped: list[SkippedItem] = []
        self._seen: set[str] = set()

    def decode(self, decoder: msgspec.json.Decoder[T], raw: msgspec.Raw, where: str) -> T | None:
        try:
            return decoder.decode(raw)
        except msgspec.DecodeError as exc:
            self._skipped.append(SkippedItem(where=where, reason=str(exc), message_id=_probe_id(raw)))
            return None

    def change(self, raw: msgspec.Raw, where: str) -> None:
        change = self.decode(_CHANGE, raw, where)
        if change is None or not change.value:
            return
        if change.field not in (None, "messages"):  # other webhook fields (templates, account updates) carry no
            return  # messages; they are not Memo's to read
        value = self.decode(_VALUE, change.value, f"{where}.value")
        if value is None:
            return
        if value.metadata is None:
            if value.messages or value.statuses:
                self._skipped.append(SkippedItem(where=f"{where}.value", reason="no metadata.phone_number_id"))
            return
        number = value.metadata.phone_number_id
        self._seen.add(number)
        senders = [sender for i, raw_sender in enumerate(value.contacts)
                   if (sender := self.decode(_SENDER, raw_sender, f"{where}.value.contacts[{i}]")) is not None]
        for i, raw_message in enumerate(value.messages):
            self._message(raw_message, f"{where}.value.messages[{i}]", number, senders)
        for i, raw_status in enumerate(value.statuses):
            self._status(raw_status, f"{where}.value.statuses[{i}]", number)
        for i, raw_error in enumerate(value.errors):
            error = self.decode(_ERROR, raw_error, f"{where}.value.errors[{i}]")
            if error is not None:
                self._errors.setdefault(number, []).append(_error(error))

    def _message(self, raw: msgspec.Raw, where: str, number: str, senders: list[_Sender]) -> None:
        message = self.decode(_MESSAGE, raw, where)
        if message is None:
            return
        try:
            inbound = _inbound(message, number, senders)
        except (_Skip, ValueError) as exc:  # ValueError: a domain rule refused the value
            self._skipped.append(SkippedItem(where=where, reason=str(exc), message_id=message.id))
            return
        self._messages.setdefault(number, []).append(inbound)

    def _status(self, raw: msgspec.Raw, where: str, number: str) -> None:
        status = self.decode(_STATUS, raw, where)
        if status is None:
            return
        try:
            update = _status_update(status, number)
        except (_Skip, ValueError) as exc:
            self._skipped.append(SkippedItem(where=where, reason=str(exc), message_id=status.id))
            return
        self._statuses.setdefault(number, []).append(update)

    def result(self) -> ParsedNotification:
        batches = {number: PhoneNumberBatch(phone_number_id=number,
                                            messages=tuple(self._messages.get(number, ())),
                                            statuses=tuple(self._statuses.get(number, ())),
                                            errors=tuple(self._errors.get(number, ())))
                   for number in sorted(self._seen)}
        return ParsedNotification(batches=batches, skipped=tuple(self._skipped))


def _probe_id(raw: msgspec.Raw) -> str | None:
    try:
        return _PROBE.decode(raw).id
    except msgspec.DecodeError:
        return None


def _timestamp(value: str) -> datetime:
    if not _TIMESTAMP.fullmatch(value):
        raise _Skip(f"timestamp {value[:32]!r} is not Unix seconds")
    return datetime.fromtimestamp(int(value), UTC)


def _error(error: _Error) -> MessageError:
    details = error.error_data.details if error.error_data else None
    return MessageError(code=error.code, title=error.title or error.message or "", details=details)


def _inbound(message: _Message, number: str, senders: list[_Sender]) -> InboundMessage:
    if not message.id:
        raise _Skip("empty message id")
    sender = _sender_of(message, senders)
    wa_id = message.from_ or (sender.wa_id if sender else None)
    user_id = message.from_user_id or (sender.user_id if sender else None)
    if not wa_id and not user_id:
        raise _Skip("no sender: neither 'from' nor 'from_user_id'")
    metadata: dict[str, str] = {}
    body = _body(message, metadata)
    if message.referral is not None and message.referral.source_url:
        metadata["referral_source_url"] = message.referral.source_url
    context = None
    if message.context is not None:
        ctx = message.context
        context = MessageContext(replied_to=ctx.id, replied_to_from=ctx.from_, forwarded=ctx.forwarded,
                                 frequently_forwarded=ctx.frequently_forwarded)
    return InboundMessage(
        message_id=message.id, phone_number_id=number, wa_id=wa_id, user_id=user_id,
        contact_name=sender.profile.name if sender and sender.profile else None, type=message.type,
        timestamp=_timestamp(message.timestamp), body=body, context=context,
        errors=tuple(_error(error) for error in message.errors), metadata=metadata)


def _sender_of(message: _Message, senders: list[_Sender]) -> _Sender | None:
    """The contact entry of the message's sender; Meta lists one per sender, matched by wa_id or user_id."""
    for sender in senders:
        if (message.from_ and sender.wa_id == message.from_) or (
                message.from_user_id and sender.user_id == message.from_user_id):
            return sender
    return senders[0] if len(senders) == 1 else None


def _body(message: _Message, metadata: dict[str, str]) -> Body:  # noqa: C901, PLR0911, PLR0912
    kind = message.type
    if kind == "text":
        if message.text is None:
            raise _Skip("text message without 'text'")
        return TextBody(text=message.text.body)
    if kind in _MEDIA_TYPES:
        media: _Media | None = getattr(message, kind)
        if media is None:
            raise _Skip(f"{kind} message without '{kind}'")
        return MediaBody(kind=kind, media_id=media.id, mime_type=media.mime_type, sha256=media.sha256,
                         caption=media.caption, filename=media.filename, voice=kind == "audio" and media.voice)
    if kind == "location":
        if message.location is None:
            raise _Skip("location message without 'location'")
        loc = message.location
        return LocationBody(latitude=loc.latitude, longitude=loc.longitude, name=loc.name, address=loc.address)
    if kind == "contacts":
        if message.contacts is None:
            raise _Skip("contacts message without 'contacts'")
        return ContactsBody(cards=tuple(_card(contact) for contact in message.contacts))
    if kind == "interactive":
        return _interactive(message, metadata)
    if kind == "button":
        if message.button is None:
            raise _Skip("button message without 'button'")
        if message.button.payload is not None:
            metadata["button_payload"] = message.button.payload
        return ChoiceBody(title=message.button.text, choice_id=message.button.payload)
    if kind == "reaction":
        if message.reaction is None:
            raise _Skip("reaction message without 'reaction'")
        return ReactionBody(message_id=message.reaction.message_id, emoji=message.reaction.emoji or None)
    if kind == "order" and message.order is not None:
        if message.order.catalog_id:
            metadata["catalog_id"] = message.order.catalog_id
        items = len(message.order.product_items)
        note = f"{items} item{'s' if items != 1 else ''}" + (f": {message.order.text}" if message.order.text else "")
        return OtherBody(type="order", text=note)
    if kind == "system" and message.system is not None:
        if message.system.type:
            metadata["system_type"] = message.system.type
        return OtherBody(type="system", text=message.system.body)
    return OtherBody(type=kind or "unknown")


def _card(contact: _Contact) -> ContactCard:
    name = None
    if contact.name is not None:
        parts = (contact.name.first_name, contact.name.last_name)
        name = contact.name.formatted_name or " ".join(part for part in parts if part) or None
    phones = tuple(phone for entry in contact.phones if (phone := entry.phone or entry.wa_id))
    return ContactCard(name=name, phones=phones)


def _interactive(message: _Message, metadata: dict[str, str]) -> Body:
    interactive = message.interactive
    if interactive is None:
        raise _Skip("interactive message without 'interactive'")
    reply = interactive.button_reply if interactive.type == "button_reply" else (
        interactive.list_reply if interactive.type == "list_reply" else None)
    if reply is not None:
        if not reply.title:
            raise _Skip(f"{interactive.type} without a title")
        if reply.id is not None:
            metadata["choice_id"] = reply.id
        return ChoiceBody(title=reply.title, choice_id=reply.id, description=reply.description)
    if interactive.type in ("button_reply", "list_reply"):
        raise _Skip(f"interactive {interactive.type} without '{interactive.type}'")
    if interactive.nfm_reply is not None:  # a WhatsApp Flow answer: its name, not the JSON, is what is readable
        return OtherBody(type="flow reply", text=interactive.nfm_reply.body or interactive.nfm_reply.name)
    return OtherBody(type=f"interactive {interactive.type}")


def _status_update(status: _Status, number: str) -> StatusUpdate:
    if not status.id:
        raise _Skip("empty message id")
    try:
        state = MessageStatus(status.status)
    except ValueError:
        raise _Skip(f"unknown status {status.status[:32]!r}") from None
    details: dict[str, str] = {}
    if status.pricing is not None:
        pricing = status.pricing
        named = (("pricing_category", pricing.category), ("pricing_model", pricing.pricing_model),
                 ("pricing_type", pricing.type))
        details.update({key: value for key, value in named if value is not None})
        if pricing.billable is not None:
            details["billable"] = "true" if pricing.billable else "false"
    if status.conversation is not None:
        if status.conversation.id is not None:
            details["conversation_id"] = status.conversation.id
        if status.conversation.origin is not None and status.conversation.origin.type is not None:
            details["conversation_origin"] = status.conversation.origin.type
    return StatusUpdate(message_id=status.id, phone_number_id=number, status=state,
                        timestamp=_timestamp(status.timestamp),
                        recipient=status.recipient_id or status.recipient_user_id,
                        errors=tuple(_error(error) for error in status.errors), details=details)


class MetaNotificationParser(NotificationParser):
    def parse(self, body: bytes) -> ParsedNotification:
        return parse_notification(body)
