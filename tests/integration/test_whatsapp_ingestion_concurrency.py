"""The real webhook ingestion raced against itself: Meta delivers at least once and in any order, Memo stores once.

Each delivery is `ReceiveWhatsAppNotification` with real adapters (Meta's signature check and parser) on a unit of
work of its own, as the webhook runs it per request. On PostgreSQL the deliveries really interleave, on as many
connections as there are racers: claims of one message id wait for each other, statuses upsert by rank, and
messages are written in id order so two notifications cannot deadlock. The in-memory store never awaits inside a
unit of work and SQLite runs its statements inline on the event loop (`sqlite_inline.py`), so on those the
racers run one after the other; the outcome they must reach is the same, so they run the same tests.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.limits.memory import InProcessRateLimiter
from memo.adapters.messaging.whatsapp_webhook import MetaNotificationParser
from memo.adapters.signing.whatsapp import SIGNATURE_HEADER, MetaWebhookVerifier
from memo.adapters.storage.sqlalchemy import create_engine
from memo.adapters.system import SystemClock, UuidV7Ids
from memo.application.authenticate_request import RateLimits
from memo.application.dto import MemoryQuery
from memo.application.errors import StorageUnavailable
from memo.application.ports import UnitOfWork
from memo.application.receive_whatsapp_notification import ReceiveWhatsAppNotification
from memo.domain.conversation import FETCH_MEDIA_JOB, ConversationMessage
from memo.domain.owners import Owner
from memo.domain.whatsapp import MessageStatus
from tests.integration.conftest import InMemoryStorage, SqlStorage, Storage

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp"
APP_SECRET = b"w" * 40
NUMBER = "123456789012345"  # the fixtures' receiving phone_number_id
OTHER_NUMBER = "223456789012345"
RACERS = 20
HOLD_S = 0.3  # long enough for every other racer to reach the held claim
CLOCK, IDS = SystemClock(), UuidV7Ids()  # UUIDv7 ids: unique across concurrent calls, like the running service
BATCH = [f"wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNBQzFFMkQ0RjYwQTM1QjZDN{n}A=" for n in range(5)]
MEDIA_AT = 1  # BATCH[1] is an image: one fetch-media job; it sorts before the last message


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def messages_change(message_ids: Sequence[str], *, number: str = NUMBER, media: str | None = None) -> dict[str, Any]:
    """One change of `number` carrying text messages, and an image for the id `media`, in the order given."""
    change: dict[str, Any] = fixture("text.json")["entry"][0]["changes"][0]
    value = change["value"]
    value["metadata"]["phone_number_id"] = number
    text, image = value["messages"][0], fixture("image.json")["entry"][0]["changes"][0]["value"]["messages"][0]
    value["messages"] = [dict(copy.deepcopy(image if message_id == media else text), id=message_id)
                         for message_id in message_ids]
    return change


def body(*changes: dict[str, Any]) -> bytes:
    notification = fixture("text.json")
    notification["entry"][0]["changes"] = list(changes)
    return json.dumps(notification).encode()


def batch_body(message_ids: Sequence[str] = BATCH) -> bytes:
    return body(messages_change(message_ids, media=BATCH[MEDIA_AT]))


def status_body(message_id: str, state: MessageStatus, timestamp: int) -> bytes:
    notification = fixture("status_delivered.json")
    notification["entry"][0]["changes"][0]["value"]["statuses"][0].update(
        id=message_id, status=state.value, timestamp=str(timestamp))
    return json.dumps(notification).encode()


def signed(raw: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: "sha256=" + hmac.new(APP_SECRET, raw, hashlib.sha256).hexdigest(),
            "content-type": "application/json"}


def receiver(uow: UnitOfWork) -> ReceiveWhatsAppNotification:
    return ReceiveWhatsAppNotification(
        verifier=MetaWebhookVerifier([APP_SECRET]), parser=MetaNotificationParser(), uow=uow, clock=CLOCK, ids=IDS,
        audit=RecordingAuditLog(), limiter=InProcessRateLimiter(CLOCK),
        limits=RateLimits(window_s=60, per_key=100, per_ip=100))


async def deliver(storage: Storage, raw: bytes, *, uow: UnitOfWork | None = None) -> int:
    """One webhook request: its own unit of work, as dishka gives each request one."""
    return await receiver(uow or storage.uow())(raw, signed(raw), client_ip="203.0.113.7",
                                                 path="/api/whatsapp/webhook")


async def race(storage: Storage, bodies: Sequence[bytes]) -> list[int | BaseException]:
    """Every body delivered at once, each on its own unit of work; an outcome is `processed` or what was raised."""
    return await asyncio.gather(*(deliver(storage, raw) for raw in bodies), return_exceptions=True)


async def processed_with_retries(storage: Storage, bodies: Sequence[bytes],
                                 outcomes: Sequence[int | BaseException]) -> int:
    """The messages stored by the racers, and by Meta's retry of any refused one; each refusal must be a 503.

    PostgreSQL must answer every racer: a claim waits for the transaction holding the same id, it never fails.
    SQLite may refuse a writer that could not get the write lock (SQLITE_BUSY, StorageUnavailable, a 503): Meta
    retries what is not a 200, so the retry is part of the outcome, and after it each message is stored once.
    (With statements run inline on the loop, SQLite's racers in fact run one after another and none is refused.)
    """
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if storage.name != "sqlite":
        assert failures == []
    assert all(isinstance(failure, StorageUnavailable) for failure in failures), failures
    total = sum(outcome for outcome in outcomes if isinstance(outcome, int))
    for raw, outcome in zip(bodies, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            total += await deliver(storage, raw)
    return total


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """The contract suite's backends, with a pool as wide as the racers so none waits for a connection."""
    backend: Storage
    if request.param == "memory":
        backend = InMemoryStorage()
    elif request.param == "sqlite":
        path = tmp_path / "memo.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        backend = SqlStorage("sqlite", create_engine(f"sqlite+aiosqlite:///{path}", pool_size=RACERS,
                                                     max_overflow=RACERS))
    else:
        backend = SqlStorage("postgresql", create_engine(request.getfixturevalue("postgres_url"),
                                                         pool_size=RACERS, max_overflow=RACERS))
    try:
        yield backend
    finally:
        await backend.close()


