"""A whole export imported into a fresh data dir, on the real stores: nothing lost, nothing changed, twice safe.

Ten thousand memories of every type (tags, nested metadata, microsecond times, equal times across keyset pages,
versions raised by real updates, WhatsApp records with their delivery statuses) go out of one app through
`GET /api/export` and into another through `POST /api/import`, in batches of whole lines under the second app's
MEMO_MAX_BODY_BYTES. The memories and records read back from the second store must equal the first's; a second
import must answer every line `unchanged` and leave every version and `updatedAt` as it was.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from dishka import AsyncContainer

from memo.application.ports import UnitOfWork
from memo.domain.conversation import ConversationMessage, Direction, MediaState
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.whatsapp import MessageError, MessageStatus, StatusUpdate
from tests.e2e.conftest import Signer
from tests.e2e.test_export_import_api import hostile_lines, jsonl
from tests.support.brain import Brain, local_brain, postgres_brain
from tests.support.postgres import POSTGRES_ADMIN_URL

COUNT = 10_000
WHATSAPP = 60  # memories with a WhatsApp record, a third of them sent with a status
UPDATED = 25  # memories edited through the API, so their version is above 1
BODY_LIMIT = 256 * 1024  # the importing app's MEMO_MAX_BODY_BYTES: a dozen batches
NUMBER = "106540352242922"
BASE = datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
TAGS = ("health", "work", "family", "trip", "ideas", "shopping", "Mixed-Case", "ünïcode", "a" * 50)
TYPES = (MemoryType.NOTE, MemoryType.REMINDER, MemoryType.VOICE_MEMO)

Started = Callable[..., AbstractAsyncContextManager[Brain]]


def seeded_memories(owner_id: UUID, rng: random.Random) -> list[Memory]:
    """Memories as a busy person accumulates them; every seventh shares its time with the one before, so equal
    created_at values fall on keyset page boundaries too."""
    memories: list[Memory] = []
    moment = BASE
    for n in range(COUNT):
        if n % 7:
            moment += timedelta(seconds=rng.randrange(1, 5000), microseconds=rng.randrange(1, 1_000_000))
        whatsapp = n < WHATSAPP
        kind = (MemoryType.WHATSAPP_SENT if n % 3 == 0 else MemoryType.WHATSAPP_RECEIVED) if whatsapp \
            else rng.choice(TYPES)
        source = Source.WHATSAPP if whatsapp else rng.choice((Source.API, Source.API, Source.IMPORT))
        metadata: dict[str, Any] = {"n": n, "weight": rng.random(), "nested": {"list": [1, None, True, "ß"]}}
        if whatsapp:
            metadata = {"whatsappMessageId": f"wamid.{n:06d}", "from": "491701234567", "messageType": "text"}
        elif n % 5 == 0:
            metadata = {}
        updated = moment + timedelta(microseconds=rng.randrange(0, 3)) if n % 11 == 0 else moment
        memories.append(Memory.restored(
            id=UUID(int=rng.getrandbits(128)), owner_id=owner_id,
            content=f"memory {n}: " + " ".join(rng.choice(("milk", "Zürich", "call mum", "✓", '"quoted"'))
                                               for _ in range(rng.randrange(1, 12))),
            type=kind, tags=rng.sample(TAGS, rng.randrange(0, 4)), metadata=metadata, source=source,
            created_at=moment, updated_at=updated, version=1))
    rng.shuffle(memories)  # stored out of order: the export must sort, not echo the insertion order
    return memories


def conversation(memory: Memory, n: int, new_id: UUID) -> tuple[ConversationMessage, StatusUpdate | None]:
    direction = Direction.SENT if memory.type is MemoryType.WHATSAPP_SENT else Direction.RECEIVED
    media = direction is Direction.RECEIVED and n % 2 == 0
    message = ConversationMessage(
        id=new_id, owner_id=memory.owner_id, direction=direction,
        whatsapp_message_id=memory.metadata["whatsappMessageId"], peer="491701234567",
        type="image" if media else "text", memory_id=memory.id, sent_at=memory.created_at - timedelta(seconds=3),
        recorded_at=memory.created_at, phone_number_id=NUMBER, media_id=f"{n:016d}" if media else None,
        mime_type="image/jpeg" if media else None, sha256="Lk0tYf2m3n1mQ5kq8G3uQbA4sY0zJb5p8cX2dH9wT1A=" if media
        else None, media_state=(MediaState.STORED if n % 4 == 0 else MediaState.PENDING) if media else None,
        media_ref=f"media/{memory.owner_id}/{n}.jpg" if media and n % 4 == 0 else None)
    if direction is Direction.RECEIVED:
        return message, None
    state = (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)[n % 3]
    errors = (MessageError(code=131047, title="Re-engagement message", details="More than 24 hours"),) \
        if state is MessageStatus.FAILED else ()
    return message, StatusUpdate(message_id=message.whatsapp_message_id, phone_number_id=NUMBER, status=state,
                                 timestamp=memory.created_at + timedelta(seconds=40, microseconds=n),
                                 recipient="491701234567", errors=errors, details={"pricing_category": "service"})


async def seed(brain: Brain, owner_id: UUID) -> None:
    rng = random.Random(20261128)  # noqa: S311 - reproducible data, not secrets
    memories = seeded_memories(owner_id, rng)
    records = [conversation(memory, int(memory.metadata["whatsappMessageId"].split(".")[1]),
                            UUID(int=rng.getrandbits(128)))
               for memory in memories if memory.source is Source.WHATSAPP]

    async def store(container: AsyncContainer) -> None:
        async with container() as scope:
            uow = await scope.get(UnitOfWork)
            async with uow:
                for start in range(0, len(memories), 1000):
                    await uow.memories.add_many(memories[start:start + 1000])
                for message, status in records:
                    assert await uow.whatsapp.claim(message)
                    if status is not None:
                        await uow.whatsapp.record_status(owner_id, status, received_at=status.timestamp)
                await uow.commit()

    await brain.on_app_loop(store)


async def edit_some(brain: Brain, signer: Signer) -> None:
    """Real updates through the API: versions 2 and 3, an updatedAt from the app's clock."""
    lines = await export_lines(signer)
    for n, item in enumerate(lines[100:100 + UPDATED]):
        brain.clock.advance(microseconds=1_001)
        changed = await signer.put(f"/api/memories/{item['id']}", {"content": item["content"] + " (edited)",
                                                                    "tags": ["edited"], "metadata": {"pass": 1}})
        assert changed.status_code == 200, changed.text
        if n % 2:
            again = await signer.put(f"/api/memories/{item['id']}", {"metadata": {"pass": 2}})
            assert again.status_code == 200, again.text


