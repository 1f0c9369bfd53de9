"""WhatsApp and the brain: questions from the owner's own number answered on WhatsApp, voice notes as text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from memo.adapters.messaging.memory import InMemoryMediaDownloader, InMemoryMessageSender
from memo.adapters.speech.memory import InMemoryTranscriber
from memo.adapters.system import FixedClock
from memo.application.manage_keys import CreateOwner
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import FixedClockProvider, Signer, World, settings_for_tests
from tests.e2e.test_search_api import remember, run_jobs, search
from tests.e2e.test_whatsapp_webhook_api import NUMBER, deliver, fixture, text_message

OWN_NUMBER = "4915112345678"  # the fixtures' sender
STRANGER = "4917000000000"


@pytest.fixture
async def world(clock: FixedClock) -> AsyncIterator[World]:
    settings = settings_for_tests(whatsapp_access_token=Secret("EAAG" + "t" * 40), whatsapp_phone_number_id=NUMBER)
    app = create_app(settings, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock)


@pytest.fixture
async def anna(world: World) -> Signer:
    async with world.app.state.dishka_container() as scope:
        await (await scope.get(CreateOwner))("anna", whatsapp_phone_number_id=NUMBER, whatsapp_number=OWN_NUMBER)
    return await world.signer_for("anna")


async def part(world: World, kind: type[Any]) -> Any:
    return await world.app.state.dishka_container.get(kind)


def from_sender(notification: dict[str, Any], sender: str) -> dict[str, Any]:
    value = notification["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = sender
    value["messages"][0]["from"] = sender
    return notification


async def test_a_question_from_the_owners_own_number_is_answered_on_whatsapp(world: World, anna: Signer) -> None:
    await remember(anna, "The wifi password at the cottage is sunflower42")
    await deliver(world.client, text_message("wamid.question", "? what is the wifi password at the cottage"))

    await run_jobs(world)

    sender: InMemoryMessageSender = await part(world, InMemoryMessageSender)
    [reply] = sender.sent
    assert (reply.to, reply.reply_to) == (OWN_NUMBER, "wamid.question")
    assert "sunflower42" in reply.text
    assert "28 Nov 2026" in reply.text  # the date of the memory it cites
    sent = [hit for hit in (await search(anna, "sunflower42", mode="keyword"))["data"]
            if hit["memory"]["type"] == "whatsapp_sent"]
    assert len(sent) == 1  # the reply is recorded like any send


async def test_a_question_from_anyone_else_is_stored_and_never_answered(world: World, anna: Signer) -> None:
    await remember(anna, "The wifi password at the cottage is sunflower42")
    notification = from_sender(text_message("wamid.stranger", "? what is the wifi password"), STRANGER)
    assert (await deliver(world.client, notification)).json()["processed"] == 1

    await run_jobs(world)

    assert (await part(world, InMemoryMessageSender)).sent == []


async def test_a_message_without_the_prefix_is_only_stored(world: World, anna: Signer) -> None:
    await deliver(world.client, text_message("wamid.plain", "what is the wifi password"))

    await run_jobs(world)

    assert (await part(world, InMemoryMessageSender)).sent == []


async def test_a_question_nothing_answers_gets_an_honest_reply_without_sources(world: World, anna: Signer) -> None:
    await deliver(world.client, text_message("wamid.q2", "? what is the capital of Mongolia"))

    await run_jobs(world)

    [reply] = (await part(world, InMemoryMessageSender)).sent
    assert "know" in reply.text.lower()
    assert "2026" not in reply.text


async def test_a_voice_note_becomes_searchable_text_and_keeps_its_placeholder(world: World, anna: Signer) -> None:
    notification = fixture("image.json")
    message = notification["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("image")
    message.update(id="wamid.voice", type="audio",
                   audio={"id": "media-voice", "mime_type": "audio/ogg; codecs=opus", "voice": True})
    downloader: InMemoryMediaDownloader = await part(world, InMemoryMediaDownloader)
    downloader.media["media-voice"] = (b"OggS fake opus", "audio/ogg; codecs=opus")
    transcriber: InMemoryTranscriber = await part(world, InMemoryTranscriber)
    transcriber.script(b"OggS fake opus", "Remember to call the plumber about the boiler tomorrow")

    await deliver(world.client, notification)
    await run_jobs(world)

    [hit] = (await search(anna, "plumber boiler", mode="semantic", limit=1))["data"]
    memory = hit["memory"]
    assert memory["content"] == "Remember to call the plumber about the boiler tomorrow"
    assert memory["metadata"]["caption"] == "[voice note]"
    assert memory["metadata"]["transcribed"] is True
    assert memory["metadata"]["mediaId"] == "media-voice"
