"""POST /api/whatsapp/webhook: Meta's signed notifications, stored exactly once (API.md section 4)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar.testing import AsyncTestClient

from memo.application.manage_keys import CreateOwner
from memo.application.ports import JobQueue, UnitOfWork
from memo.domain.conversation import FETCH_MEDIA_JOB
from memo.domain.retrieval import INDEX_MEMORY_JOB
from memo.domain.whatsapp import MessageStatus
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, Signer, World, settings_for_tests

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp"  # copies of the shared samples
PATH = "/api/whatsapp/webhook"
APP_SECRET = "w" * 40
NUMBER = "123456789012345"  # the fixtures' receiving phone_number_id


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(client: AsyncTestClient[Any], body: bytes | dict[str, Any], *, secret: str = APP_SECRET,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "X-Hub-Signature-256": signature(raw, secret), **(headers or {})}
    return await client.post(PATH, content=raw, headers=sent)


def text_message(message_id: str, text: str, *, number: str = NUMBER) -> dict[str, Any]:
    notification = fixture("text.json")
    value = notification["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = number
    value["messages"][0].update(id=message_id, text={"body": text})
    return notification


def status(message_id: str, state: str, timestamp: str = "1767601003", **extra: Any) -> dict[str, Any]:
    notification = fixture("status_delivered.json")
    notification["entry"][0]["changes"][0]["value"]["statuses"][0].update(
        id=message_id, status=state, timestamp=timestamp, **extra)
    return notification


@pytest.fixture
async def anna(world: World) -> Signer:
    """The owner of the fixtures' business number, and a key to read her memories with."""
    async with world.app.state.dishka_container() as scope:
        await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
    return await world.signer_for("anna")


async def memories(signer: Signer) -> list[dict[str, Any]]:
    response = await signer.get("/api/memories", params={"limit": "100"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def stored_status(world: World, signer: Signer, message_id: str) -> MessageStatus | None:
    owner_id = await _owner_id(world, signer)
    async with world.app.state.dishka_container() as scope:
        uow = await scope.get(UnitOfWork)
        async with uow:
            kept = await uow.whatsapp.status_of(owner_id, message_id)
    return None if kept is None else kept.status


async def _owner_id(world: World, signer: Signer) -> UUID:
    async with world.app.state.dishka_container() as scope:
        uow = await scope.get(UnitOfWork)
        async with uow:
            key = await uow.api_keys.get(signer.key_id)
    assert key is not None
    return key.owner_id


async def test_a_text_message_becomes_one_whatsapp_received_memory(world: World, anna: Signer) -> None:
    response = await deliver(world.client, fixture("text.json"))

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "processed": 1}
    [memory] = await memories(anna)
    assert memory["content"] == "Hi, can you remind me about the dentist at 3pm?"
    assert (memory["type"], memory["source"]) == ("whatsapp_received", "whatsapp")
    assert memory["metadata"]["whatsappMessageId"].startswith("wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNBQzFF")
    assert memory["metadata"]["sender"] == "4915112345678"
    assert memory["metadata"]["contactName"] == "Anna Schmidt"
    assert memory["metadata"]["messageType"] == "text"


async def test_a_redelivered_notification_stores_nothing_twice(world: World, anna: Signer) -> None:
    first = await deliver(world.client, fixture("text.json"))
    again = [await deliver(world.client, fixture("text.json")) for _ in range(3)]

    assert first.json()["processed"] == 1
    assert [response.json() for response in again] == [{"success": True, "processed": 0}] * 3
    assert len(await memories(anna)) == 1


async def test_a_message_twice_in_one_notification_is_stored_once(world: World, anna: Signer) -> None:
    notification = fixture("text.json")
    value = notification["entry"][0]["changes"][0]["value"]
    value["messages"].append(copy.deepcopy(value["messages"][0]))

    response = await deliver(world.client, notification)

    assert response.json()["processed"] == 1
    assert len(await memories(anna)) == 1


async def test_a_deleted_memory_is_not_brought_back_by_a_redelivery(world: World, anna: Signer) -> None:
    await deliver(world.client, fixture("text.json"))
    [memory] = await memories(anna)
    assert (await anna.delete(f"/api/memories/{memory['id']}")).status_code == 200

    response = await deliver(world.client, fixture("text.json"))

    assert response.json()["processed"] == 0
    assert await memories(anna) == []


async def test_the_signature_is_checked_over_the_raw_bytes_with_escapes(world: World, anna: Signer) -> None:
    raw = json.dumps(text_message("wamid.escaped", "Gr\u00fc\u00dfe \u00e4 / done")).encode()
    assert b"\\u00e4" in raw
    raw = raw.replace(b" / ", b" \\/ ")

    response = await deliver(world.client, raw)

    assert response.status_code == 200, response.text
    [memory] = await memories(anna)
    assert memory["content"] == "Grüße ä / done"


@pytest.mark.parametrize(("headers", "code"), [
    ({"X-Hub-Signature-256": ""}, "MISSING_WHATSAPP_SIGNATURE"),
    ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "INVALID_WHATSAPP_SIGNATURE"),
    ({"X-Hub-Signature-256": "sha1=abc"}, "INVALID_WHATSAPP_SIGNATURE"),
])
async def test_an_unsigned_or_badly_signed_notification_is_refused_and_stores_nothing(
        world: World, anna: Signer, headers: dict[str, str], code: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="memo.audit")

    response = await deliver(world.client, fixture("text.json"), headers=headers)

    assert response.status_code == 401, response.text
    assert (response.json()["success"], response.json()["code"]) == (False, code)
    assert "www-authenticate" not in response.headers  # Meta signs its own way; Memo's scheme is not asked for
    assert await memories(anna) == []
    assert [record.__dict__["reason"] for record in caplog.records if record.name == "memo.audit"] == [code]