async def export_lines(signer: Signer) -> list[dict[str, Any]]:
    answer = await signer.get("/api/export")
    assert answer.status_code == 200, answer.text
    assert answer.content.endswith(b"\n") or answer.content == b""
    return [json.loads(raw) for raw in answer.content.splitlines()]


def batches(lines: list[dict[str, Any]], limit: int) -> list[bytes]:
    """Whole lines, each batch under the limit, as a client splitting a large export does."""
    out: list[bytes] = []
    current = bytearray()
    for item in lines:
        raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        assert len(raw) < limit
        if len(current) + len(raw) > limit:
            out.append(bytes(current))
            current.clear()
        current += raw
    if current:
        out.append(bytes(current))
    return out


async def import_all(signer: Signer, bodies: list[bytes]) -> dict[str, int]:
    totals = {"created": 0, "unchanged": 0, "skipped": 0}
    for body in bodies:
        answer = await signer.request("POST", "/api/import", content=body,
                                      headers={"Content-Type": "application/x-ndjson"})
        assert answer.status_code == 200, answer.text[:500]
        report = answer.json()["data"]
        assert report["skipped"] == [], report["skipped"][:3]
        totals["created"] += report["created"]
        totals["unchanged"] += report["unchanged"]
    return totals


Snapshot = tuple[list[Memory], dict[UUID, tuple[ConversationMessage, StatusUpdate | None]]]


