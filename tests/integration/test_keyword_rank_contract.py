"""The keyword ranking contract (MemoryRepository.rank), held on every store: in memory, SQLite and PostgreSQL.

The stores agree on which memories are found and on the order of the clear-cut cases; their exact scores differ
(SQLite's IDF is over every owner and its index keeps no document lengths: see keyword_rank.py), so this suite
compares orders across stores, and values only between PostgreSQL and the domain's BM25, which it follows exactly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery
from memo.domain import ranking
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import Owner
from memo.domain.retrieval import Hit, SearchFilters

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)
NO_FILTERS = SearchFilters()

# Memories of ordinary length in words no test looks for, so that the words a test does look for are rare, as they
# are in a real collection; both owners have them.
FILLER = ("water the plants on the balcony before the trip", "pay the rent and the electricity by transfer",
          "call the bank about the new credit card", "book a table for four at the italian place",
          "pick up the parcel from the post office", "renew the passport before the summer holidays",
          "walk the dog in the park after work", "fix the flat tyre on the old bike",
          "email the school about the class photos", "buy bread, eggs and coffee on the way home")


@pytest.fixture
async def ids(storage: Storage) -> SequentialIds:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
        await uow.owners.add(Owner.create(id=BOB, name="bob", now=TEST_NOW))
        await uow.commit()
    return SequentialIds(start=100)


def memory(ids: SequentialIds, content: str, *, owner: UUID = ALICE, type: MemoryType = MemoryType.NOTE,  # noqa: A002
           tags: tuple[str, ...] = (), source: Source = Source.API, created: timedelta = timedelta()) -> Memory:
    return Memory.create(id=ids.new_id(), owner_id=owner, content=content, type=type, tags=tags, source=source,
                         now=TEST_NOW + created)


async def store(storage: Storage, ids: SequentialIds, *memories: Memory, filler: bool = True) -> None:
    """Store `memories`, with FILLER memories of both owners around them unless told not to."""
    extra = ([memory(ids, text, owner=owner) for text in FILLER for owner in (ALICE, BOB)] if filler else [])
    async with storage.uow() as uow:
        for each in (*memories, *extra):
            await uow.memories.add(each)
        await uow.commit()


async def rank(storage: Storage, text: str, *, owner: UUID = ALICE, limit: int = 10,
               filters: SearchFilters = NO_FILTERS) -> list[Hit]:
    async with storage.uow() as uow:
        hits = list(await uow.memories.rank(owner, text, filters=filters, limit=limit))
    assert all(hit.score > 0 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    return hits


async def ranked(storage: Storage, text: str, *, owner: UUID = ALICE, limit: int = 10,
                 filters: SearchFilters = NO_FILTERS) -> list[UUID]:
    return [hit.memory_id for hit in await rank(storage, text, owner=owner, limit=limit, filters=filters)]


async def all_memories(storage: Storage, owner: UUID = ALICE) -> list[Memory]:
    async with storage.uow() as uow:
        return list((await uow.memories.find(owner, MemoryQuery(limit=100))).items)


# --- what is found ----------------------------------------------------------------------------------------------


async def test_a_question_finds_the_memories_holding_any_of_its_words(storage: Storage, ids: SequentialIds) -> None:
    dentist = memory(ids, "Dentist at 3pm")
    appointment = memory(ids, "Appointment with the accountant")
    unrelated = memory(ids, "Buy new shoes")
    await store(storage, ids, dentist, appointment, unrelated)

    assert set(await ranked(storage, "when is my dentist appointment?")) == {dentist.id, appointment.id}


async def test_every_store_finds_what_the_domain_specifies(storage: Storage, ids: SequentialIds) -> None:
    contents = ["Dentist at 3pm", "dentist moved to friday", "call the dentist about the bill", "Café on main st",
                "cafe near the station", "friday: pay the plumber", "plumber's number is 555 0100", "no words?!"]
    await store(storage, ids, *(memory(ids, content, created=timedelta(minutes=n)) for n, content in
                                enumerate(contents)))
    stored = await all_memories(storage)

    for question in ("when is my dentist appointment?", "café friday", "the plumber's number", "bill OR station",
                     '"dentist friday"', "-plumber", "is it?", "nothing matches this"):
        expected = ranking.rank(question, stored, filters=NO_FILTERS, limit=100)
        assert set(await ranked(storage, question, limit=100)) == {hit.memory_id for hit in expected}, question


async def test_a_question_of_only_punctuation_finds_nothing(storage: Storage, ids: SequentialIds) -> None:
    await store(storage, ids, memory(ids, "?!"), memory(ids, "dentist"))

    assert await rank(storage, '?! -- "" ...') == []
    assert await rank(storage, "") == []


async def test_a_question_of_only_stop_words_looks_for_them(storage: Storage, ids: SequentialIds) -> None:
    quote = memory(ids, "To be, or not to be")
    await store(storage, ids, quote, filler=False)

    assert await ranked(storage, "to be or not to be?") == [quote.id]


async def test_accents_are_kept_an_accented_word_is_another_word(storage: Storage, ids: SequentialIds) -> None:
    accented, plain = memory(ids, "Café Central at noon"), memory(ids, "cafe near the station")
    await store(storage, ids, accented, plain)

    assert await ranked(storage, "CAFÉ?") == [accented.id]
    assert await ranked(storage, "cafe") == [plain.id]


async def test_operators_are_plain_words_and_punctuation(storage: Storage, ids: SequentialIds) -> None:
    dentist, bill = memory(ids, "dentist on friday"), memory(ids, "the electricity bill")
    await store(storage, ids, dentist, bill)

    assert await ranked(storage, "-dentist") == [dentist.id]
    assert set(await ranked(storage, '"bill dentist"')) == {dentist.id, bill.id}
    assert set(await ranked(storage, "dentist OR bill")) == {dentist.id, bill.id}
    assert await ranked(storage, "NEAR(dentist*)") == [dentist.id]


async def test_another_owners_memories_are_never_ranked(storage: Storage, ids: SequentialIds) -> None:
    mine = memory(ids, "the plumber came on tuesday")
    theirs = memory(ids, "plumber plumber plumber", owner=BOB)
    await store(storage, ids, mine, theirs)

    assert await ranked(storage, "plumber") == [mine.id]
    assert await ranked(storage, "plumber", owner=BOB) == [theirs.id]
    assert await ranked(storage, "tuesday", owner=BOB) == []


async def test_the_limit_is_respected(storage: Storage, ids: SequentialIds) -> None:
    await store(storage, ids, *(memory(ids, f"dentist visit {number}") for number in range(7)))

    assert len(await rank(storage, "dentist", limit=3)) == 3
    assert len(await rank(storage, "dentist", limit=100)) == 7


async def test_rank_reads_the_current_content_and_forgets_removed_memories(
        storage: Storage, ids: SequentialIds) -> None:
    edited, removed = memory(ids, "dentist on friday"), memory(ids, "dentist bill")
    await store(storage, ids, edited, removed)
    async with storage.uow() as uow:
        assert await uow.memories.replace(replace(edited, content="plumber on friday", version=2),
                                          expected_version=1)
        assert await uow.memories.remove(ALICE, removed.id)
        await uow.commit()

    assert await rank(storage, "dentist") == []
    assert await ranked(storage, "plumber") == [edited.id]


# --- the order of the clear-cut cases ---------------------------------------------------------------------------


async def test_a_memory_with_both_rare_words_ranks_above_one_with_one(storage: Storage, ids: SequentialIds) -> None:
    one = memory(ids, "dentist on friday morning")
    both = memory(ids, "dentist appointment on friday")  # older and the same length: only the words decide
    await store(storage, ids, one, replace(both, created_at=TEST_NOW - timedelta(days=1)))

    assert await ranked(storage, "When is my dentist appointment?") == [both.id, one.id]


async def test_a_short_memory_ranks_above_a_long_one_with_the_same_single_match(
        storage: Storage, ids: SequentialIds) -> None:
    long = memory(ids, "remember to ask the dentist about the new insurance forms and the parking at the clinic")
    short = memory(ids, "dentist at 3pm", created=-timedelta(days=1))  # older: only the length decides
    await store(storage, ids, long, short)

    assert await ranked(storage, "dentist?") == [short.id, long.id]


async def test_the_same_word_repeated_ranks_higher(storage: Storage, ids: SequentialIds) -> None:
    once = memory(ids, "milk eggs flour butter")
    twice = memory(ids, "milk eggs milk butter", created=-timedelta(days=1))  # older, the same length
    await store(storage, ids, once, twice)

    assert await ranked(storage, "milk") == [twice.id, once.id]


async def test_a_rarer_word_weighs_more_than_a_common_one(storage: Storage, ids: SequentialIds) -> None:
    rare = memory(ids, "the plumber on friday", created=-timedelta(days=1))
    commons = [memory(ids, f"friday {thing}") for thing in ("market", "yoga", "football", "cinema")]
    await store(storage, ids, rare, *commons)

    hits = await ranked(storage, "plumber friday")
    assert hits[0] == rare.id
    assert set(hits) == {rare.id, *(common.id for common in commons)}


async def test_equal_scores_go_newest_first(storage: Storage, ids: SequentialIds) -> None:
    older, newer = memory(ids, "dentist", created=-timedelta(days=1)), memory(ids, "dentist")
    await store(storage, ids, older, newer)

    assert await ranked(storage, "dentist") == [newer.id, older.id]


# --- filters, inside the ranking --------------------------------------------------------------------------------


async def test_a_filter_never_empties_a_truncated_top_k(storage: Storage, ids: SequentialIds) -> None:
    notes = [memory(ids, "dentist dentist") for _ in range(5)]
    reminder = memory(ids, "call the clinic about the dentist and the insurance forms", type=MemoryType.REMINDER)
    await store(storage, ids, *notes, reminder)

    assert reminder.id not in await ranked(storage, "dentist", limit=3)
    assert await ranked(storage, "dentist", limit=3, filters=SearchFilters(type=MemoryType.REMINDER)) == [reminder.id]


async def test_filters_by_tags_all_of_source_and_strict_dates(storage: Storage, ids: SequentialIds) -> None:
    both_tags = memory(ids, "dentist bill", tags=("health", "money"))
    one_tag = memory(ids, "dentist visit", tags=("health",))
    from_whatsapp = memory(ids, "dentist says hi", source=Source.WHATSAPP)
    earlier = memory(ids, "dentist last week", created=-timedelta(days=7))
    later = memory(ids, "dentist next week", created=timedelta(days=7))
    await store(storage, ids, both_tags, one_tag, from_whatsapp, earlier, later)

    assert await ranked(storage, "dentist", filters=SearchFilters(tags=("money", "health"))) == [both_tags.id]
    assert set(await ranked(storage, "dentist", filters=SearchFilters(tags=("health",)))) == {both_tags.id, one_tag.id}
    assert await ranked(storage, "dentist", filters=SearchFilters(source=Source.WHATSAPP)) == [from_whatsapp.id]
    assert await ranked(storage, "dentist", filters=SearchFilters(created_after=TEST_NOW)) == [later.id]
    assert await ranked(storage, "dentist", filters=SearchFilters(created_before=TEST_NOW)) == [earlier.id]
    between = SearchFilters(created_after=earlier.created_at, created_before=later.created_at)
    assert set(await ranked(storage, "dentist", filters=between)) == {both_tags.id, one_tag.id, from_whatsapp.id}


# --- exact scores -----------------------------------------------------------------------------------------------


async def test_postgres_scores_are_the_domains_bm25(storage: Storage, ids: SequentialIds) -> None:
    if storage.name == "sqlite":
        pytest.skip("FTS5's bm25 has its own statistics (every owner's, no lengths): only orders compare")
    contents = ["dentist at 3pm", "dentist appointment moved, dentist says hi", "dentist dentist dentist",
                "the plumber fixed the dentist's sink", "café", "?!"]
    await store(storage, ids, *(memory(ids, content, created=timedelta(minutes=n)) for n, content in
                                enumerate(contents)),
                memory(ids, "ask the dentist about the sink", type=MemoryType.REMINDER))
    stored = await all_memories(storage)

    for question, filters in (("When is my dentist appointment?", NO_FILTERS), ("plumber sink café", NO_FILTERS),
                              ("dentist", NO_FILTERS), ("dentist sink", SearchFilters(type=MemoryType.REMINDER))):
        expected = ranking.rank(question, stored, filters=filters, limit=100)
        hits = await rank(storage, question, limit=100, filters=filters)
        assert [hit.memory_id for hit in hits] == [hit.memory_id for hit in expected]
        assert [hit.score for hit in hits] == pytest.approx([hit.score for hit in expected], rel=1e-9)
