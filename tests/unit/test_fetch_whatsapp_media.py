"""The media job: fetched afresh by media id, kept in the media store, its state on the message record."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

import pytest

from memo.adapters.media.memory import InMemoryMediaStore
from memo.adapters.messaging.memory import InMemoryMediaDownloader
from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.errors import MediaUnavailable, UpstreamFailure, WhatsAppNotConfigured
from memo.application.fetch_whatsapp_media import FetchWhatsAppMedia, MediaLimits
from memo.application.transcribe_voice_note import TRANSCRIBE_VOICE_JOB
from memo.application.whatsapp_access import WhatsAppAccess
from memo.domain.conversation import FETCH_MEDIA_JOB, ConversationMessage, MediaState
from memo.domain.jobs import Job
from memo.domain.owners import Owner
from memo.domain.whatsapp import InboundMessage, MediaBody

OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
MAX_ATTEMPTS = 3


@pytest.fixture
def store() -> InMemoryStore:
    data = InMemoryStore()
    data.owners[OWNER] = Owner.create(id=OWNER, name="anna", whatsapp_phone_number_id="123456789", now=TEST_NOW)
    return data


@pytest.fixture
def downloader() -> InMemoryMediaDownloader:
    return InMemoryMediaDownloader()


@pytest.fixture
def media() -> InMemoryMediaStore:
    return InMemoryMediaStore()


def fetcher(store: InMemoryStore, downloader: InMemoryMediaDownloader | None, media: InMemoryMediaStore,
            *, max_bytes: int = 1024) -> FetchWhatsAppMedia:
    return FetchWhatsAppMedia(whatsapp=WhatsAppAccess(media=downloader), store=media, uow=InMemoryUnitOfWork(store),
                              limits=MediaLimits(max_bytes=max_bytes, max_attempts=MAX_ATTEMPTS), clock=FixedClock(),
                              ids=SequentialIds(start=700))


def received(store: InMemoryStore, *, media_id: str = "media-1") -> ConversationMessage:
    ids = SequentialIds(start=500)
    inbound = InboundMessage(message_id="wamid.voice", phone_number_id="123456789", wa_id="4915112345678",
                             user_id=None, contact_name=None, type="audio", timestamp=TEST_NOW,
                             body=MediaBody(kind="audio", media_id=media_id, mime_type="audio/ogg", voice=True))
    record = ConversationMessage.received(inbound, id=ids.new_id(), owner_id=OWNER, memory_id=ids.new_id(),
                                          now=TEST_NOW)
    store.whatsapp_messages[(OWNER, record.whatsapp_message_id)] = record
    return record


def job(*, attempts: int = 1, at: datetime = TEST_NOW) -> Job:
    new = Job.new(id=UUID(int=1), kind=FETCH_MEDIA_JOB, owner_id=OWNER, now=at, payload={"messageId": "wamid.voice"})
    return replace(new.claimed("worker", at, lease_s=60), attempts=attempts)


def state(store: InMemoryStore) -> ConversationMessage:
    return store.whatsapp_messages[(OWNER, "wamid.voice")]


async def test_fetched_media_is_kept_and_the_message_says_where(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store)
    downloader.media["media-1"] = (b"OggS voice bytes", "audio/ogg; codecs=opus")

    await fetcher(store, downloader, media)(job())

    kept = state(store)
    assert kept.media_state is MediaState.STORED
    assert kept.mime_type == "audio/ogg; codecs=opus"
    assert [job.kind for job in store.jobs.values()] == [TRANSCRIBE_VOICE_JOB]  # audio: its words come next
    assert kept.media_ref is not None
    assert await media.get(kept.media_ref) == b"OggS voice bytes"


async def test_media_meta_no_longer_has_is_marked_failed_without_a_retry(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store, media_id="gone")

    await fetcher(store, downloader, media)(job())  # returns: nothing for the worker to retry

    assert state(store).media_state is MediaState.FAILED
    assert media.puts == []


async def test_media_larger_than_the_limit_is_marked_failed(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store)
    downloader.media["media-1"] = (b"x" * 2048, "video/mp4")

    await fetcher(store, downloader, media, max_bytes=1024)(job())

    assert state(store).media_state is MediaState.FAILED


async def test_a_passing_outage_is_raised_for_a_retry_that_fetches_from_the_media_id_again(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store)
    downloader.media["media-1"] = (b"bytes", "image/jpeg")
    downloader.fail_next.append(UpstreamFailure("WhatsApp did not answer in time."))

    with pytest.raises(UpstreamFailure):
        await fetcher(store, downloader, media)(job())
    assert state(store).media_state is MediaState.PENDING
    await fetcher(store, downloader, media)(job(attempts=2))

    assert downloader.downloads == ["media-1", "media-1"]
    assert state(store).media_state is MediaState.STORED


async def test_the_last_attempt_marks_the_media_failed_and_still_fails_the_job(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store)
    downloader.fail_next.append(UpstreamFailure("WhatsApp did not answer in time."))

    with pytest.raises(UpstreamFailure):
        await fetcher(store, downloader, media)(job(attempts=MAX_ATTEMPTS))

    assert state(store).media_state is MediaState.FAILED


async def test_media_already_stored_is_not_fetched_again(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    received(store)
    downloader.media["media-1"] = (b"bytes", "image/jpeg")
    await fetcher(store, downloader, media)(job())

    await fetcher(store, downloader, media)(job())

    assert downloader.downloads == ["media-1"]


async def test_without_an_access_token_the_job_fails_for_an_operator_to_retry(
        store: InMemoryStore, media: InMemoryMediaStore) -> None:
    received(store)

    with pytest.raises(WhatsAppNotConfigured):
        await fetcher(store, None, media)(job())

    assert state(store).media_state is MediaState.PENDING


async def test_a_job_for_a_message_that_is_gone_does_nothing(
        store: InMemoryStore, downloader: InMemoryMediaDownloader, media: InMemoryMediaStore) -> None:
    await fetcher(store, downloader, media)(job())

    assert downloader.downloads == []


def test_media_unavailable_is_not_an_upstream_failure() -> None:
    # the job tells "gone for good" from "try again" by this type alone
    assert not issubclass(MediaUnavailable, UpstreamFailure)
