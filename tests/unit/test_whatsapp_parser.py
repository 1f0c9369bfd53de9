from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memo.adapters.messaging.whatsapp_webhook import parse_notification
from memo.domain.whatsapp import (
    ChoiceBody,
    InboundMessage,
    InvalidJson,
    InvalidWebhookObject,
    MessageStatus,
    OtherBody,
    ParsedNotification,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp"  # copies of the shared samples
NUMBER = "123456789012345"
TS = "1767600000"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _notify(*values: dict[str, Any]) -> bytes:
    changes = [{"field": "messages", "value": {"messaging_product": "whatsapp",
                                                "metadata": {"display_phone_number": "15551230000",
                                                             "phone_number_id": NUMBER}} | value}
               for value in values]
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "109876543210987", "changes": changes}]}).encode()


def _message(kind: str, payload: Any = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"from": "4915112345678", "id": f"wamid.{kind}", "timestamp": TS, "type": kind}
    if payload is not None:
        message[kind] = payload
    return message | extra


def _one(message: dict[str, Any]) -> InboundMessage:
    parsed = parse_notification(_notify({"contacts": [{"profile": {"name": "Anna"}, "wa_id": "4915112345678"}],
                                         "messages": [message]}))
    assert parsed.skipped == ()
    (inbound,) = parsed.messages
    return inbound


# --- the shared fixtures -----------------------------------------------------------------------------------------

def test_the_text_fixture_becomes_one_message_with_its_sender_and_time() -> None:
    (message,) = parse_notification(_fixture("text.json")).batches[NUMBER].messages
    assert message.content == "Hi, can you remind me about the dentist at 3pm?"
    assert (message.sender, message.contact_name, message.type) == ("4915112345678", "Anna Schmidt", "text")
    assert message.timestamp == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert message.message_id.startswith("wamid.")


def test_the_image_fixture_keeps_caption_and_media_reference() -> None:
    (message,) = parse_notification(_fixture("image.json")).messages
    assert message.content == "Receipt from today"
    assert (message.media_id, message.mime_type, message.sha256) == (
        "1284563907712345", "image/jpeg", "Lk0tYf2m3n1mQ5kq8G3uQbA4sY0zJb5p8cX2dH9wT1A=")


def test_the_delivered_fixture_becomes_a_status_update() -> None:
    parsed = parse_notification(_fixture("status_delivered.json"))
    (status,) = parsed.statuses
    assert parsed.messages == ()
    assert (status.status, status.recipient, status.phone_number_id) == (
        MessageStatus.DELIVERED, "4915112345678", NUMBER)


# --- one case per message type ----------------------------------------------------------------------------------

MEDIA = {"id": "9001", "mime_type": "image/jpeg", "sha256": "abc="}


