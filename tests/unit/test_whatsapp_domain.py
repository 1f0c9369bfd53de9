from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memo.domain.whatsapp import (
    ChoiceBody,
    ContactCard,
    ContactsBody,
    InboundMessage,
    LocationBody,
    MediaBody,
    MessageContext,
    MessageError,
    MessageStatus,
    OtherBody,
    ReactionBody,
    StatusUpdate,
    TextBody,
    advances,
    apply_status,
    readable_content,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
S, D, R, F = MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED


def _status(status: MessageStatus, *, code: int | None = None) -> StatusUpdate:
    errors = (MessageError(code=code, title=f"error {code}"),) if code is not None else ()
    return StatusUpdate(message_id="wamid.1", phone_number_id="123", status=status, timestamp=T0,
                        recipient="4915112345678", errors=errors)


@pytest.mark.parametrize(("current", "incoming", "expected"), [
    (None, S, True), (None, R, True), (S, D, True), (D, R, True), (S, R, True),
    (R, D, False), (R, S, False), (D, S, False), (D, D, False),
    (S, F, True), (R, F, True), (F, R, False), (F, S, False), (F, F, False),
])
def test_a_status_only_moves_forward_and_failed_is_terminal(current: MessageStatus | None,
                                                            incoming: MessageStatus, expected: bool) -> None:
    assert advances(current, incoming) is expected


def test_a_late_delivered_leaves_a_read_message_read() -> None:
    read = _status(R)
    assert apply_status(read, _status(D)) is read


def test_a_failed_status_keeps_its_first_error() -> None:
    first = _status(F, code=131047)
    assert apply_status(first, _status(F, code=131026)).errors[0].code == 131047
    assert apply_status(first, _status(R)).errors[0].code == 131047


def test_a_status_for_another_message_is_refused() -> None:
    other = StatusUpdate(message_id="wamid.2", phone_number_id="123", status=R, timestamp=T0, recipient=None)
    with pytest.raises(ValueError, match="names"):
        apply_status(_status(S), other)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        StatusUpdate(message_id="m", phone_number_id="1", status=S, timestamp=datetime(2026, 1, 5),  # noqa: DTZ001
                     recipient=None)


@pytest.mark.parametrize(("body", "expected"), [
    (TextBody(text="dentist at 3pm"), "dentist at 3pm"),
    (MediaBody(kind="image", media_id="1", caption="Receipt"), "Receipt"),
    (MediaBody(kind="image", media_id="1"), "[image]"),
    (MediaBody(kind="audio", media_id="1"), "[audio]"),
    (MediaBody(kind="audio", media_id="1", voice=True), "[voice note]"),
    (MediaBody(kind="video", media_id="1"), "[video]"),
    (MediaBody(kind="document", media_id="1", filename="invoice.pdf"), "[document: invoice.pdf]"),
    (MediaBody(kind="document", media_id="1"), "[document]"),
    (MediaBody(kind="sticker", media_id="1"), "[sticker]"),
    (LocationBody(latitude=52.52, longitude=13.405, name="Office", address="Unter den Linden 1"),
     "[location] Office, Unter den Linden 1, (52.52, 13.405)"),
    (LocationBody(latitude=1.5, longitude=2.0), "[location] (1.5, 2.0)"),
    (ContactsBody(cards=(ContactCard(name="Bob", phones=("+1 555", "+1 666")), ContactCard(name="Eve"))),
     "[contacts] Bob +1 555, +1 666; Eve"),
    (ContactsBody(cards=()), "[contacts]"),
    (ChoiceBody(title="Yes, book it", choice_id="yes"), "Yes, book it"),
    (ReactionBody(message_id="wamid.9", emoji="\U0001f44d"), "[reaction \U0001f44d] on wamid.9"),
    (ReactionBody(message_id="wamid.9", emoji=None), "[reaction removed] on wamid.9"),
    (OtherBody(type="order", text="2 items"), "[order] 2 items"),
    (OtherBody(type="unsupported"), "[unsupported]"),
    (OtherBody(type="hologram"), "[hologram]"),
])
def test_readable_content_per_kind(body: TextBody | MediaBody | LocationBody | ContactsBody | ChoiceBody
                                   | ReactionBody | OtherBody, expected: str) -> None:
    assert readable_content(body) == expected


def test_readable_content_is_never_empty() -> None:
    assert readable_content(TextBody(text="")) == "[text]"
    assert readable_content(ChoiceBody(title="")) == "[button]"


def test_a_message_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="sender"):
        InboundMessage(message_id="m", phone_number_id="1", wa_id=None, user_id="", contact_name=None,
                       type="text", timestamp=T0, body=TextBody(text="hi"))


def test_the_sender_is_the_business_scoped_id_when_no_number_is_shared() -> None:
    message = InboundMessage(message_id="m", phone_number_id="1", wa_id=None, user_id="US.123", contact_name=None,
                             type="audio", timestamp=T0,
                             body=MediaBody(kind="audio", media_id="55", mime_type="audio/ogg", sha256="h",
                                            voice=True))
    assert (message.sender, message.media_id, message.mime_type, message.sha256, message.voice) == (
        "US.123", "55", "audio/ogg", "h", True)
    assert message.content == "[voice note]"


def test_memory_metadata_holds_what_api_md_names_and_leaves_out_the_absent() -> None:
    message = InboundMessage(
        message_id="wamid.1", phone_number_id="123", wa_id="49151", user_id=None, contact_name="Anna",
        type="audio", timestamp=T0, body=MediaBody(kind="audio", media_id="55", mime_type="audio/ogg", voice=True),
        context=MessageContext(replied_to="wamid.0"), errors=(MessageError(code=131051, title="unknown"),),
        metadata={"referral_source_url": "https://ad"})
    assert message.memory_metadata() == {
        "whatsappMessageId": "wamid.1", "phoneNumberId": "123", "sender": "49151", "waId": "49151",
        "contactName": "Anna", "messageType": "audio", "timestamp": "2026-01-05T08:00:00+00:00", "mediaId": "55",
        "mimeType": "audio/ogg", "voice": True, "context": {"repliedTo": "wamid.0"},
        "errors": [{"code": 131051, "title": "unknown"}], "extra": {"referral_source_url": "https://ad"}}


def test_memory_metadata_of_a_plain_text_has_no_media_or_context_keys() -> None:
    message = InboundMessage(message_id="m", phone_number_id="1", wa_id=None, user_id="US.1", contact_name=None,
                             type="text", timestamp=T0, body=TextBody(text="hi"))
    assert set(message.memory_metadata()) == {"whatsappMessageId", "phoneNumberId", "sender", "userId",
                                              "messageType", "timestamp"}