async def add_owner(storage: Storage, name: str, number: str) -> UUID:
    owner = Owner.create(id=IDS.new_id(), name=name, whatsapp_phone_number_id=number, now=CLOCK.now())
    async with storage.uow() as uow:
        await uow.owners.add(owner)
        await uow.commit()
    return owner.id


@pytest.fixture
async def anna(storage: Storage) -> UUID:
    return await add_owner(storage, "anna", NUMBER)


async def stored(storage: Storage, owner_id: UUID, message_ids: Sequence[str]) -> dict[str, Any]:
    """What one owner has: memories by WhatsApp id, conversation records, fetch-media jobs, the received count."""
    async with storage.uow() as uow:
        page = await uow.memories.find(owner_id, MemoryQuery(limit=100))
        records = [await uow.whatsapp.get(owner_id, message_id) for message_id in message_ids]
    jobs = [job for job in await storage.job_queue().by_state(limit=1_000)
            if job.owner_id == owner_id and job.kind == FETCH_MEDIA_JOB]
    figures = await storage.sync_status_reader().sync_status(owner_id)
    memory_ids = {memory.id for memory in page.items}
    return {
        "memories": sorted(str(memory.metadata["whatsappMessageId"]) for memory in page.items),
        "records": sum(record is not None and record.memory_id in memory_ids for record in records),
        "media jobs": sorted(str(job.payload["messageId"]) for job in jobs),
        "received": figures.received,
    }


def once_each(message_ids: Sequence[str], media: Sequence[str] = (BATCH[MEDIA_AT],)) -> dict[str, Any]:
    return {"memories": sorted(message_ids), "records": len(message_ids), "media jobs": sorted(media),
            "received": len(message_ids)}


NOTHING = {"memories": [], "records": 0, "media jobs": [], "received": 0}