@pytest.mark.parametrize(("message", "content"), [
    (_message("text", {"body": "hello"}), "hello"),
    (_message("image", MEDIA), "[image]"),
    (_message("image", MEDIA | {"caption": "the whiteboard"}), "the whiteboard"),
    (_message("audio", {"id": "9002", "mime_type": "audio/mpeg"}), "[audio]"),
    (_message("audio", {"id": "9003", "mime_type": "audio/ogg; codecs=opus", "voice": True}), "[voice note]"),
    (_message("video", {"id": "9004", "mime_type": "video/mp4"}), "[video]"),
    (_message("document", {"id": "9005", "mime_type": "application/pdf", "filename": "lease.pdf"}),
     "[document: lease.pdf]"),
    (_message("sticker", {"id": "9006", "mime_type": "image/webp", "animated": False}), "[sticker]"),
    (_message("location", {"latitude": 52.52, "longitude": 13.405, "name": "Office", "address": "Main St 1"}),
     "[location] Office, Main St 1, (52.52, 13.405)"),
    (_message("contacts", [{"name": {"formatted_name": "Bob Smith", "first_name": "Bob"},
                            "phones": [{"phone": "+1 555 0100", "wa_id": "15550100", "type": "CELL"}]},
                           {"name": {"first_name": "Eve", "last_name": "Doe"}, "phones": []}]),
     "[contacts] Bob Smith +1 555 0100; Eve Doe"),
    (_message("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}),
     "Yes please"),
    (_message("interactive", {"type": "list_reply",
                              "list_reply": {"id": "row-2", "title": "Tuesday", "description": "10:00"}}), "Tuesday"),
    (_message("button", {"payload": "STOP", "text": "Stop promotions"}), "Stop promotions"),
    (_message("reaction", {"message_id": "wamid.sent1", "emoji": "\u2764\ufe0f"}),
     "[reaction \u2764\ufe0f] on wamid.sent1"),
    (_message("reaction", {"message_id": "wamid.sent1"}), "[reaction removed] on wamid.sent1"),
    (_message("order", {"catalog_id": "cat1", "text": "asap", "product_items": [
        {"product_retailer_id": "sku1", "quantity": 2, "item_price": 9.5, "currency": "EUR"}]}),
     "[order] 1 item: asap"),
    (_message("system", {"body": "User Anna changed from 1 to 2", "type": "user_changed_number",
                         "wa_id": "2"}), "[system] User Anna changed from 1 to 2"),
    (_message("unsupported", None, errors=[{"code": 131051, "title": "Message type unknown",
                                            "error_data": {"details": "Message type is currently not supported."}}]),
     "[unsupported]"),
    (_message("hologram", {"shape": "cube"}), "[hologram]"),
])
def test_every_message_type_has_readable_content(message: dict[str, Any], content: str) -> None:
    inbound = _one(message)
    assert inbound.content == content
    assert inbound.type == message["type"]


def test_a_voice_note_keeps_its_voice_flag_and_media() -> None:
    inbound = _one(_message("audio", {"id": "9003", "mime_type": "audio/ogg", "sha256": "h=", "voice": True}))
    assert (inbound.voice, inbound.media_id, inbound.mime_type, inbound.sha256) == (True, "9003", "audio/ogg", "h=")


def test_errors_on_a_message_are_kept_with_code_title_and_details() -> None:
    inbound = _one(_message("unsupported", None, errors=[
        {"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
         "error_data": {"details": "not supported"}}]))
    assert [(error.code, error.title, error.details) for error in inbound.errors] == [
        (131051, "Message type unknown", "not supported")]


def test_a_reply_and_a_forward_keep_their_context() -> None:
    reply = _one(_message("text", {"body": "yes"}, context={"from": "15551230000", "id": "wamid.original"}))
    forward = _one(_message("text", {"body": "fwd"}, context={"forwarded": True, "frequently_forwarded": True}))
    assert reply.context is not None
    assert forward.context is not None
    assert (reply.context.replied_to, reply.context.replied_to_from, reply.context.forwarded) == (
        "wamid.original", "15551230000", False)
    assert (forward.context.replied_to, forward.context.forwarded, forward.context.frequently_forwarded) == (
        None, True, True)


def test_choice_ids_and_template_payloads_reach_metadata() -> None:
    listed = _one(_message("interactive", {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Tue"}}))
    template = _one(_message("button", {"payload": "STOP", "text": "Stop"}))
    assert isinstance(listed.body, ChoiceBody)
    assert listed.metadata["choice_id"] == "row-2"
    assert template.metadata["button_payload"] == "STOP"


def test_a_sender_without_wa_id_is_known_by_business_scoped_user_id() -> None:
    message = {"from_user_id": "US.13491208655302741918", "id": "wamid.u", "timestamp": TS, "type": "text",
               "text": {"body": "hi"}}
    parsed = parse_notification(_notify({"contacts": [{"profile": {"name": "anna.k"},
                                                       "user_id": "US.13491208655302741918"}],
                                         "messages": [message]}))
    (inbound,) = parsed.messages
    assert (inbound.wa_id, inbound.user_id, inbound.sender, inbound.contact_name) == (
        None, "US.13491208655302741918", "US.13491208655302741918", "anna.k")


def test_each_sender_gets_their_own_contact_name() -> None:
    first = _message("text", {"body": "a"}) | {"from": "111", "id": "wamid.a"}
    second = _message("text", {"body": "b"}) | {"from": "222", "id": "wamid.b"}
    parsed = parse_notification(_notify({"contacts": [{"profile": {"name": "Bea"}, "wa_id": "222"},
                                                      {"profile": {"name": "Al"}, "wa_id": "111"}],
                                         "messages": [first, second]}))
    assert [(m.sender, m.contact_name) for m in parsed.messages] == [("111", "Al"), ("222", "Bea")]


# --- statuses ----------------------------------------------------------------------------------------------------

def _status(state: str, **extra: Any) -> dict[str, Any]:
    return {"id": "wamid.out1", "status": state, "timestamp": TS, "recipient_id": "4915112345678"} | extra


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_each_status_is_parsed(state: str) -> None:
    (status,) = parse_notification(_notify({"statuses": [_status(state)]})).statuses
    assert (status.message_id, status.status, status.errors) == ("wamid.out1", MessageStatus(state), ())


def test_a_failed_status_keeps_metas_error() -> None:
    raw = _status("failed", errors=[{"code": 131047, "title": "Re-engagement message",
                                     "error_data": {"details": "More than 24 hours have passed"}}])
    (status,) = parse_notification(_notify({"statuses": [raw]})).statuses
    assert status.status is MessageStatus.FAILED
    assert [(e.code, e.title, e.details) for e in status.errors] == [
        (131047, "Re-engagement message", "More than 24 hours have passed")]


def test_pricing_and_conversation_are_kept_as_details_when_present() -> None:
    raw = _status("sent", pricing={"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"},
                  conversation={"id": "conv1", "expiration_timestamp": TS, "origin": {"type": "service"}})
    (status,) = parse_notification(_notify({"statuses": [raw]})).statuses
    assert status.details == {"pricing_category": "service", "pricing_model": "PMP", "pricing_type": "regular",
                              "billable": "true", "conversation_id": "conv1", "conversation_origin": "service"}
    (bare,) = parse_notification(_notify({"statuses": [_status("sent")]})).statuses
    assert bare.details == {}


def test_a_status_to_a_username_user_names_the_business_scoped_recipient() -> None:
    raw = {"id": "wamid.out1", "status": "read", "timestamp": TS, "recipient_user_id": "US.1"}
    (status,) = parse_notification(_notify({"statuses": [raw]})).statuses
    assert status.recipient == "US.1"


# --- batches --------------------------------------------------------------------------------------------------

def test_a_batch_of_several_entries_and_changes_is_grouped_by_receiving_number() -> None:
    def change(number: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"field": "messages", "value": {"metadata": {"phone_number_id": number}} | value}
    body = json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "w1", "changes": [change("111", {"messages": [_message("text", {"body": "one"})]}),
                                 change("222", {"statuses": [_status("read")]})]},
        {"id": "w2", "changes": [change("111", {"messages": [_message("text", {"body": "two"}) | {"id": "m2"}]})]},
    ]}).encode()
    parsed = parse_notification(body)
    assert sorted(parsed.batches) == ["111", "222"]
    assert [m.content for m in parsed.batches["111"].messages] == ["one", "two"]
    assert [s.status for s in parsed.batches["222"].statuses] == [MessageStatus.READ]
    assert parsed.skipped == ()