async def snapshot(brain: Brain, owner_id: UUID) -> Snapshot:
    """Everything the store holds for the owner, with the owner and the record's own id left out: those are the
    only things a restore is free to choose anew."""
    async def read(container: AsyncContainer) -> Snapshot:
        memories: list[Memory] = []
        records: dict[UUID, tuple[ConversationMessage, StatusUpdate | None]] = {}
        after: tuple[datetime, UUID] | None = None
        async with container() as scope:
            uow = await scope.get(UnitOfWork)
            while True:
                async with uow:
                    page = await uow.memories.page_after(owner_id, after, limit=1000)
                    found = await uow.whatsapp.of_memories(owner_id, [memory.id for memory in page])
                if not page:
                    return memories, records
                memories.extend(replace(memory, owner_id=UUID(int=0)) for memory in page)
                for memory_id, (message, status) in found.items():
                    records[memory_id] = (replace(message, id=UUID(int=0), owner_id=UUID(int=0)), status)
                after = (page[-1].created_at, page[-1].id)

    return await brain.on_app_loop(read)


async def round_trip(tmp_path: Path, start: Started) -> None:
    async with start(tmp_path / "first") as first:
        alice = await first.signer_for("alice")
        alice_id = await first.owner_id("alice")
        await seed(first, alice_id)
        await edit_some(first, alice)
        lines = await export_lines(alice)
        before = await snapshot(first, alice_id)

    assert len(lines) == COUNT
    assert sum(1 for item in lines if "whatsapp" in item) == WHATSAPP
    assert sum(1 for item in lines if item.get("whatsapp", {}).get("status")) == WHATSAPP // 3
    assert max(item["version"] for item in lines) == 3
    assert [UUID(item["id"]) for item in lines] == [memory.id for memory in before[0]]
    bodies = batches(lines, BODY_LIMIT)
    assert len(bodies) > 5

    async with start(tmp_path / "second", max_body_bytes=BODY_LIMIT) as second:
        restorer = await second.signer_for("alice")
        restored_id = await second.owner_id("alice")
        assert await import_all(restorer, bodies) == {"created": COUNT, "unchanged": 0, "skipped": 0}
        after = await snapshot(second, restored_id)
        assert after[0] == before[0]
        assert after[1] == before[1]
        assert await export_lines(restorer) == lines

        assert await import_all(restorer, bodies) == {"created": 0, "unchanged": COUNT, "skipped": 0}
        assert await snapshot(second, restored_id) == before
        too_big = await restorer.request("POST", "/api/import", content=b"".join(bodies[:2]),
                                         headers={"Content-Type": "application/x-ndjson"})
        assert too_big.status_code == 413


async def test_an_export_of_ten_thousand_memories_restores_identically_into_a_fresh_sqlite_data_dir(
        tmp_path: Path) -> None:
    await round_trip(tmp_path, local_brain)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="set MEMO_TEST_POSTGRES_URL to run on PostgreSQL")
async def test_an_export_of_ten_thousand_memories_restores_identically_into_a_fresh_postgres_database(
        tmp_path: Path) -> None:
    await round_trip(tmp_path, postgres_brain)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_lines_a_sql_store_cannot_keep_are_skipped_not_a_500(tmp_path: Path, store: str) -> None:
    if store == "postgres" and not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run on PostgreSQL")
    start: Started = local_brain if store == "sqlite" else postgres_brain
    lines = hostile_lines()
    async with start(tmp_path) as brain:
        alice = await brain.signer_for("alice")
        for number, item in enumerate(lines, start=1):
            answer = await alice.request("POST", "/api/import", content=jsonl(item),
                                         headers={"Content-Type": "application/x-ndjson"})
            assert answer.status_code == 200, (number, answer.text)
            assert [skip["code"] for skip in answer.json()["data"]["skipped"]] == ["INVALID_FIELD"], number
        assert await export_lines(alice) == []