def failing_on_call(target: object, name: str, call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `target.name` raise StorageUnavailable (a connection lost mid-transaction) on its `call`-th call only."""
    real: Callable[..., Awaitable[Any]] = getattr(target, name)
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            raise StorageUnavailable
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


def held_after_first_claim(uow: UnitOfWork, hold_s: float, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set once `uow` has claimed its first message, after which it waits `hold_s` before going on."""
    claimed = asyncio.Event()
    real = uow.whatsapp.claim

    async def claim_and_hold(message: ConversationMessage) -> bool:
        won = await real(message)
        if won and not claimed.is_set():
            claimed.set()
            await asyncio.sleep(hold_s)
        return won

    monkeypatch.setattr(uow.whatsapp, "claim", claim_and_hold)
    return claimed


# --- one notification, many deliveries ----------------------------------------------------------------------------


async def test_one_notification_delivered_many_times_at_once_stores_each_message_once(
        storage: Storage, anna: UUID) -> None:
    bodies = [batch_body()] * RACERS

    outcomes = await race(storage, bodies)

    assert await processed_with_retries(storage, bodies, outcomes) == len(BATCH)
    assert await stored(storage, anna, BATCH) == once_each(BATCH)
    assert await deliver(storage, batch_body()) == 0  # and a redelivery afterwards stores nothing


async def test_notifications_with_the_same_messages_in_opposite_orders_never_deadlock(
        storage: Storage, anna: UUID) -> None:
    forwards, backwards = batch_body(BATCH), batch_body(BATCH[::-1])
    bodies = [forwards, backwards] * (RACERS // 2)

    outcomes = await race(storage, bodies)

    assert await processed_with_retries(storage, bodies, outcomes) == len(BATCH)
    assert await stored(storage, anna, BATCH) == once_each(BATCH)


async def test_overlapping_notifications_racing_store_the_union_once(storage: Storage, anna: UUID) -> None:
    extra = [f"wamid.extra.{n}" for n in range(3)]
    bodies = [batch_body(BATCH[:3] + extra), batch_body(extra[::-1] + BATCH[2:]), batch_body(BATCH[::-1])] * 6

    outcomes = await race(storage, bodies)

    assert await processed_with_retries(storage, bodies, outcomes) == len(BATCH) + len(extra)
    assert await stored(storage, anna, [*BATCH, *extra]) == once_each([*BATCH, *extra])


# --- statuses in every order --------------------------------------------------------------------------------------


async def test_statuses_of_one_message_racing_in_every_order_end_as_read(storage: Storage, anna: UUID) -> None:
    ladder = [(MessageStatus.SENT, 1767601000), (MessageStatus.DELIVERED, 1767601001),
              (MessageStatus.READ, 1767601002), (MessageStatus.DELIVERED, 1767601003)]  # a late delivered last
    orders = list(itertools.permutations(ladder))
    message_ids = [f"wamid.out.{n}" for n in range(len(orders))]  # one message per order, all raced at once
    bodies = [status_body(message_id, state, at) for message_id, order in zip(message_ids, orders, strict=True)
              for state, at in order]

    outcomes = await race(storage, bodies)

    assert await processed_with_retries(storage, bodies, outcomes) == 0  # statuses are no new messages
    async with storage.uow() as uow:
        kept = [await uow.whatsapp.status_of(anna, message_id) for message_id in message_ids]
    assert [None if status is None else (status.status, status.timestamp) for status in kept] == [
        (MessageStatus.READ, datetime.fromtimestamp(1767601002, tz=UTC))] * len(orders)


# --- a delivery that rolls back -----------------------------------------------------------------------------------


async def test_a_delivery_failing_at_its_last_memory_leaves_no_record_memory_or_job_and_a_redelivery_stores_it(
        storage: Storage, anna: UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    uow = storage.uow()
    failing_on_call(uow.memories, "add", len(BATCH), monkeypatch)  # after 4 records, 4 memories and the media job

    with pytest.raises(StorageUnavailable):
        await deliver(storage, batch_body(), uow=uow)

    assert await stored(storage, anna, BATCH) == NOTHING
    assert await deliver(storage, batch_body()) == len(BATCH)
    assert await stored(storage, anna, BATCH) == once_each(BATCH)


async def test_a_delivery_failing_at_its_second_owner_leaves_nothing_of_the_first_and_a_redelivery_stores_both(
        storage: Storage, anna: UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    ben = await add_owner(storage, "ben", OTHER_NUMBER)
    two_numbers = body(messages_change(BATCH, media=BATCH[MEDIA_AT]),
                       messages_change(["wamid.for.ben"], number=OTHER_NUMBER, media="wamid.for.ben"))
    uow = storage.uow()
    failing_on_call(uow.owners, "by_whatsapp_phone_number_id", 2, monkeypatch)  # Anna's batch is written by then

    with pytest.raises(StorageUnavailable):
        await deliver(storage, two_numbers, uow=uow)

    assert await stored(storage, anna, BATCH) == NOTHING
    assert await stored(storage, ben, ["wamid.for.ben"]) == NOTHING
    assert await deliver(storage, two_numbers) == len(BATCH) + 1
    assert await stored(storage, anna, BATCH) == once_each(BATCH)
    assert await stored(storage, ben, ["wamid.for.ben"]) == once_each(["wamid.for.ben"], ["wamid.for.ben"])


async def test_a_racer_that_rolls_back_leaves_its_messages_to_the_others(
        storage: Storage, anna: UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = storage.uow()
    failing_on_call(failing.memories, "add", len(BATCH), monkeypatch)
    # On PostgreSQL the failing delivery holds its first claim, uncommitted, while the others queue behind it on the
    # unique index; then it fails and rolls back, and one of them must record what it gave up. (Holding a SQLite
    # write transaction across an await would only stall the loop in busy waits: there it runs straight through.)
    holding = held_after_first_claim(failing, HOLD_S if storage.name == "postgresql" else 0.0, monkeypatch)
    first = asyncio.create_task(deliver(storage, batch_body(), uow=failing))
    await holding.wait()
    bodies = [batch_body()] * (RACERS - 1)

    outcomes = await race(storage, bodies)

    with pytest.raises(StorageUnavailable):
        await first
    assert await processed_with_retries(storage, bodies, outcomes) == len(BATCH)
    assert await stored(storage, anna, BATCH) == once_each(BATCH)