def test_unknown_fields_everywhere_are_ignored() -> None:
    body = json.dumps({"object": "whatsapp_business_account", "future": 1, "entry": [{"id": "w", "new": [], "changes": [
        {"field": "messages", "value": {"metadata": {"phone_number_id": NUMBER, "x": 1}, "hint": {"a": 1},
                                        "messages": [_message("text", {"body": "ok", "lang": "de"}, novel=True)]}}]}],
    }).encode()
    assert [m.content for m in parse_notification(body).messages] == ["ok"]


def test_escaped_unicode_and_slashes_are_decoded() -> None:
    body = _notify({"messages": [_message("text", {"body": "x"})]}).replace(
        b'"body": "x"', b'"body": "Gr\\u00fc\\u00dfe, K\\u00f6ln \\ud83d\\ude00 https:\\/\\/a.b\\/c"')
    (inbound,) = parse_notification(body).messages
    assert inbound.content == "Grüße, Köln \U0001f600 https://a.b/c"


def test_a_change_of_another_webhook_field_carries_no_messages() -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]}).encode()
    assert parse_notification(body) == ParsedNotification()


# --- malformed shapes: a skipped item or a clear error, never a lost sibling ---------------------------------

GOOD = _message("text", {"body": "keep me"}) | {"id": "wamid.good"}


