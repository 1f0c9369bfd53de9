"""One storage contract, run against every backend (see conftest.py), so the in-memory fake cannot drift from SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery, SortField, SortOrder
from memo.application.ports import SecretBox, UnitOfWork
from memo.domain.errors import OwnerAlreadyExists, ValidationFailed
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import ApiKey, Owner

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)


class ReversingBox(SecretBox):
    """Sealing that is trivially reversible but never the identity, so an unopened secret would show."""

    def seal(self, plaintext: bytes) -> bytes:
        return b"sealed:" + plaintext[::-1]

    def open(self, sealed: bytes) -> bytes:
        assert sealed.startswith(b"sealed:")
        return sealed.removeprefix(b"sealed:")[::-1]


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds(start=100)


@pytest.fixture
async def owners(storage: Storage) -> tuple[UUID, UUID]:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
        await uow.owners.add(Owner.create(id=BOB, name="bob", now=TEST_NOW))
        await uow.commit()
    return ALICE, BOB


def make_memory(ids: SequentialIds, *, owner: UUID = ALICE, content: str = "a note",
                type: MemoryType = MemoryType.NOTE, tags: tuple[str, ...] = (),  # noqa: A002
                metadata: dict[str, Any] | None = None, created: datetime = TEST_NOW,
                updated: datetime | None = None) -> Memory:
    memory = Memory.create(id=ids.new_id(), owner_id=owner, content=content, type=type, tags=tags,
                           metadata=metadata, now=created)
    return memory if updated is None else replace(memory, updated_at=updated)


async def store(storage: Storage, *memories: Memory) -> None:
    async with storage.uow() as uow:
        for memory in memories:
            await uow.memories.add(memory)
        await uow.commit()


async def find(storage: Storage, owner: UUID = ALICE, **query: Any) -> list[Memory]:
    async with storage.uow() as uow:
        page = await uow.memories.find(owner, MemoryQuery(**query))
    return list(page.items)


async def found_ids(storage: Storage, owner: UUID = ALICE, **query: Any) -> list[UUID]:
    return [memory.id for memory in await find(storage, owner, **query)]


async def get(storage: Storage, memory_id: UUID, owner: UUID = ALICE) -> Memory | None:
    async with storage.uow() as uow:
        return await uow.memories.get(owner, memory_id)


# --- memories: add, get, owner scoping -------------------------------------------------------------------------


async def test_added_memory_reads_back_equal_with_tags_metadata_and_source(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = replace(make_memory(ids, content="Buy milk ✓", type=MemoryType.REMINDER, tags=("shopping", "home"),
                                 metadata={"nested": {"list": [1, 2.5, None, True]}, "text": "äöü \u2603"}),
                     source=Source.WHATSAPP)
    await store(storage, memory)

    assert await get(storage, memory.id) == memory


async def test_unknown_memory_id_reads_as_none(storage: Storage, owners: object, ids: SequentialIds) -> None:
    assert await get(storage, ids.new_id()) is None


async def test_another_owners_memory_cannot_be_read_found_replaced_or_removed(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids, owner=ALICE, content="alice's secret", tags=("private",))
    await store(storage, memory)

    async with storage.uow() as uow:
        assert await uow.memories.get(BOB, memory.id) is None
        assert (await uow.memories.find(BOB, MemoryQuery(tags=("private",)))).total == 0
        hijacked = replace(memory, owner_id=BOB, content="bob was here", version=2)
        assert await uow.memories.replace(hijacked, expected_version=1) is False
        assert await uow.memories.remove(BOB, memory.id) is False
        await uow.commit()

    assert await get(storage, memory.id) == memory


# --- memories: filters ------------------------------------------------------------------------------------------


async def test_search_matches_a_substring_of_the_content_ignoring_case_unicode_included(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    apples = make_memory(ids, content="Buy ÄPFEL and Milk")
    bread = make_memory(ids, content="bake bread")
    await store(storage, apples, bread)

    assert await found_ids(storage, search="milk") == [apples.id]
    assert await found_ids(storage, search="äpfel AND") == [apples.id]
    assert await found_ids(storage, search="B") == [bread.id, apples.id]
    assert await found_ids(storage, search="cheese") == []


async def test_search_treats_like_wildcards_and_the_escape_character_literally(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    percent = make_memory(ids, content="discount 50% today")
    underscore = make_memory(ids, content="file_name.txt")
    slash = make_memory(ids, content="path a/b/c")
    plain = make_memory(ids, content="50 items, keen filename, path abc")
    await store(storage, percent, underscore, slash, plain)

    assert await found_ids(storage, search="50%") == [percent.id]
    assert await found_ids(storage, search="e_n") == [underscore.id]
    assert await found_ids(storage, search="a/b") == [slash.id]
    assert await found_ids(storage, search="%") == [percent.id]
    assert await found_ids(storage, search="_") == [underscore.id]


async def test_type_filter_keeps_only_that_type(storage: Storage, owners: object, ids: SequentialIds) -> None:
    note = make_memory(ids, type=MemoryType.NOTE)
    reminder = make_memory(ids, type=MemoryType.REMINDER)
    await store(storage, note, reminder)

    assert await found_ids(storage, type=MemoryType.REMINDER) == [reminder.id]
    assert await found_ids(storage, type=MemoryType.VOICE_MEMO) == []


async def test_tags_filter_keeps_memories_carrying_every_requested_tag(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    both = make_memory(ids, tags=("work", "urgent"))
    more = make_memory(ids, tags=("urgent", "home", "work"))
    work_only = make_memory(ids, tags=("work",))
    none = make_memory(ids)
    bobs = make_memory(ids, owner=BOB, tags=("work", "urgent"))
    await store(storage, both, more, work_only, none, bobs)

    assert await found_ids(storage, tags=("work", "urgent")) == [more.id, both.id]
    assert await found_ids(storage, tags=("work",)) == [work_only.id, more.id, both.id]
    assert await found_ids(storage, tags=(" Work ", "work", "URGENT")) == [more.id, both.id]
    assert await found_ids(storage, tags=("work", "missing")) == []


async def test_created_after_and_created_before_are_both_strict(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    first = make_memory(ids, created=TEST_NOW)
    second = make_memory(ids, created=TEST_NOW + timedelta(milliseconds=1))
    third = make_memory(ids, created=TEST_NOW + timedelta(milliseconds=2))
    await store(storage, first, second, third)

    assert await found_ids(storage, created_after=first.created_at) == [third.id, second.id]
    assert await found_ids(storage, created_before=third.created_at) == [second.id, first.id]
    assert await found_ids(storage, created_after=first.created_at, created_before=third.created_at) == [second.id]
    assert await found_ids(storage, created_after=second.created_at, created_before=third.created_at) == []


async def test_filters_combine_as_a_conjunction(storage: Storage, owners: object, ids: SequentialIds) -> None:
    hit = make_memory(ids, content="Call the plumber", type=MemoryType.REMINDER, tags=("home",),
                      created=TEST_NOW + timedelta(hours=1))
    wrong_type = make_memory(ids, content="call the plumber", type=MemoryType.NOTE, tags=("home",),
                             created=TEST_NOW + timedelta(hours=1))
    wrong_tag = make_memory(ids, content="call the plumber", type=MemoryType.REMINDER, tags=("work",),
                            created=TEST_NOW + timedelta(hours=1))
    too_early = make_memory(ids, content="call the plumber", type=MemoryType.REMINDER, tags=("home",),
                            created=TEST_NOW - timedelta(hours=1))
    no_match = make_memory(ids, content="call mum", type=MemoryType.REMINDER, tags=("home",),
                           created=TEST_NOW + timedelta(hours=1))
    await store(storage, hit, wrong_type, wrong_tag, too_early, no_match)

    page_ids = await found_ids(storage, search="PLUMBER", type=MemoryType.REMINDER, tags=("home",),
                               created_after=TEST_NOW, created_before=TEST_NOW + timedelta(days=1))
    assert page_ids == [hit.id]


# --- memories: sorting and paging -------------------------------------------------------------------------------


@pytest.mark.parametrize(("sort_by", "sort_order", "expected"), [
    (SortField.CREATED_AT, SortOrder.ASC, ["older", "tie_a", "tie_b", "newer"]),
    (SortField.CREATED_AT, SortOrder.DESC, ["newer", "tie_b", "tie_a", "older"]),
    (SortField.UPDATED_AT, SortOrder.ASC, ["tie_b", "newer", "tie_a", "older"]),
    (SortField.UPDATED_AT, SortOrder.DESC, ["older", "tie_a", "newer", "tie_b"]),
])
async def test_sorting_orders_by_the_field_then_by_id_in_the_same_direction(
        storage: Storage, owners: object, ids: SequentialIds, *, sort_by: SortField, sort_order: SortOrder,
        expected: list[str]) -> None:
    t = TEST_NOW
    memories = {  # ids increase in this order: tie_a < tie_b < newer < older
        "tie_a": make_memory(ids, created=t, updated=t + timedelta(seconds=2)),
        "tie_b": make_memory(ids, created=t, updated=t + timedelta(seconds=1)),
        "newer": make_memory(ids, created=t + timedelta(microseconds=1), updated=t + timedelta(seconds=1)),
        "older": make_memory(ids, created=t - timedelta(microseconds=1), updated=t + timedelta(seconds=3)),
    }
    await store(storage, *memories.values())
    names = {memory.id: name for name, memory in memories.items()}

    found = await found_ids(storage, sort_by=sort_by, sort_order=sort_order)

    assert [names[memory_id] for memory_id in found] == expected


async def test_pages_report_the_total_and_whether_more_follow(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memories = [make_memory(ids, created=TEST_NOW + timedelta(seconds=n)) for n in range(5)]
    await store(storage, *memories, make_memory(ids, owner=BOB))
    oldest_first = [memory.id for memory in memories]

    async with storage.uow() as uow:
        pages = [await uow.memories.find(ALICE, MemoryQuery(limit=2, offset=offset, sort_order=SortOrder.ASC))
                 for offset in (0, 2, 4, 10)]

    assert [[memory.id for memory in page.items] for page in pages] == [
        oldest_first[0:2], oldest_first[2:4], oldest_first[4:], []]
    assert [page.total for page in pages] == [5, 5, 5, 5]
    assert [page.has_more for page in pages] == [True, True, False, False]
    assert (pages[1].limit, pages[1].offset) == (2, 2)


# --- memories: compare-and-set, remove -------------------------------------------------------------------------


async def test_replace_with_the_current_version_stores_the_new_state_and_its_tags(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids, content="draft", tags=("old",), metadata={"a": 1})
    await store(storage, memory)
    revised = memory.revise(content="final", tags=("new", "more"), metadata={"b": 2},
                            type=MemoryType.REMINDER, now=TEST_NOW + timedelta(minutes=5))

    async with storage.uow() as uow:
        assert await uow.memories.replace(revised, expected_version=1) is True
        await uow.commit()

    assert await get(storage, memory.id) == revised
    assert revised.version == 2
    assert revised.metadata == {"a": 1, "b": 2}
    assert await found_ids(storage, tags=("old",)) == []
    assert await found_ids(storage, tags=("new", "more")) == [memory.id]


async def test_replace_with_a_stale_version_changes_nothing(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids, content="v1", tags=("keep",))
    await store(storage, memory)
    second = memory.revise(content="v2", now=TEST_NOW + timedelta(seconds=1))
    stale = memory.revise(content="lost update", tags=("other",), now=TEST_NOW + timedelta(seconds=2))

    async with storage.uow() as uow:
        assert await uow.memories.replace(second, expected_version=1) is True
        assert await uow.memories.replace(stale, expected_version=1) is False
        await uow.commit()

    assert await get(storage, memory.id) == second
    assert await found_ids(storage, tags=("keep",)) == [memory.id]
    assert await found_ids(storage, tags=("other",)) == []


async def test_replace_of_an_unknown_memory_reports_false(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    async with storage.uow() as uow:
        assert await uow.memories.replace(make_memory(ids), expected_version=1) is False


async def test_replace_keeps_the_domains_updated_at_instead_of_the_wall_clock(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    long_ago = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    memory = make_memory(ids, created=long_ago)
    await store(storage, memory)
    revised = memory.revise(content="edited", now=long_ago + timedelta(microseconds=1))

    async with storage.uow() as uow:
        assert await uow.memories.replace(revised, expected_version=1)
        await uow.commit()

    stored = await get(storage, memory.id)
    assert stored is not None
    assert (stored.created_at, stored.updated_at) == (long_ago, long_ago + timedelta(microseconds=1))


async def test_remove_deletes_the_memory_and_frees_its_tags(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    gone = make_memory(ids, tags=("shared",))
    kept = make_memory(ids, tags=("shared",))
    await store(storage, gone, kept)

    async with storage.uow() as uow:
        assert await uow.memories.remove(ALICE, gone.id) is True
        assert await uow.memories.remove(ALICE, gone.id) is False
        await uow.commit()

    assert await get(storage, gone.id) is None
    assert await found_ids(storage, tags=("shared",)) == [kept.id]


# --- times ------------------------------------------------------------------------------------------------------


async def test_times_come_back_timezone_aware_utc_to_the_microsecond(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    created = datetime(2026, 3, 29, 1, 59, 59, 123456, tzinfo=UTC)
    memory = make_memory(ids, created=created, updated=created + timedelta(microseconds=7))
    await store(storage, memory)

    stored = await get(storage, memory.id)

    assert stored is not None
    assert stored.created_at == created
    assert stored.updated_at == created + timedelta(microseconds=7)
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.updated_at.utcoffset() == timedelta(0)


async def test_times_a_millisecond_apart_sort_and_filter_correctly(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    base = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    later = make_memory(ids, created=base + timedelta(milliseconds=1))  # crosses into a new year
    earlier = make_memory(ids, created=base)
    await store(storage, later, earlier)

    assert await found_ids(storage, sort_order=SortOrder.ASC) == [earlier.id, later.id]
    assert await found_ids(storage, created_after=base) == [later.id]


# --- transactions -----------------------------------------------------------------------------------------------


async def test_leaving_without_commit_discards_every_kind_of_write(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    box = ReversingBox()
    kept = make_memory(ids, content="kept", tags=("t",))
    await store(storage, kept)

    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ids.new_id(), name="carol", now=TEST_NOW))
        await uow.api_keys.add(ApiKey(key_id="key_rolled_back", owner_id=ALICE, label=None,
                                      sealed_secret=box.seal(b"s"), created_at=TEST_NOW))
        await uow.memories.add(make_memory(ids, content="discarded"))
        assert await uow.idempotency.claim(IdempotencyRecord(
            owner_id=ALICE, key="k", request_hash="h", memory_id=kept.id, created_at=TEST_NOW)) is None
        assert await uow.memories.replace(replace(kept, content="changed", version=2), expected_version=1)
        assert await uow.memories.remove(ALICE, kept.id)

    async with storage.uow() as uow:
        assert await uow.owners.by_name("carol") is None
        assert await uow.api_keys.get("key_rolled_back") is None
        assert await uow.idempotency.get(ALICE, "k") is None
        assert [memory.content for memory in (await uow.memories.find(ALICE, MemoryQuery())).items] == ["kept"]
        assert await uow.memories.get(ALICE, kept.id) == kept
    assert await storage.key_store(box).find_active("key_rolled_back") is None


async def test_writes_after_a_commit_are_rolled_back_on_leaving(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    committed, uncommitted = make_memory(ids), make_memory(ids)

    async with storage.uow() as uow:
        await uow.memories.add(committed)
        await uow.commit()
        await uow.memories.add(uncommitted)

    assert await get(storage, committed.id) == committed
    assert await get(storage, uncommitted.id) is None


async def test_an_exception_inside_the_block_rolls_back_and_propagates(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids)

    async def add_then_fail() -> None:
        async with storage.uow() as uow:
            await uow.memories.add(memory)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()

    assert await get(storage, memory.id) is None


async def test_commit_is_what_makes_writes_visible_to_other_units_of_work(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids)
    uow: UnitOfWork = storage.uow()

    async with uow:
        await uow.memories.add(memory)
        await uow.commit()

    assert await get(storage, memory.id) == memory
    assert getattr(uow, "committed", True) is True


# --- idempotency ------------------------------------------------------------------------------------------------


async def test_idempotency_record_is_found_by_owner_and_key_only(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    record = IdempotencyRecord(owner_id=ALICE, key="retry-1", request_hash="a" * 64, memory_id=ids.new_id(),
                               created_at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))

    async with storage.uow() as uow:
        assert await uow.idempotency.claim(record) is None
        await uow.commit()

    async with storage.uow() as uow:
        assert await uow.idempotency.get(ALICE, "retry-1") == record
        assert await uow.idempotency.get(BOB, "retry-1") is None
        assert await uow.idempotency.get(ALICE, "retry-2") is None


async def test_a_live_claim_is_answered_and_kept_while_an_expired_one_is_replaced(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    first = IdempotencyRecord(owner_id=ALICE, key="k", request_hash="1" * 64, memory_id=ids.new_id(),
                              created_at=TEST_NOW)
    retry = replace(first, request_hash="2" * 64, memory_id=ids.new_id(), created_at=TEST_NOW + timedelta(hours=23))
    later = replace(retry, created_at=TEST_NOW + timedelta(hours=24))
    bobs = replace(first, owner_id=BOB)

    async with storage.uow() as uow:
        assert await uow.idempotency.claim(first) is None
        assert await uow.idempotency.claim(bobs) is None
        await uow.commit()
    async with storage.uow() as uow:
        assert await uow.idempotency.claim(retry) == first
        await uow.commit()
    async with storage.uow() as uow:
        assert await uow.idempotency.claim(later) is None
        await uow.commit()

    async with storage.uow() as uow:
        assert await uow.idempotency.get(ALICE, "k") == later
        assert await uow.idempotency.get(BOB, "k") == bobs


# --- owners -----------------------------------------------------------------------------------------------------


async def test_owners_are_found_by_name_and_id_and_listed_oldest_first(storage: Storage, ids: SequentialIds) -> None:
    later = Owner.create(id=ids.new_id(), name="zed", whatsapp_phone_number_id="1234567890",
                         whatsapp_number="4915112345678", now=TEST_NOW + timedelta(seconds=1))
    earlier = Owner.create(id=ids.new_id(), name="amy", now=TEST_NOW)

    async with storage.uow() as uow:
        await uow.owners.add(later)
        await uow.owners.add(earlier)
        await uow.commit()

    async with storage.uow() as uow:
        assert await uow.owners.by_name("zed") == later
        assert await uow.owners.by_id(earlier.id) == earlier
        assert await uow.owners.by_name("nobody") is None
        assert await uow.owners.by_id(ids.new_id()) is None
        assert list(await uow.owners.all()) == [earlier, later]


async def test_a_taken_owner_name_raises_owner_already_exists_and_the_unit_of_work_stays_usable(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    async with storage.uow() as uow:
        with pytest.raises(OwnerAlreadyExists):
            await uow.owners.add(Owner.create(id=ids.new_id(), name="alice", now=TEST_NOW))
        await uow.owners.add(Owner.create(id=ids.new_id(), name="dave", now=TEST_NOW))
        await uow.commit()

    async with storage.uow() as uow:
        assert sorted(owner.name for owner in await uow.owners.all()) == ["alice", "bob", "dave"]


async def test_a_whatsapp_number_id_claimed_by_another_owner_is_refused(
        storage: Storage, ids: SequentialIds) -> None:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ids.new_id(), name="first", whatsapp_phone_number_id="111111",
                                          now=TEST_NOW))
        await uow.commit()

    async with storage.uow() as uow:
        with pytest.raises(ValidationFailed) as refused:
            await uow.owners.add(Owner.create(id=ids.new_id(), name="second", whatsapp_phone_number_id="111111",
                                              now=TEST_NOW))
        await uow.owners.add(Owner.create(id=ids.new_id(), name="third", now=TEST_NOW))
        await uow.commit()

    assert refused.value.problems[0].field == "whatsappPhoneNumberId"
    async with storage.uow() as uow:
        assert [owner.name for owner in await uow.owners.all()] == ["first", "third"]


# --- API keys and the key store ---------------------------------------------------------------------------------


def make_key(key_id: str, *, owner: UUID = ALICE, created: datetime = TEST_NOW, label: str | None = "laptop",
             secret: bytes = b"secret") -> ApiKey:
    return ApiKey(key_id=key_id, owner_id=owner, label=label, sealed_secret=ReversingBox().seal(secret),
                  created_at=created)


async def test_api_keys_are_stored_read_and_listed_oldest_first(storage: Storage, owners: object) -> None:
    later = make_key("key_later_0001", created=TEST_NOW + timedelta(seconds=1), label=None)
    earlier = make_key("key_earlier_01", owner=BOB, secret=b"\x00\xff binary")

    async with storage.uow() as uow:
        await uow.api_keys.add(later)
        await uow.api_keys.add(earlier)
        await uow.commit()

    async with storage.uow() as uow:
        assert await uow.api_keys.get("key_later_0001") == later
        assert await uow.api_keys.get("key_missing_01") is None
        assert list(await uow.api_keys.all()) == [earlier, later]


async def test_revoking_a_key_keeps_it_for_the_audit_trail_with_its_first_revocation_time(
        storage: Storage, owners: object) -> None:
    revoked_at = TEST_NOW + timedelta(hours=1)
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_to_revoke"))
        await uow.commit()

    async with storage.uow() as uow:
        assert await uow.api_keys.revoke("key_to_revoke", revoked_at) is True
        assert await uow.api_keys.revoke("key_to_revoke", revoked_at + timedelta(hours=1)) is True
        assert await uow.api_keys.revoke("key_unknown_1", revoked_at) is False
        await uow.commit()

    async with storage.uow() as uow:
        revoked = await uow.api_keys.get("key_to_revoke")
    assert revoked is not None
    assert revoked.revoked_at == revoked_at
    assert not revoked.active


async def test_key_store_opens_the_secret_of_an_active_key_and_ignores_revoked_and_unknown_ones(
        storage: Storage, owners: object) -> None:
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_active_01", owner=BOB, secret=b"open sesame"))
        await uow.api_keys.add(make_key("key_revoked_1"))
        await uow.api_keys.revoke("key_revoked_1", TEST_NOW)
        await uow.commit()

    key_store = storage.key_store(ReversingBox())
    active = await key_store.find_active("key_active_01")

    assert active is not None
    assert (active.key_id, active.owner_id, active.secret) == ("key_active_01", BOB, b"open sesame")
    assert await key_store.find_active("key_revoked_1") is None
    assert await key_store.find_active("key_unknown_1") is None


async def test_key_store_finds_an_owner_id_by_name(storage: Storage, owners: object) -> None:
    key_store = storage.key_store(ReversingBox())

    assert await key_store.owner_id_by_name("bob") == BOB
    assert await key_store.owner_id_by_name("nobody") is None


# --- health -----------------------------------------------------------------------------------------------------


async def test_database_check_reports_healthy_and_names_its_backend(storage: Storage) -> None:
    check = storage.health_check()

    result = await check.check()

    assert check.name == "database"
    assert result.healthy
    assert result.backend == {"memory": "in-memory"}.get(storage.name, storage.name)
    assert result.detail is None
