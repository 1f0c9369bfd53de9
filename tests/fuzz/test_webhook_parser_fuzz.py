"""Meta's webhook body under any input: parsed with what cannot be read skipped, or InvalidJson or
InvalidWebhookObject; never another exception, a broken message never costs its siblings, and through the app a
signed body is only ever 200 or 400 INVALID_JSON / INVALID_WEBHOOK_OBJECT."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from memo.adapters.messaging.whatsapp_webhook import parse_notification
from memo.domain.whatsapp import InvalidJson, InvalidWebhookObject, ParsedNotification
from tests.e2e.conftest import World

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp"
SAMPLES = {name: json.loads((FIXTURES / name).read_text()) for name in ("text.json", "image.json",
                                                                        "status_delivered.json")}
APP_SECRET = "w" * 40  # the test settings' WHATSAPP_APP_SECRET
NUMBER = "123456789012345"

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=20), st.sampled_from(["", "text", "image", "read", "1767600000", "-1"]))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value where another value could stand."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


@st.composite
def mutated_samples(draw: st.DrawFn) -> dict[str, Any]:
    """One of Meta's samples with any one place inside `entry` (an entry, a change, a message...) replaced by any
    JSON value. `entry` itself not being a list is a case of its own (see test_openapi_findings)."""
    sample = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))]
    inside = [path for path in paths(sample) if path[:1] == ("entry",) and len(path) > 1]
    mutated: dict[str, Any] = replaced(sample, draw(st.sampled_from(inside)), draw(json_values))
    return mutated


def parse_or_refuse(raw: bytes) -> ParsedNotification | None:
    try:
        return parse_notification(raw)
    except (InvalidJson, InvalidWebhookObject):
        return None


@given(raw=st.one_of(st.binary(max_size=300), json_values.map(lambda value: json.dumps(value).encode())))
def test_any_bytes_are_parsed_or_refused_as_not_json_or_not_a_waba_notification(raw: bytes) -> None:
    try:
        parse_notification(raw)
    except InvalidJson:
        try:
            json.loads(raw)
        except ValueError:
            return
        raise AssertionError(f"valid JSON called invalid: {raw!r}") from None
    except InvalidWebhookObject as refused:
        found = refused.found
    else:
        return
    assert found != "whatsapp_business_account"


@given(notification=mutated_samples())
def test_a_notification_changed_anywhere_inside_entry_is_parsed_never_refused(notification: dict[str, Any]) -> None:
    parsed = parse_notification(json.dumps(notification).encode())
    for batch in parsed.batches.values():
        assert all(message.message_id and message.timestamp.tzinfo for message in batch.messages)
        assert all(update.message_id and update.timestamp.tzinfo for update in batch.statuses)
    assert all(item.where.startswith("entry[") and item.reason for item in parsed.skipped)


@given(broken=json_values)
def test_a_message_that_cannot_be_read_never_costs_its_sibling(broken: Any) -> None:
    notification = copy.deepcopy(SAMPLES["text.json"])
    messages = notification["entry"][0]["changes"][0]["value"]["messages"]
    messages.append(broken)
    parsed = parse_notification(json.dumps(notification).encode())
    assert messages[0]["id"] in [message.message_id for message in parsed.batches[NUMBER].messages]


@given(notification=st.one_of(mutated_samples(), json_values.map(lambda value: {"object": value})),
       raw_tail=st.binary(max_size=4))
async def test_any_signed_body_through_the_app_is_200_or_a_documented_400(world: World,
                                                                          notification: dict[str, Any],
                                                                          raw_tail: bytes) -> None:
    raw = json.dumps(notification).encode() + raw_tail
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    answer = await world.client.post("/api/whatsapp/webhook", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
    assert answer.status_code in {200, 400}, answer.text
    body = answer.json()
    if answer.status_code == 400:
        assert body["code"] in {"INVALID_JSON", "INVALID_WEBHOOK_OBJECT"}
        assert parse_or_refuse(raw) is None
    else:
        assert body == {"success": True, "processed": 0}  # no owner claims the samples' number here