async def test_a_body_signed_with_another_secret_is_refused(world: World, anna: Signer) -> None:
    response = await deliver(world.client, fixture("text.json"), secret="x" * 40)

    assert response.json()["code"] == "INVALID_WHATSAPP_SIGNATURE"
    assert await memories(anna) == []


async def test_every_listed_app_secret_verifies_while_one_is_rotated(clock: Any) -> None:
    new, old = "n" * 20 + "ew-secret-0123456789", "o" * 20 + "ld-secret-0123456789"
    settings = settings_for_tests(whatsapp_app_secret=Secret(f"{new}, {old}"))
    app = create_app(settings, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        async with app.state.dishka_container() as scope:
            await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
        by_new = await deliver(client, text_message("wamid.new", "signed with the new secret"), secret=new)
        by_old = await deliver(client, text_message("wamid.old", "signed with the old secret"), secret=old)
        by_other = await deliver(client, text_message("wamid.x", "signed with neither"), secret=APP_SECRET)

    assert [by_new.json()["processed"], by_old.json()["processed"]] == [1, 1]
    assert by_other.json()["code"] == "INVALID_WHATSAPP_SIGNATURE"


async def test_a_signed_body_that_is_not_json_is_invalid_json(world: World, anna: Signer) -> None:
    response = await deliver(world.client, b"{not json")

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_JSON"


async def test_a_signed_notification_of_another_object_is_refused(world: World, anna: Signer) -> None:
    notification = fixture("text.json") | {"object": "instagram"}

    response = await deliver(world.client, notification)

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_WEBHOOK_OBJECT"
    assert await memories(anna) == []


async def test_a_body_over_the_limit_is_refused_before_any_signature_work(
        clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="memo.audit")
    app = create_app(settings_for_tests(max_body_bytes=2048), FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        response = await client.post(PATH, content=b"x" * 4096,
                                     headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert not [record for record in caplog.records if record.name == "memo.audit"]  # no signature was checked


async def test_a_number_no_owner_claims_is_acknowledged_audited_and_not_stored(
        world: World, anna: Signer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="memo.audit")

    response = await deliver(world.client, text_message("wamid.stray", "to nobody", number="999999999"))

    assert response.json() == {"success": True, "processed": 0}
    assert await memories(anna) == []
    reasons = [record.__dict__["reason"] for record in caplog.records if record.name == "memo.audit"]
    assert reasons == ["UNKNOWN_PHONE_NUMBER_ID 999999999"]


async def test_a_malformed_message_is_skipped_and_audited_while_its_siblings_are_kept(
        world: World, anna: Signer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="memo.audit")
    notification = text_message("wamid.good", "the good sibling")
    messages = notification["entry"][0]["changes"][0]["value"]["messages"]
    messages.append({"from": "4915112345678", "id": "wamid.bad", "timestamp": "not a time", "type": "text"})

    response = await deliver(world.client, notification)

    assert response.json()["processed"] == 1
    assert [memory["content"] for memory in await memories(anna)] == ["the good sibling"]
    reasons = [record.__dict__["reason"] for record in caplog.records if record.name == "memo.audit"]
    assert len(reasons) == 1
    assert reasons[0].startswith("WEBHOOK_ITEM_SKIPPED at entry[0].changes[0].value.messages[1]")


async def test_text_no_store_can_keep_is_made_storable_not_lost(world: World, anna: Signer) -> None:
    raw = json.dumps(text_message("wamid.nul", "before\u0000after")).encode()
    assert b"\\u0000" in raw

    response = await deliver(world.client, raw)

    assert response.json()["processed"] == 1
    [memory] = await memories(anna)
    assert memory["content"] == "before\ufffdafter"


async def test_a_media_message_commits_a_job_to_fetch_its_media(world: World, anna: Signer) -> None:
    response = await deliver(world.client, fixture("image.json"))

    assert response.json()["processed"] == 1
    [memory] = await memories(anna)
    assert memory["content"] == "Receipt from today"
    assert memory["metadata"]["mediaId"]
    queue = await world.app.state.dishka_container.get(JobQueue)
    jobs = {job.kind: dict(job.payload) for job in await queue.by_state()}
    assert jobs == {FETCH_MEDIA_JOB: {"messageId": memory["metadata"]["whatsappMessageId"]},
                    INDEX_MEMORY_JOB: {"memoryIds": [memory["id"]]}}


async def test_a_redelivered_media_message_commits_no_second_job(world: World, anna: Signer) -> None:
    await deliver(world.client, fixture("image.json"))
    await deliver(world.client, fixture("image.json"))

    queue = await world.app.state.dishka_container.get(JobQueue)
    assert sorted(job.kind for job in await queue.by_state()) == [INDEX_MEMORY_JOB, FETCH_MEDIA_JOB]


async def test_a_status_for_a_message_not_yet_known_is_kept(world: World, anna: Signer) -> None:
    response = await deliver(world.client, status("wamid.later", "delivered"))

    assert response.json() == {"success": True, "processed": 0}
    assert await stored_status(world, anna, "wamid.later") is MessageStatus.DELIVERED


async def test_statuses_out_of_order_never_move_a_message_backwards(world: World, anna: Signer) -> None:
    for state in ("read", "delivered", "sent"):
        assert (await deliver(world.client, status("wamid.out", state))).status_code == 200

    assert await stored_status(world, anna, "wamid.out") is MessageStatus.READ


async def test_a_failed_status_keeps_metas_error(world: World, anna: Signer) -> None:
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    await deliver(world.client, status("wamid.lost", "failed", errors=errors))
    await deliver(world.client, status("wamid.lost", "delivered"))

    owner_id = await _owner_id(world, anna)
    async with world.app.state.dishka_container() as scope:
        uow = await scope.get(UnitOfWork)
        async with uow:
            kept = await uow.whatsapp.status_of(owner_id, "wamid.lost")
    assert kept is not None
    assert kept.status is MessageStatus.FAILED
    assert [(error.code, error.title) for error in kept.errors] == [(131026, "Message undeliverable")]


async def test_failed_signatures_are_limited_per_address_while_signed_posts_never_are(clock: Any) -> None:
    app = create_app(settings_for_tests(rate_limit_ip_max_requests=3), FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        async with app.state.dishka_container() as scope:
            await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER)
        refused = [await deliver(client, fixture("text.json"), secret="x" * 40) for _ in range(4)]
        signed = [await deliver(client, text_message(f"wamid.{n}", f"message {n}")) for n in range(5)]

    assert [response.status_code for response in refused] == [401, 401, 401, 429]
    assert refused[-1].headers["retry-after"]
    assert [response.status_code for response in signed] == [200] * 5