@pytest.mark.parametrize(("bad", "reason"), [
    ({"from": "1", "timestamp": TS, "type": "text", "text": {"body": "no id"}}, "id"),
    ({"from": "1", "id": "wamid.bad", "type": "text", "text": {"body": "no time"}}, "timestamp"),
    (_message("text", {"body": "t"}) | {"id": "wamid.bad", "timestamp": "yesterday"}, "Unix"),
    (_message("text", {"body": "t"}) | {"id": "wamid.bad", "timestamp": 1767600000}, "str"),
    (_message("text", {"body": 42}) | {"id": "wamid.bad"}, "str"),
    (_message("text") | {"id": "wamid.bad"}, "without 'text'"),
    (_message("image", {"mime_type": "image/png"}) | {"id": "wamid.bad"}, "id"),
    (_message("location", {"latitude": "north"}) | {"id": "wamid.bad"}, "float"),
    (_message("reaction", {"emoji": "x"}) | {"id": "wamid.bad"}, "message_id"),
    (_message("interactive", {"type": "button_reply"}) | {"id": "wamid.bad"}, "button_reply"),
    (_message("contacts", {"name": "not a list"}) | {"id": "wamid.bad"}, "array"),
    ({"id": "wamid.bad", "timestamp": TS, "type": "text", "text": {"body": "nobody"}}, "sender"),
    ("just a string", "object"),
    (None, "object"),
])
def test_a_malformed_message_is_skipped_and_its_sibling_kept(bad: Any, reason: str) -> None:
    parsed = parse_notification(_notify({"messages": [bad, GOOD]}))
    assert [m.message_id for m in parsed.messages] == ["wamid.good"]
    (skipped,) = parsed.skipped
    assert reason in skipped.reason
    assert skipped.where == "entry[0].changes[0].value.messages[0]"
    if isinstance(bad, dict) and "id" in bad:
        assert skipped.message_id == bad["id"]


@pytest.mark.parametrize("bad", [
    {"id": "wamid.x", "status": "teleported", "timestamp": TS},
    {"id": "wamid.x", "timestamp": TS},
    {"id": "wamid.x", "status": "read", "timestamp": TS, "errors": [{"title": "no code"}]},
])
def test_a_malformed_status_is_skipped_and_its_sibling_kept(bad: dict[str, Any]) -> None:
    parsed = parse_notification(_notify({"statuses": [bad, _status("read")]}))
    assert [s.message_id for s in parsed.statuses] == ["wamid.out1"]
    assert [s.message_id for s in parsed.skipped] == ["wamid.x"]


