"""POST /api/whatsapp/send and GET /api/whatsapp/sync-status (API.md section 4), on the recording sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from memo.adapters.messaging.memory import InMemoryMessageSender, SentText
from memo.adapters.system import FixedClock
from memo.application.errors import (
    OutsideCustomerCareWindow,
    UpstreamAuthError,
    UpstreamFailure,
    UpstreamRateLimited,
)
from memo.application.manage_keys import CreateOwner
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, Signer, World, settings_for_tests
from tests.e2e.test_whatsapp_webhook_api import NUMBER, deliver, fixture, status, text_message

SEND = "/api/whatsapp/send"
SYNC = "/api/whatsapp/sync-status"
TO = "4915112345678"


@pytest.fixture
def sending_settings() -> dict[str, Any]:
    return {"whatsapp_access_token": Secret("EAAG" + "t" * 40), "whatsapp_phone_number_id": NUMBER}


@pytest.fixture
async def sending(sending_settings: dict[str, Any], clock: FixedClock) -> AsyncIterator[World]:
    app = create_app(settings_for_tests(**sending_settings), FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock)


@pytest.fixture
async def anna(sending: World) -> Signer:
    async with sending.app.state.dishka_container() as scope:
        await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
    return await sending.signer_for("anna")


async def recorder(world: World) -> InMemoryMessageSender:
    sender: InMemoryMessageSender = await world.app.state.dishka_container.get(InMemoryMessageSender)
    return sender


async def test_a_send_answers_the_message_id_and_stores_a_whatsapp_sent_memory(sending: World, anna: Signer) -> None:
    response = await anna.post(SEND, {"to": TO, "message": "Dentist at 3pm, see you", "type": "text"})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["messageId"], data["to"], data["status"]) == ("wamid.memo-1", TO, "sent")
    memory = (await anna.get(f"/api/memories/{data['memoryId']}")).json()["data"]
    assert (memory["type"], memory["source"], memory["content"]) == ("whatsapp_sent", "whatsapp",
                                                                     "Dentist at 3pm, see you")
    assert memory["metadata"]["whatsappMessageId"] == "wamid.memo-1"
    assert memory["metadata"]["to"] == TO
    assert (await recorder(sending)).sent == [SentText(to=TO, text="Dentist at 3pm, see you", reply_to=None)]


async def test_a_reply_names_the_stored_message_it_answers(sending: World, anna: Signer) -> None:
    await deliver(sending.client, fixture("text.json"))
    received = (await anna.get("/api/memories")).json()["data"][0]["metadata"]["whatsappMessageId"]

    response = await anna.post(SEND, {"to": TO, "message": "Noted!", "replyTo": received})

    assert response.status_code == 200, response.text
    assert (await recorder(sending)).sent[-1].reply_to == received


async def test_a_reply_to_a_message_memo_does_not_hold_is_refused_before_sending(sending: World, anna: Signer) -> None:
    response = await anna.post(SEND, {"to": TO, "message": "Noted!", "replyTo": "wamid.unknown"})

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "replyTo"
    assert (await recorder(sending)).sent == []


@pytest.mark.parametrize("body", [
    {"to": "+4915112345678", "message": "hi"}, {"to": "123", "message": "hi"}, {"to": TO, "message": ""},
    {"to": TO, "message": "x" * 4097}, {"to": TO, "message": "hi", "type": "image"}, {"to": TO},
    {"to": TO, "message": "hi", "unknown": 1}, {"to": TO, "message": "   "}, {"to": TO, "message": "a\u0000b"},
])
async def test_an_invalid_send_is_a_validation_error_and_sends_nothing(
        sending: World, anna: Signer, body: dict[str, Any]) -> None:
    response = await anna.post(SEND, body)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert (await recorder(sending)).sent == []


async def test_sending_without_an_access_token_is_not_configured(world: World, alice: Signer) -> None:
    response = await alice.post(SEND, {"to": TO, "message": "hi"})

    assert response.status_code == 503
    assert response.json()["code"] == "WHATSAPP_NOT_CONFIGURED"


async def test_a_send_must_be_signed(sending: World) -> None:
    response = await sending.client.post(SEND, json={"to": TO, "message": "hi"})

    assert response.status_code == 401
    assert (await recorder(sending)).sent == []


@pytest.mark.parametrize(("failure", "status_code", "code"), [
    (OutsideCustomerCareWindow("Outside the window.", meta_code=131047, meta_title="Re-engagement message"),
     422, "OUTSIDE_CUSTOMER_CARE_WINDOW"),
    (UpstreamRateLimited("Slow down.", retry_after_s=42, meta_code=130429, meta_title="Rate limit hit"),
     429, "UPSTREAM_RATE_LIMITED"),
    (UpstreamAuthError("The WhatsApp access token was refused.", meta_code=190), 502, "UPSTREAM_AUTH_ERROR"),
    (UpstreamFailure("WhatsApp did not answer in time."), 502, "UPSTREAM_ERROR"),
])
async def test_upstream_refusals_map_to_their_codes_and_store_nothing(
        sending: World, anna: Signer, failure: UpstreamFailure, status_code: int, code: str) -> None:
    (await recorder(sending)).fail_next.append(failure)

    response = await anna.post(SEND, {"to": TO, "message": "hi"})

    assert response.status_code == status_code, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, code)
    if failure.meta_code is not None:
        assert str(failure.meta_code) in body["details"]
    if status_code == 429:
        assert response.headers["retry-after"] == "42"
    assert (await anna.get("/api/memories")).json()["data"] == []


@pytest.mark.parametrize("sending_settings", [{
    "whatsapp_access_token": Secret("EAAG" + "t" * 40), "whatsapp_phone_number_id": NUMBER,
    "send_rate_limit_max_requests": 3}])
async def test_sends_are_limited_per_key_more_strictly_than_other_routes(sending: World, anna: Signer) -> None:
    answers = [await anna.post(SEND, {"to": TO, "message": f"message {n}"}) for n in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert answers[-1].headers["retry-after"]
    assert len((await recorder(sending)).sent) == 3
    assert (await anna.get("/api/memories")).status_code == 200  # the general limit is not spent


async def test_the_sync_status_counts_what_came_in_and_went_out(sending: World, anna: Signer) -> None:
    await deliver(sending.client, fixture("text.json"))
    await deliver(sending.client, fixture("image.json"))
    first = (await anna.post(SEND, {"to": TO, "message": "one"})).json()["data"]["messageId"]
    await anna.post(SEND, {"to": TO, "message": "two"})
    await deliver(sending.client, status(first, "read"))

    response = await anna.get(SYNC)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["received"], data["sent"]) == (2, 2)
    assert data["deliveries"] == {"sent": 1, "delivered": 0, "read": 1, "failed": 0}
    assert data["media"] == {"pending": 1, "stored": 0, "failed": 0}
    assert data["jobs"] == {"pending": 5, "running": 0, "failed": 0}  # 1 media, 4 index (2 received, 2 sent)
    assert data["lastWebhookAt"] == "2026-11-28T09:53:13.123Z"


async def test_the_sync_status_shows_only_the_callers_own_figures(sending: World, anna: Signer) -> None:
    await deliver(sending.client, text_message("wamid.anna", "for anna"))
    bob = await sending.signer_for("bob")

    data = (await bob.get(SYNC)).json()["data"]

    assert (data["received"], data["sent"], data["lastWebhookAt"]) == (0, 0, None)
    assert data["jobs"] == {"pending": 0, "running": 0, "failed": 0}
