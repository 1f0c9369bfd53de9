"""One WhatsApp storage contract over every backend: each message recorded once, statuses never backwards, figures
counted per owner (API.md section 4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.domain.conversation import FETCH_MEDIA_JOB, ConversationMessage, Direction, MediaState
from memo.domain.jobs import Job, JobState
from memo.domain.owners import Owner
from memo.domain.whatsapp import MAX_ID_CHARS, MessageError, MessageStatus, StatusUpdate

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)
NUMBER = "123456789012345"
WAMID = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNBQzFFMkQ0RjYwQTM1QjZDNwA="
BERLIN = timezone(timedelta(hours=1))


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds(start=100)


@pytest.fixture
async def owners(storage: Storage) -> tuple[UUID, UUID]:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", whatsapp_phone_number_id=NUMBER, now=TEST_NOW))
        await uow.owners.add(Owner.create(id=BOB, name="bob", now=TEST_NOW))
        await uow.commit()
    return ALICE, BOB


def received(ids: SequentialIds, owner_id: UUID, wamid: str = WAMID, *, at: datetime = TEST_NOW,
             media: bool = False) -> ConversationMessage:
    return ConversationMessage(
        id=ids.new_id(), owner_id=owner_id, direction=Direction.RECEIVED, whatsapp_message_id=wamid,
        peer="4915112345678", type="image" if media else "text", memory_id=ids.new_id(),
        sent_at=at - timedelta(seconds=3), recorded_at=at, phone_number_id=NUMBER,
        media_id="1284563907712345" if media else None, mime_type="image/jpeg" if media else None,
        sha256="Lk0tYf2m3n1mQ5kq8G3uQbA4sY0zJb5p8cX2dH9wT1A=" if media else None,
        media_state=MediaState.PENDING if media else None)


def sent(ids: SequentialIds, owner_id: UUID, wamid: str, *, at: datetime = TEST_NOW) -> ConversationMessage:
    return ConversationMessage(
        id=ids.new_id(), owner_id=owner_id, direction=Direction.SENT, whatsapp_message_id=wamid,
        peer="4915112345678", type="text", memory_id=ids.new_id(), sent_at=at, recorded_at=at,
        phone_number_id=NUMBER)


def status(wamid: str, state: MessageStatus, *, at: datetime = TEST_NOW,
           errors: tuple[MessageError, ...] = ()) -> StatusUpdate:
    return StatusUpdate(message_id=wamid, phone_number_id=NUMBER, status=state, timestamp=at,
                        recipient="4915112345678", errors=errors,
                        details={"pricing_category": "service", "conversation_id": "c0ffee"})


def kept(update: StatusUpdate | None) -> tuple[object, ...] | None:
    """What every store keeps of a status (a status of an unknown message has no business number to give)."""
    if update is None:
        return None
    return update.status, update.timestamp, update.recipient, update.errors, dict(update.details)


async def claim(storage: Storage, message: ConversationMessage, *, commit: bool = True) -> bool:
    async with storage.uow() as uow:
        claimed = await uow.whatsapp.claim(message)
        if commit:
            await uow.commit()
    return claimed


async def get(storage: Storage, owner_id: UUID, wamid: str) -> ConversationMessage | None:
    async with storage.uow() as uow:
        return await uow.whatsapp.get(owner_id, wamid)


async def record(storage: Storage, owner_id: UUID, update: StatusUpdate, *, at: datetime = TEST_NOW) -> bool:
    async with storage.uow() as uow:
        advanced = await uow.whatsapp.record_status(owner_id, update, received_at=at)
        await uow.commit()
    return advanced


async def status_of(storage: Storage, owner_id: UUID, wamid: str) -> StatusUpdate | None:
    async with storage.uow() as uow:
        return await uow.whatsapp.status_of(owner_id, wamid)


# --- exactly once -------------------------------------------------------------------------------------------------


async def test_a_message_is_claimed_once_and_a_later_claim_of_its_id_is_refused(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    first = received(ids, owners[0])
    assert await claim(storage, first)

    assert not await claim(storage, received(ids, owners[0]))  # a redelivery: a new record id, the same wamid
    assert not await claim(storage, first)
    assert await get(storage, owners[0], WAMID) == first


async def test_a_second_claim_in_the_same_unit_of_work_is_refused(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    first = received(ids, owners[0])
    async with storage.uow() as uow:
        assert await uow.whatsapp.claim(first)
        assert not await uow.whatsapp.claim(received(ids, owners[0]))
        await uow.commit()

    assert await get(storage, owners[0], WAMID) == first


async def test_the_same_whatsapp_id_under_two_owners_is_two_records(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    alice, bob = owners
    for_alice, for_bob = received(ids, alice), received(ids, bob)

    assert await claim(storage, for_alice)
    assert await claim(storage, for_bob)

    assert await get(storage, alice, WAMID) == for_alice
    assert await get(storage, bob, WAMID) == for_bob


async def test_a_rolled_back_claim_leaves_nothing_and_a_later_claim_records_the_message(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    assert await claim(storage, received(ids, owners[0]), commit=False)
    assert await get(storage, owners[0], WAMID) is None

    again = received(ids, owners[0])
    assert await claim(storage, again)
    assert await get(storage, owners[0], WAMID) == again


async def test_ids_differing_only_in_case_or_normalisation_are_different_messages(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    spellings = ["wamid.abc=", "WAMID.ABC=", "wamid.caf\u00e9", "wamid.cafe\u0301"]  # é precomposed, then decomposed
    for wamid in spellings:
        assert await claim(storage, received(ids, owners[0], wamid))

    for wamid in spellings:
        stored = await get(storage, owners[0], wamid)
        assert stored is not None
        assert stored.whatsapp_message_id == wamid


# --- what a record keeps -------------------------------------------------------------------------------------------


async def test_get_round_trips_every_field_with_timezone_aware_times(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    at = datetime(2026, 12, 24, 18, 30, 5, 123456, tzinfo=BERLIN)
    message = replace(received(ids, owners[0], at=at, media=True), media_ref="media/abc")
    await claim(storage, message)

    stored = await get(storage, owners[0], WAMID)

    assert stored == message
    assert stored is not None
    assert stored.sent_at.utcoffset() is not None
    assert stored.recorded_at.astimezone(UTC) == datetime(2026, 12, 24, 17, 30, 5, 123456, tzinfo=UTC)


async def test_get_of_an_unknown_id_or_another_owner_is_none(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    await claim(storage, received(ids, owners[0]))

    assert await get(storage, owners[0], "wamid.unknown") is None
    assert await get(storage, owners[1], WAMID) is None


async def test_a_sent_message_round_trips_with_no_media(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    message = sent(ids, owners[0], "wamid.out")
    await claim(storage, message)

    assert await get(storage, owners[0], "wamid.out") == message


async def test_save_media_stores_the_state_the_reference_and_the_mime_type(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    message = received(ids, owners[0], media=True)
    await claim(storage, message)
    stored = message.media_stored("owner/sha256-name", "image/webp")

    async with storage.uow() as uow:
        await uow.whatsapp.save_media(stored)
        await uow.commit()

    assert await get(storage, owners[0], WAMID) == stored
    assert (stored.media_state, stored.media_ref, stored.mime_type) == (MediaState.STORED, "owner/sha256-name",
                                                                        "image/webp")


async def test_save_media_of_a_failed_fetch_keeps_the_mime_type_meta_gave(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    message = received(ids, owners[0], media=True)
    await claim(storage, message)

    async with storage.uow() as uow:
        await uow.whatsapp.save_media(message.media_failed())
        await uow.commit()

    stored = await get(storage, owners[0], WAMID)
    assert stored is not None
    assert (stored.media_state, stored.media_ref, stored.mime_type) == (MediaState.FAILED, None, "image/jpeg")


async def test_save_media_rolled_back_leaves_the_media_pending(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    message = received(ids, owners[0], media=True)
    await claim(storage, message)

    async with storage.uow() as uow:
        await uow.whatsapp.save_media(message.media_stored("ref", None))

    assert await get(storage, owners[0], WAMID) == message


# --- delivery statuses ---------------------------------------------------------------------------------------------


async def test_a_status_for_a_message_not_yet_known_is_kept(
        storage: Storage, owners: tuple[UUID, UUID]) -> None:
    early = status("wamid.unknown", MessageStatus.DELIVERED)

    assert await record(storage, owners[0], early)

    assert kept(await status_of(storage, owners[0], "wamid.unknown")) == kept(early)


async def test_a_status_advances_from_sent_to_delivered_to_read(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    await claim(storage, sent(ids, owners[0], "wamid.out"))
    for step, state in enumerate((MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)):
        update = status("wamid.out", state, at=TEST_NOW + timedelta(seconds=step))

        assert await record(storage, owners[0], update)

        found = await status_of(storage, owners[0], "wamid.out")
        assert kept(found) == kept(update)
        assert found is not None
        assert found.phone_number_id == NUMBER  # the message's business number, when the message is known


@pytest.mark.parametrize(("first", "late"), [
    (MessageStatus.READ, MessageStatus.DELIVERED),
    (MessageStatus.READ, MessageStatus.SENT),
    (MessageStatus.DELIVERED, MessageStatus.SENT),
    (MessageStatus.FAILED, MessageStatus.READ),
    (MessageStatus.FAILED, MessageStatus.DELIVERED),
])
async def test_a_status_never_moves_backwards(
        storage: Storage, owners: tuple[UUID, UUID], first: MessageStatus, late: MessageStatus) -> None:
    ahead = status("wamid.out", first)
    assert await record(storage, owners[0], ahead)

    assert not await record(storage, owners[0], status("wamid.out", late, at=TEST_NOW + timedelta(seconds=9)),
                            at=TEST_NOW + timedelta(seconds=9))

    assert kept(await status_of(storage, owners[0], "wamid.out")) == kept(ahead)


async def test_a_failed_status_keeps_its_errors(storage: Storage, owners: tuple[UUID, UUID]) -> None:
    errors = (MessageError(code=131047, title="Re-engagement message", details="More than 24 hours have passed"),
              MessageError(code=131026, title="Message undeliverable"))
    failed = status("wamid.out", MessageStatus.FAILED, errors=errors)
    assert await record(storage, owners[0], status("wamid.out", MessageStatus.SENT))

    assert await record(storage, owners[0], failed)
    assert not await record(storage, owners[0], status("wamid.out", MessageStatus.READ))

    found = await status_of(storage, owners[0], "wamid.out")
    assert found is not None
    assert found.status is MessageStatus.FAILED
    assert found.errors == errors


async def test_an_equal_status_redelivered_is_refused_and_the_first_is_kept(
        storage: Storage, owners: tuple[UUID, UUID]) -> None:
    first = status("wamid.out", MessageStatus.DELIVERED)
    assert await record(storage, owners[0], first)

    assert not await record(storage, owners[0], status("wamid.out", MessageStatus.DELIVERED,
                                                       at=TEST_NOW + timedelta(minutes=1)))

    assert kept(await status_of(storage, owners[0], "wamid.out")) == kept(first)


async def test_a_rolled_back_status_is_not_kept(storage: Storage, owners: tuple[UUID, UUID]) -> None:
    async with storage.uow() as uow:
        assert await uow.whatsapp.record_status(owners[0], status("wamid.out", MessageStatus.READ),
                                                received_at=TEST_NOW)

    assert await status_of(storage, owners[0], "wamid.out") is None
    assert await record(storage, owners[0], status("wamid.out", MessageStatus.SENT))


async def test_the_status_of_another_owners_message_is_none(storage: Storage, owners: tuple[UUID, UUID]) -> None:
    alice, bob = owners
    await record(storage, alice, status("wamid.out", MessageStatus.READ))

    assert await status_of(storage, bob, "wamid.out") is None
    assert await record(storage, bob, status("wamid.out", MessageStatus.SENT))  # Bob's own ladder starts afresh
    assert kept(await status_of(storage, alice, "wamid.out")) == kept(status("wamid.out", MessageStatus.READ))


# --- sync status ---------------------------------------------------------------------------------------------------


async def test_the_sync_status_of_an_owner_with_nothing_is_all_zero(
        storage: Storage, owners: tuple[UUID, UUID]) -> None:
    figures = await storage.sync_status_reader().sync_status(owners[0])

    assert figures.last_webhook_at is None
    assert (figures.received, figures.sent) == (0, 0)
    assert dict(figures.deliveries) == {"sent": 0, "delivered": 0, "read": 0, "failed": 0}
    assert dict(figures.media) == {"pending": 0, "stored": 0, "failed": 0}
    assert dict(figures.jobs) == {"pending": 0, "running": 0, "failed": 0}


async def _alice_world(storage: Storage, ids: SequentialIds, owner_id: UUID) -> None:
    """3 received (2 with media, one stored), 4 sent (one without a status), statuses, and jobs in every state."""
    messages = [
        received(ids, owner_id, "wamid.in.1", at=TEST_NOW),
        received(ids, owner_id, "wamid.in.2", at=TEST_NOW + timedelta(seconds=1), media=True),
        received(ids, owner_id, "wamid.in.3", at=TEST_NOW + timedelta(seconds=2), media=True).media_stored(
            "ref", None),
        sent(ids, owner_id, "wamid.out.1"),
        sent(ids, owner_id, "wamid.out.2"),
        sent(ids, owner_id, "wamid.out.3"),
        sent(ids, owner_id, "wamid.out.4", at=TEST_NOW + timedelta(hours=5)),  # sent, not a webhook: not counted
    ]
    queue = storage.job_queue()
    running = Job.new(id=ids.new_id(), kind=FETCH_MEDIA_JOB, owner_id=owner_id, now=TEST_NOW - timedelta(hours=1))
    jobs = [Job.new(id=ids.new_id(), kind=FETCH_MEDIA_JOB, owner_id=owner_id, now=TEST_NOW + timedelta(days=1))
            for _ in range(2)]
    failed = replace(jobs[0], id=ids.new_id(), state=JobState.FAILED)
    done = replace(jobs[0], id=ids.new_id(), state=JobState.DONE)
    async with storage.uow() as uow:
        for message in messages:
            assert await uow.whatsapp.claim(message)
        for job in (running, *jobs, failed, done):
            await uow.outbox.enqueue(job)
        await uow.commit()
    assert [job.id for job in await queue.claim("w1", limit=1, lease_s=30, now=TEST_NOW)] == [running.id]
    await record(storage, owner_id, status("wamid.out.1", MessageStatus.DELIVERED),
                 at=TEST_NOW + timedelta(seconds=5))
    await record(storage, owner_id, status("wamid.out.2", MessageStatus.FAILED),
                 at=TEST_NOW + timedelta(seconds=4))
    await record(storage, owner_id, status("wamid.out.3", MessageStatus.READ), at=TEST_NOW + timedelta(seconds=3))
    # a status for a received message, or for one not known, is no delivery of a sent message
    await record(storage, owner_id, status("wamid.in.1", MessageStatus.READ), at=TEST_NOW + timedelta(seconds=1))


async def test_the_sync_status_counts_messages_deliveries_media_and_jobs(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    await _alice_world(storage, ids, owners[0])

    figures = await storage.sync_status_reader().sync_status(owners[0])

    assert (figures.received, figures.sent) == (3, 4)
    assert dict(figures.deliveries) == {"sent": 1, "delivered": 1, "read": 1, "failed": 1}
    assert dict(figures.media) == {"pending": 1, "stored": 1, "failed": 0}
    assert dict(figures.jobs) == {"pending": 2, "running": 1, "failed": 1}
    assert figures.last_webhook_at == TEST_NOW + timedelta(seconds=5)  # the latest status, received after messages


async def test_the_last_webhook_is_the_latest_received_message_when_no_status_is_later(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    await record(storage, owners[0], status("wamid.out", MessageStatus.SENT), at=TEST_NOW)
    await claim(storage, received(ids, owners[0], at=TEST_NOW + timedelta(minutes=2)))
    await claim(storage, received(ids, owners[0], "wamid.older", at=TEST_NOW + timedelta(minutes=1)))

    figures = await storage.sync_status_reader().sync_status(owners[0])

    assert figures.last_webhook_at == TEST_NOW + timedelta(minutes=2)
    assert figures.last_webhook_at is not None
    assert figures.last_webhook_at.utcoffset() is not None


async def test_the_last_webhook_is_the_latest_status_when_only_statuses_came(
        storage: Storage, owners: tuple[UUID, UUID]) -> None:
    await record(storage, owners[0], status("wamid.a", MessageStatus.SENT), at=TEST_NOW + timedelta(seconds=7))
    await record(storage, owners[0], status("wamid.b", MessageStatus.SENT), at=TEST_NOW)

    figures = await storage.sync_status_reader().sync_status(owners[0])

    assert figures.last_webhook_at == TEST_NOW + timedelta(seconds=7)
    assert dict(figures.deliveries) == {"sent": 0, "delivered": 0, "read": 0, "failed": 0}  # no sent message known


async def test_the_sync_status_never_counts_another_owners_data(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    alice, bob = owners
    await _alice_world(storage, ids, alice)
    async with storage.uow() as uow:  # a job of no owner is nobody's figure
        await uow.outbox.enqueue(Job.new(id=ids.new_id(), kind="index", now=TEST_NOW))
        await uow.commit()

    figures = await storage.sync_status_reader().sync_status(bob)

    assert figures.last_webhook_at is None
    assert (figures.received, figures.sent) == (0, 0)
    assert set(figures.deliveries.values()) == set(figures.media.values()) == set(figures.jobs.values()) == {0}

    await claim(storage, received(ids, bob, "wamid.in.1", at=TEST_NOW - timedelta(days=1), media=True))
    await claim(storage, sent(ids, bob, "wamid.out.1"))  # same wamid as Alice's delivered one: Bob's has no status
    figures = await storage.sync_status_reader().sync_status(bob)
    assert (figures.received, figures.sent) == (1, 1)
    assert dict(figures.deliveries) == {"sent": 1, "delivered": 0, "read": 0, "failed": 0}
    assert dict(figures.media) == {"pending": 1, "stored": 0, "failed": 0}
    assert figures.last_webhook_at == TEST_NOW - timedelta(days=1)


# --- ids as Meta spells them ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("wamid", [
    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBNkE5RjQ3MkI5QkJEMjdCMEEA.x=",
    "wamid." + "HBgNNDkxNTExMjM0NTY3OBUCABIYFjNBQzFFMkQ0RjYwQTM1QjZDNwA=" * 4,
    "\U0001f600\U0001f44d\U0001f3fd\U0001f1e9\U0001f1ea \u00e4\u00f6\u00fc \u4e2d\u6587 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "\U0001f525" * MAX_ID_CHARS,
    "a.b=c.d==",
], ids=["wamid", "long-wamid", "emoji-and-scripts", "max-emoji", "dots-and-equals"])
async def test_unusual_ids_round_trip_as_messages_and_statuses(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID], wamid: str) -> None:
    message = received(ids, owners[0], wamid)
    assert await claim(storage, message)
    assert not await claim(storage, received(ids, owners[0], wamid))
    assert await record(storage, owners[0], status(wamid, MessageStatus.DELIVERED))

    assert await get(storage, owners[0], wamid) == message
    found = await status_of(storage, owners[0], wamid)
    assert found is not None
    assert found.message_id == wamid
    assert await get(storage, owners[0], wamid[:-1]) is None


# --- the records of memories (export) -------------------------------------------------------------------------------


async def test_of_memories_gives_each_memorys_record_with_its_kept_status(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    alice = owners[0]
    at = datetime(2026, 11, 28, 9, 53, 13, 123456, tzinfo=UTC)
    photo = replace(received(ids, alice, "wamid.photo", at=at, media=True), media_state=MediaState.STORED,
                    media_ref="media/alice/photo.jpg")
    read = sent(ids, alice, "wamid.read", at=at + timedelta(microseconds=1))
    failed = sent(ids, alice, "wamid.failed", at=at)
    quiet = sent(ids, alice, "wamid.quiet", at=at)
    for message in (photo, read, failed, quiet):
        assert await claim(storage, message)
    await record(storage, alice, status("wamid.read", MessageStatus.DELIVERED, at=at))
    await record(storage, alice, status("wamid.read", MessageStatus.READ, at=at + timedelta(seconds=9)))
    failure = status("wamid.failed", MessageStatus.FAILED, at=at, errors=(
        MessageError(code=131047, title="Re-engagement message", details="More than 24 hours"),
        MessageError(code=131000, title="Something went wrong", details=None)))
    await record(storage, alice, failure)
    no_record = ids.new_id()

    async with storage.uow() as uow:
        found = await uow.whatsapp.of_memories(
            alice, [photo.memory_id, read.memory_id, failed.memory_id, quiet.memory_id, no_record])
        none = await uow.whatsapp.of_memories(alice, [])

    assert set(found) == {photo.memory_id, read.memory_id, failed.memory_id, quiet.memory_id}
    assert found[photo.memory_id] == (photo, None)
    assert found[quiet.memory_id] == (quiet, None)
    assert found[read.memory_id][0] == read
    assert kept(found[read.memory_id][1]) == kept(status("wamid.read", MessageStatus.READ,
                                                         at=at + timedelta(seconds=9)))
    assert found[failed.memory_id][0] == failed
    assert kept(found[failed.memory_id][1]) == kept(failure)
    assert found[failed.memory_id][1] is not None
    assert found[failed.memory_id][1].phone_number_id == NUMBER
    assert found[failed.memory_id][1].message_id == "wamid.failed"
    assert dict(none) == {}


async def test_of_memories_never_gives_another_owners_record_or_status(
        storage: Storage, ids: SequentialIds, owners: tuple[UUID, UUID]) -> None:
    alice, bob = owners
    alices = sent(ids, alice, "wamid.same")
    bobs = replace(sent(ids, bob, "wamid.same"), memory_id=alices.memory_id)  # even naming Alice's memory id
    bob_only = sent(ids, bob, "wamid.bob")
    for message in (alices, bobs, bob_only):
        assert await claim(storage, message)
    await record(storage, bob, status("wamid.same", MessageStatus.READ))

    async with storage.uow() as uow:
        for_alice = await uow.whatsapp.of_memories(alice, [alices.memory_id, bob_only.memory_id])
        for_bob = await uow.whatsapp.of_memories(bob, [alices.memory_id, bob_only.memory_id])

    assert dict(for_alice) == {alices.memory_id: (alices, None)}
    assert set(for_bob) == {alices.memory_id, bob_only.memory_id}
    assert for_bob[alices.memory_id][0] == bobs
    assert kept(for_bob[alices.memory_id][1]) == kept(status("wamid.same", MessageStatus.READ))
    assert for_bob[bob_only.memory_id] == (bob_only, None)