def test_a_malformed_change_or_entry_costs_only_itself() -> None:
    good_change = {"field": "messages", "value": {"metadata": {"phone_number_id": NUMBER}, "messages": [GOOD]}}
    body = json.dumps({"object": "whatsapp_business_account", "entry": [
        7, {"changes": "nope"}, {"changes": [
            {"field": "messages", "value": {"messages": [GOOD]}},  # no metadata: no owner to give it to
            {"field": "messages", "value": {"metadata": {"phone_number_id": 5}, "messages": [GOOD]}},
            {"field": "messages", "value": []},
            good_change]}]}).encode()
    parsed = parse_notification(body)
    assert [m.message_id for m in parsed.messages] == ["wamid.good"]
    assert [s.where for s in parsed.skipped] == [
        "entry[0]", "entry[1]", "entry[2].changes[0].value", "entry[2].changes[1].value",
        "entry[2].changes[2].value"]


def test_a_3_mb_batch_is_parsed_whole_with_its_bad_messages_skipped() -> None:
    messages = [_message("text", {"body": "x" * 1000}) | {"id": f"wamid.{i}"} for i in range(3000)]
    messages[1500] = {"id": "wamid.broken", "type": "text"}
    body = _notify({"messages": messages})
    assert len(body) > 3_000_000
    parsed = parse_notification(body)
    assert len(parsed.messages) == 2999
    assert [s.message_id for s in parsed.skipped] == ["wamid.broken"]


# --- what rejects the whole body -------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"not json", b'{"object": "whatsapp_business_account"', b"\xff\xfe{}",
                                  b'{"object": "whatsapp_business_account", "entry": []} trailing'])
def test_a_body_that_is_not_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidJson) as failure:
        parse_notification(body)
    assert failure.value.code == "INVALID_JSON"


@pytest.mark.parametrize("body", [b'{"object": "page", "entry": []}', b'{"entry": []}', b"[]", b'"hello"', b"42",
                                  b'{"object": 7}', b'{"object": "page", "entry": {}}'])
def test_a_body_that_is_not_a_whatsapp_business_account_notification_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhookObject) as failure:
        parse_notification(body)
    assert failure.value.code == "INVALID_WEBHOOK_OBJECT"


@pytest.mark.parametrize("entry", [b"{}", b"null", b'"x"', b"1"])
def test_a_business_account_notification_whose_entry_is_not_a_list_is_one_skipped_item(entry: bytes) -> None:
    parsed = parse_notification(b'{"object": "whatsapp_business_account", "entry": ' + entry + b"}")

    assert parsed.batches == {}
    [skipped] = parsed.skipped
    assert skipped.where == "entry"


def test_an_empty_notification_has_no_batches() -> None:
    assert parse_notification(b'{"object": "whatsapp_business_account", "entry": []}') == ParsedNotification()


def test_an_unknown_type_is_kept_with_a_placeholder_not_dropped() -> None:
    inbound = _one(_message("hologram", {"shape": "cube"}))
    assert inbound.body == OtherBody(type="hologram")


def test_a_sender_missing_from_several_contacts_gets_no_borrowed_name() -> None:
    stranger = _message("text", {"body": "c"}) | {"from": "333", "id": "wamid.c"}
    parsed = parse_notification(_notify({"contacts": [{"profile": {"name": "Bea"}, "wa_id": "222"},
                                                      {"profile": {"name": "Al"}, "wa_id": "111"}],
                                         "messages": [stranger]}))
    assert [(m.sender, m.contact_name) for m in parsed.messages] == [("333", None)]


def test_a_flow_reply_is_kept_by_its_readable_body() -> None:
    inbound = _one(_message("interactive", {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": '{"flow_token": "t"}'}}))
    assert inbound.content == "[flow reply] Sent"


def test_a_message_from_an_ad_keeps_the_ad_url_in_metadata() -> None:
    inbound = _one(_message("text", {"body": "info?"}, referral={
        "source_url": "https://fb.me/ad", "source_type": "ad", "source_id": "1", "headline": "h"}))
    assert inbound.metadata == {"referral_source_url": "https://fb.me/ad"}
