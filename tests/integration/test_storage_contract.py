"""One storage contract, run against every backend (see conftest.py), so the in-memory fake cannot drift from SQL."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

import pytest
from sqlalchemy import event

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery, SortField, SortOrder
from memo.application.errors import NestedUnitOfWork
from memo.application.ports import KeyStore, SealedSecrets, SecretBox, UnitOfWork
from memo.domain.errors import OwnerAlreadyExists, SecretUnreadable, ValidationFailed
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import ApiKey, Owner
from memo.domain.search import normalise, parse_search, words
from tests.integration.conftest import SqlStorage

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)


class ReversingBox(SecretBox):
    """Sealing that is trivially reversible but never the identity, so an unopened secret would show; bound to the
    key id as the real box is, so a store that opens a row's secret for another key id would show too."""

    def seal(self, plaintext: bytes, *, key_id: str) -> bytes:
        return f"sealed for {key_id}:".encode() + plaintext[::-1]

    def open(self, sealed: bytes, *, key_id: str) -> bytes:
        prefix = f"sealed for {key_id}:".encode()
        if not sealed.startswith(prefix):
            raise SecretUnreadable("it was sealed for another key id")
        return sealed.removeprefix(prefix)[::-1]


def sealed_secrets(storage: Storage, box: SecretBox) -> SealedSecrets:
    """Every key store is also the store of the sealed secrets, as the providers wire it."""
    return cast("SealedSecrets", storage.key_store(box))


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
    """Through `MemoryReads`, as a list request reads (on a SQLite file, its reader connections); the tests that
    open a unit of work themselves read through its repository, as a block that also writes does."""
    page = await storage.reads().find(owner, MemoryQuery(**query))
    return list(page.items)


async def found_ids(storage: Storage, owner: UUID = ALICE, **query: Any) -> list[UUID]:
    return [memory.id for memory in await find(storage, owner, **query)]


async def get(storage: Storage, memory_id: UUID, owner: UUID = ALICE) -> Memory | None:
    return await storage.reads().get(owner, memory_id)


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


async def test_get_many_returns_the_owners_memories_among_the_ids_and_never_another_owners(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    mine = [make_memory(ids, owner=ALICE, content=f"mine {n}") for n in range(3)]
    theirs = make_memory(ids, owner=BOB, content="theirs")
    await store(storage, *mine, theirs)

    async with storage.uow() as uow:
        found = await uow.memories.get_many(ALICE, [mine[2].id, theirs.id, ids.new_id(), mine[0].id])
        none = await uow.memories.get_many(BOB, [memory.id for memory in mine])

    assert sorted(found, key=lambda memory: memory.id) == sorted([mine[0], mine[2]], key=lambda memory: memory.id)
    assert none == []


async def test_get_many_on_sqlite_probes_the_primary_key_not_the_owners_index(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    if not isinstance(storage, SqlStorage) or storage.name != "sqlite":
        pytest.skip("a SQLite query plan")
    await store(storage, *(make_memory(ids, owner=ALICE, content=f"note {n}") for n in range(50)))
    plans: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: object) -> None:
        if statement.lstrip().startswith("SELECT memories.id") and "IN (" in statement:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.extend(str(row[-1]) for row in cursor.fetchall())

    event.listen(storage.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with storage.uow() as uow:
            await uow.memories.get_many(ALICE, [ids.new_id() for _ in range(60)])
    finally:
        event.remove(storage.engine.sync_engine, "before_cursor_execute", capture)

    assert plans, "no lookup by ids was run"
    assert any("sqlite_autoindex_memories" in plan or "PRIMARY KEY" in plan for plan in plans), plans
    assert not any("ix_memories_owner" in plan for plan in plans), plans


# --- memories: filters ------------------------------------------------------------------------------------------


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


# --- memories: keyword search (full text) ------------------------------------------------------------------------
# One corpus and one table of (search text -> expected memories) for every store; memo.domain.search says why.

SEARCH_CORPUS: dict[str, str] = {
    "milk": "Buy milk and bread at the corner shop",
    "milk_caps": "MILK prices are up again",
    "oat": "Oat-milk latte, no sugar",
    "cafe": "Café crème with Jürgen in Köln",
    "cafe_plain": "cafe without accents",
    "cafe_nfd": "Cafe\u0301 spelled with a combining accent",
    "strasse": "Die Straße ist gesperrt",
    "russian": "Купить молоко и хлеб",
    "greek": "ΟΔΟΣ Αθηνάς: ο δρόμος",  # noqa: RUF001 - Greek on purpose
    "cjk": "東京タワー 行きたい",
    "hindi": "हिन्दी भाषा सीखना",
    "email": "Send the e-mail to bob@example.com about v1.2.3 of https://example.com/docs",
    "apostrophe": "Don't forget Ann\u2019s birthday",
    "phrase": "the quick brown fox jumps over the lazy dog",
    "reversed": "the dog is lazy and brown, quick fox",
    "emoji": "pizza🍕night and lunch🙂time 👍🏽",
    "turkish": "İstanbul trip, then İZMİR",
    "micro": "a 5 µm filter, 5µm",
    "numbers": "Room 42, floor 3.5 (x² ½)",
    "or_word": "this or that",
    "operators": 'NEAR(alpha beta) gamma* ^delta col:value "quoted" AND',
    "snake": "snake_case and file_name.txt",
}
EVERYTHING = frozenset(SEARCH_CORPUS)
WITH_MILK = frozenset({"milk", "milk_caps", "oat"})

SEARCH_CASES: list[tuple[str, frozenset[str]]] = [
    # words, case, AND
    ("milk", WITH_MILK),
    ("MILK", WITH_MILK),
    ("mIlK bread", frozenset({"milk"})),
    ("bread milk", frozenset({"milk"})),
    ("milk cheese", frozenset()),
    ("mil", frozenset()),  # whole words only: no prefix or substring matching
    ("lazy dog", frozenset({"phrase", "reversed"})),
    # phrases
    ('"milk and bread"', frozenset({"milk"})),
    ('"bread and milk"', frozenset()),
    ('"lazy dog"', frozenset({"phrase"})),
    ('"brown fox"', frozenset({"phrase"})),
    ('"quick fox"', frozenset({"reversed"})),
    ('"lazy dog', frozenset({"phrase"})),  # a quote left open runs to the end
    # OR, AND binding tighter
    ("fox or pizza", frozenset({"phrase", "reversed", "emoji"})),
    ("FOX OR pizza", frozenset({"phrase", "reversed", "emoji"})),
    ("quick lazy or milk bread", frozenset({"phrase", "reversed", "milk"})),
    ('"brown fox" or "milk and bread"', frozenset({"phrase", "milk"})),
    ("this or that", frozenset({"or_word"})),
    ('"this or that"', frozenset({"or_word"})),
    ("or", frozenset({"or_word"})),
    ("that or", frozenset({"or_word"})),
    ("or or that", frozenset({"or_word"})),
    # exclusion
    ("milk -bread", frozenset({"milk_caps", "oat"})),
    ('fox -"lazy dog"', frozenset({"reversed"})),
    ("fox --lazy", frozenset()),
    ("fox - lazy", frozenset({"phrase", "reversed"})),  # a lone minus is punctuation
    ("-milk", EVERYTHING - WITH_MILK),
    ('-milk -"the quick"', EVERYTHING - WITH_MILK - {"phrase"}),
    ("pizza or -milk", EVERYTHING - WITH_MILK),
    ("milk or -milk", EVERYTHING),
    ("milk -milk", frozenset()),
    # letters beyond ASCII: accents kept, case folded, no Unicode normalisation
    ("café", frozenset({"cafe"})),
    ("CAFÉ", frozenset({"cafe"})),
    ("cafe", frozenset({"cafe_plain"})),
    ("cafe\u0301", frozenset({"cafe_nfd"})),
    ("KÖLN jürgen", frozenset({"cafe"})),
    ("straße", frozenset({"strasse"})),
    ("STRAẞE", frozenset({"strasse"})),
    ("strasse", frozenset()),
    ("молоко", frozenset({"russian"})),
    ("ХЛЕБ Купить", frozenset({"russian"})),
    ("οδος", frozenset({"greek"})),
    ("ΔΡΌΜΟΣ", frozenset({"greek"})),
    ("αθηνάς", frozenset({"greek"})),
    ("东京", frozenset()),
    ("東京タワー", frozenset({"cjk"})),
    ("東京", frozenset()),  # no segmentation of scripts written without spaces: a run of letters is one word
    ("हिन्दी", frozenset({"hindi"})),
    ("istanbul", frozenset({"turkish"})),
    ("İSTANBUL izmir", frozenset({"turkish"})),
    ("µm", frozenset({"micro"})),
    ("\u03bcm", frozenset({"micro"})),
    ("5µm", frozenset({"micro"})),  # digits and letters together make one word
    # punctuation separates words: hyphens, apostrophes, addresses, versions, underscores
    ("e-mail", frozenset({"email"})),
    ('"e mail"', frozenset({"email"})),
    ("email", frozenset()),
    ("mail", frozenset({"email"})),
    ("bob@example.com", frozenset({"email"})),
    ("example", frozenset({"email"})),
    ("v1.2.3", frozenset({"email"})),
    ("https://example.com/docs", frozenset({"email"})),
    ("don't", frozenset({"apostrophe"})),
    ("don\u2019t", frozenset({"apostrophe"})),
    ("ann's birthday", frozenset({"apostrophe"})),
    ("snake", frozenset({"snake"})),
    ("file_name.txt", frozenset({"snake"})),
    ("3.5", frozenset({"numbers"})),
    ("x²", frozenset({"numbers"})),
    ("42", frozenset({"numbers"})),
    # symbols and emoji separate words too, even those newer than SQLite's Unicode tables
    ("lunch", frozenset({"emoji"})),
    ("time", frozenset({"emoji"})),
    ("pizza🍕night", frozenset({"emoji"})),
    ("lunch🙂", frozenset({"emoji"})),
    # operators of FTS5 and tsquery are plain text
    ("NEAR(alpha beta)", frozenset({"operators"})),
    ("gamma*", frozenset({"operators"})),
    ("^delta", frozenset({"operators"})),
    ("col:value", frozenset({"operators"})),
    ("alpha AND beta", frozenset({"operators"})),
    ("alpha NOT beta", frozenset()),
    ("alpha & !beta", frozenset({"operators"})),
    ("alpha & !zzz", frozenset()),  # "!" is no negation here: only a leading "-" is
    ("(alpha", frozenset({"operators"})),
    ('beta" quoted', frozenset({"operators"})),
    ("alpha:* | delta <-> gamma", frozenset({"operators"})),
    # nothing to search for matches nothing
    ("!!!", frozenset()),
    ('"', frozenset()),
    ('""', frozenset()),
    ("-", frozenset()),
    ("--", frozenset()),
    ("***", frozenset()),
    ("()", frozenset()),
    ("🙂", frozenset()),
    ("½", frozenset()),
    (' - "" ', frozenset()),
]

# Texts no engine may choke on; the expected memories come from memo.domain.search itself.
HOSTILE_SEARCHES = [
    'NEAR("a" "b", 3)', "NEAR(a b, 2)", "a OR OR b", "OR", "AND", "NOT", "a NOT", "NOT a", '"""', "'", "''",
    "'; DROP TABLE memories; --", "%", "_", "%_\\", "\\", "*", "a*", "*a", "^a", "a:b:c", "content:milk",
    "memories_fts:milk", "{milk}", "[milk]", "milk)", "((milk", "milk +bread", "!milk", "!(milk & bread)",
    "milk & bread | fox", "milk <-> bread", "milk <2> bread", "milk:*", "milk:A", "milk:*A", '-"', '-"milk',
    '"milk -bread"', '"milk or bread"', "milk\u0000bread", "milk\tbread\nfox", "\u200bmilk\u200b",
    "\U0010fffd", "\ud7ff", "a" * 600, " ".join(["milk"] * 300), " or ".join(["zzz"] * 200),
    " ".join(f"-w{n}" for n in range(200)), "ǅemal", "ﬁnance", "Ⅻ", "a\u0301\u0301\u0301",
]


def oracle(text: str) -> frozenset[str]:
    query = parse_search(text)
    return frozenset(name for name, content in SEARCH_CORPUS.items() if query.matches(content))


@pytest.fixture
async def search_corpus(storage: Storage, owners: object, ids: SequentialIds) -> dict[UUID, str]:
    memories = {name: make_memory(ids, content=content, created=TEST_NOW + timedelta(seconds=n))
                for n, (name, content) in enumerate(SEARCH_CORPUS.items())}
    bobs = make_memory(ids, owner=BOB, content="Bob's milk, bread, café and fox")
    await store(storage, *memories.values(), bobs)
    return {memory.id: name for name, memory in memories.items()}


async def found_names(storage: Storage, names: dict[UUID, str], **query: Any) -> frozenset[str]:
    return frozenset(names[memory_id] for memory_id in await found_ids(storage, limit=100, **query))


async def test_search_corpus_answers_the_same_on_every_store(
        storage: Storage, search_corpus: dict[UUID, str]) -> None:
    answers = {text: await found_names(storage, search_corpus, search=text) for text, _ in SEARCH_CASES}

    assert answers == dict(SEARCH_CASES)


def test_the_search_table_agrees_with_the_domain_semantics() -> None:
    assert {text: oracle(text) for text, _ in SEARCH_CASES} == dict(SEARCH_CASES)


async def test_hostile_search_texts_never_fail_and_answer_as_the_domain_says(
        storage: Storage, search_corpus: dict[UUID, str]) -> None:
    answers = {text: await found_names(storage, search_corpus, search=text) for text in HOSTILE_SEARCHES}

    assert answers == {text: oracle(text) for text in HOSTILE_SEARCHES}


async def test_search_combines_with_the_other_filters_and_pages_count_every_match(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    start = TEST_NOW
    matching = [make_memory(ids, content=f"call the plumber, visit {n}", type=MemoryType.REMINDER, tags=("home",),
                            created=start + timedelta(minutes=n)) for n in range(5)]
    others = [
        make_memory(ids, content="call the plumber", type=MemoryType.NOTE, tags=("home",), created=start),
        make_memory(ids, content="call the plumber", type=MemoryType.REMINDER, tags=("work",), created=start),
        make_memory(ids, content="call the plumber", type=MemoryType.REMINDER, tags=("home",),
                    created=start - timedelta(days=1)),
        make_memory(ids, content="call the electrician", type=MemoryType.REMINDER, tags=("home",), created=start),
        make_memory(ids, owner=BOB, content="call the plumber", type=MemoryType.REMINDER, tags=("home",),
                    created=start),
    ]
    await store(storage, *matching, *others)
    newest_first = [memory.id for memory in reversed(matching)]
    query = MemoryQuery(search="PLUMBER call", type=MemoryType.REMINDER, tags=("home",),
                        created_after=start - timedelta(hours=1), created_before=start + timedelta(hours=1),
                        limit=2)

    async with storage.uow() as uow:
        pages = [await uow.memories.find(ALICE, replace(query, offset=offset)) for offset in (0, 2, 4, 6)]
        excluded = await uow.memories.find(ALICE, replace(query, search="plumber -visit", limit=20))
        nothing = await uow.memories.find(ALICE, replace(query, search="?!"))

    assert [[memory.id for memory in page.items] for page in pages] == [
        newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert [page.total for page in pages] == [5, 5, 5, 5]
    assert (excluded.total, list(excluded.items)) == (0, [])
    assert (nothing.total, list(nothing.items)) == (0, [])


async def test_search_sees_content_as_updated_and_forgets_removed_memories(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    memory = make_memory(ids, content="first draft about zeppelins", tags=("t",))
    neighbour = make_memory(ids, content="zeppelins and balloons")
    await store(storage, memory, neighbour)
    revised = memory.revise(content="final text about airships", now=TEST_NOW + timedelta(seconds=1))
    retagged = revised.revise(tags=("u",), now=TEST_NOW + timedelta(seconds=2))

    async with storage.uow() as uow:
        assert await uow.memories.replace(revised, expected_version=1)
        await uow.commit()
    assert await found_ids(storage, search="zeppelins") == [neighbour.id]
    assert await found_ids(storage, search="draft") == []
    assert await found_ids(storage, search='"about airships"') == [memory.id]

    async with storage.uow() as uow:  # a change that leaves the content alone keeps it found
        assert await uow.memories.replace(retagged, expected_version=2)
        await uow.commit()
    assert await found_ids(storage, search="airships") == [memory.id]

    async with storage.uow() as uow:
        assert await uow.memories.remove(ALICE, memory.id)
        await uow.commit()
    assert await found_ids(storage, search="airships") == []
    assert await found_ids(storage, search="-airships") == [neighbour.id]
    assert await found_ids(storage, search="zeppelins") == [neighbour.id]


async def test_search_ignores_writes_that_were_rolled_back(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    kept = make_memory(ids, content="kept words")
    await store(storage, kept)

    async with storage.uow() as uow:
        await uow.memories.add(make_memory(ids, content="discarded words"))
        assert await uow.memories.replace(replace(kept, content="changed", version=2), expected_version=1)

    assert await found_ids(storage, search="words") == [kept.id]
    assert await found_ids(storage, search="discarded or changed") == []
    assert await found_ids(storage, search="kept") == [kept.id]


# Every assigned character (but controls, private use and surrogates), each between two letters: does each store
# cut and fold it as memo.domain.search says? The differences left are the documented limits of docs/decisions.md.
def _letters(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text += chr(ord("a") + digit)
        if not number:
            return text


def _probe_contents() -> list[str]:
    characters = [chr(code) for code in range(0x21, 0x110000)
                  if unicodedata.category(chr(code)) not in {"Cc", "Cn", "Co", "Cs"} and not chr(code).isspace()]
    pieces = [f"l{_letters(n)}{character}r{_letters(n)}" for n, character in enumerate(characters)]
    per_memory = 800  # pieces of up to 11 characters: within the 10,000 a memory may hold
    return [" ".join(pieces[start:start + per_memory]) for start in range(0, len(pieces), per_memory)]


async def _stored_words(storage: SqlStorage) -> dict[str, list[str]]:
    """The words each engine indexed, in order, by content: read from the FTS5 index or the tsvector column."""
    found: dict[object, list[tuple[int, str]]] = {}
    async with storage.engine.connect() as connection:
        if storage.name == "sqlite":
            await connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE temp.fts_words USING fts5vocab(main, 'memories_fts', 'instance')")
            rows = await connection.exec_driver_sql("SELECT doc, offset, term FROM temp.fts_words")
            contents = await connection.exec_driver_sql(
                "SELECT memory_rowids.rowid, content FROM memories JOIN memory_rowids ON memory_id = memories.id")
        else:
            rows = await connection.exec_driver_sql("SELECT id, unnest(positions), lexeme FROM memories, "
                                                    "unnest(content_tsv)")
            contents = await connection.exec_driver_sql("SELECT id, content FROM memories")
        for key, position, word in rows:
            found.setdefault(key, []).append((position, word))
        return {content: [word for _, word in sorted(found[key])] for key, content in contents if key in found}


def _differences(content: str, stored: list[str]) -> tuple[set[str], set[str]]:
    """(characters cut differently, characters folded differently) in one probe memory."""
    cut: set[str] = set()
    folded: set[str] = set()
    position = 0
    for piece in content.split(" "):
        character = piece[len(piece) // 2]
        expected = words(piece)
        if stored[position:position + len(expected)] == expected:
            position += len(expected)
        elif len(expected) == 1 and normalise(stored[position]) == expected[0]:
            folded.add(character)
            position += 1
        else:
            cut.add(character)
            position += 2 if len(expected) == 1 else 1
    assert position == len(stored)
    return cut, folded


@pytest.mark.skipif(unicodedata.unidata_version != "14.0.0",
                    reason="migration 0002's FTS5 separators were computed for Unicode 14.0")
async def test_every_character_is_cut_and_folded_as_the_domain_says(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    if not isinstance(storage, SqlStorage):
        pytest.skip("the in-memory store is the domain's own code")
    contents = _probe_contents()
    await store(storage, *(make_memory(ids, content=content) for content in contents))

    stored = await _stored_words(storage)
    cut: set[str] = set()
    folded: set[str] = set()
    for content in contents:
        differently_cut, differently_folded = _differences(content, stored[content])
        cut |= differently_cut
        folded |= differently_folded

    categories = {unicodedata.category(character) for character in cut}
    if storage.name == "sqlite":
        # FTS5's case tables predate some scripts' capitals (Cherokee, Georgian Mtavruli, Osage...): kept as typed
        assert cut == set()
        assert {unicodedata.category(character) for character in folded} <= {"Lu", "Lt"}
        assert len(folded) < 450
    else:
        # glibc takes enclosed letters (Ⓐ, 🅰) as letters and a few rare combining signs as separators
        assert folded == set()
        assert categories <= {"So", "Mc"}
        assert len(cut) < 200


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


# --- memories: keyset pages, owners of ids, bulk add (export and import) ----------------------------------------


def _with_id(memory: Memory, memory_id: UUID) -> Memory:
    return replace(memory, id=memory_id)


async def _walk(storage: Storage, owner: UUID, *, limit: int) -> list[list[UUID]]:
    """Every keyset page of the owner, the cursor taken from each page's last memory, as the export walks them."""
    pages: list[list[UUID]] = []
    after: tuple[datetime, UUID] | None = None
    while True:
        async with storage.uow() as uow:
            page = await uow.memories.page_after(owner, after, limit=limit)
        if not page:
            return pages
        pages.append([memory.id for memory in page])
        after = (page[-1].created_at, page[-1].id)


async def test_keyset_pages_walk_created_at_then_id_and_split_equal_times_without_loss_or_repeat(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    same = datetime(2026, 5, 1, 8, 0, 0, 250000, tzinfo=UTC)
    # ids chosen so that neither insertion order nor the SequentialIds order is the (created_at, id) order
    tie_ids = [UUID("f0000000-0000-7000-8000-000000000001"), UUID("00000000-0000-7000-8000-0000000000ff"),
               UUID("80000000-0000-7000-8000-000000000000"), UUID("0fffffff-ffff-7fff-bfff-ffffffffffff"),
               UUID("7fffffff-ffff-7fff-bfff-ffffffffffff")]
    ties = [_with_id(make_memory(ids, content=f"tie {n}", created=same), memory_id)
            for n, memory_id in enumerate(tie_ids)]
    earlier = make_memory(ids, content="a microsecond before", created=same - timedelta(microseconds=1))
    later = make_memory(ids, content="a microsecond after", created=same + timedelta(microseconds=1))
    await store(storage, later, *ties, earlier, make_memory(ids, owner=BOB, created=same))
    expected = [earlier.id, *sorted(tie_ids), later.id]

    assert await _walk(storage, ALICE, limit=2) == [expected[0:2], expected[2:4], expected[4:6], expected[6:]]
    assert await _walk(storage, ALICE, limit=7) == [expected]
    assert await _walk(storage, ALICE, limit=3) == [expected[0:3], expected[3:6], expected[6:]]


async def test_a_keyset_page_after_a_cursor_starts_strictly_after_it(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    same = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    tie_ids = sorted(ids.new_id() for _ in range(3))
    ties = [_with_id(make_memory(ids, created=same), memory_id) for memory_id in tie_ids]
    await store(storage, *ties)

    async with storage.uow() as uow:
        from_middle = await uow.memories.page_after(ALICE, (same, tie_ids[1]), limit=10)
        from_before = await uow.memories.page_after(ALICE, (same - timedelta(microseconds=1), tie_ids[2]), limit=10)
        from_end = await uow.memories.page_after(ALICE, (same, tie_ids[2]), limit=10)

    assert [memory.id for memory in from_middle] == [tie_ids[2]]
    assert [memory.id for memory in from_before] == tie_ids
    assert from_end == []


async def test_keyset_pages_hold_only_the_owners_memories_read_back_whole(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    created = datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    alices = [replace(make_memory(ids, content=f"alice {n}", tags=("t", f"n{n}"), metadata={"n": n},
                                  created=created + timedelta(seconds=2 * n)), source=Source.IMPORT)
              for n in range(3)]
    bobs = [make_memory(ids, owner=BOB, content=f"bob {n}", created=created + timedelta(seconds=2 * n + 1))
            for n in range(3)]
    await store(storage, *bobs, *alices)

    async with storage.uow() as uow:
        alice_pages = [await uow.memories.page_after(ALICE, None, limit=2),
                       await uow.memories.page_after(ALICE, (alices[1].created_at, alices[1].id), limit=2)]
        bob_after_alice = await uow.memories.page_after(BOB, (alices[0].created_at, alices[0].id), limit=10)
        nobody = await uow.memories.page_after(ids.new_id(), None, limit=10)

    assert [list(page) for page in alice_pages] == [alices[0:2], alices[2:]]
    assert [memory.id for memory in bob_after_alice] == [memory.id for memory in bobs]
    assert nobody == []


async def test_owners_of_names_the_holder_of_each_known_id_and_leaves_unknown_ids_out(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    alices = [make_memory(ids, owner=ALICE) for _ in range(3)]
    bobs = [make_memory(ids, owner=BOB) for _ in range(2)]
    await store(storage, *alices, *bobs)
    unknown = [ids.new_id() for _ in range(2)]

    async with storage.uow() as uow:
        asked = [unknown[0], bobs[0].id, alices[0].id, alices[0].id, alices[2].id, unknown[1], bobs[1].id]
        found = await uow.memories.owners_of(asked)
        none = await uow.memories.owners_of([])
        only_unknown = await uow.memories.owners_of(unknown)

    assert dict(found) == {alices[0].id: ALICE, alices[2].id: ALICE, bobs[0].id: BOB, bobs[1].id: BOB}
    assert dict(none) == {}
    assert dict(only_unknown) == {}


async def test_owners_of_answers_for_more_ids_than_one_statement_takes(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    held = [make_memory(ids, owner=ALICE if n % 2 else BOB, content=f"n {n}") for n in range(1200)]
    async with storage.uow() as uow:
        await uow.memories.add_many(held)
        await uow.commit()
    unknown = [ids.new_id() for _ in range(300)]

    async with storage.uow() as uow:
        found = await uow.memories.owners_of([*unknown[:150], *(memory.id for memory in held), *unknown[150:]])

    assert dict(found) == {memory.id: memory.owner_id for memory in held}


async def test_add_many_stores_every_field_to_the_microsecond_and_indexes_the_tags(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    created = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    restored = [
        Memory.restored(id=ids.new_id(), owner_id=ALICE, content="Dentist on Friday", type=MemoryType.REMINDER,
                        tags=("health", "Friday"), metadata={"where": {"street": "Main Street 4", "floor": [1, 2.5]},
                                                             "ok": True, "none": None, "text": "äöü ☃"},
                        source=Source.API, created_at=created, updated_at=created + timedelta(days=3, microseconds=1),
                        version=4),
        Memory.restored(id=ids.new_id(), owner_id=ALICE, content="no tags", type=MemoryType.NOTE, tags=(),
                        metadata={}, source=Source.IMPORT, created_at=created + timedelta(microseconds=1),
                        updated_at=created + timedelta(microseconds=1), version=1),
        Memory.restored(id=ids.new_id(), owner_id=BOB, content="from the phone", type=MemoryType.WHATSAPP_RECEIVED,
                        tags=("health",), metadata={"whatsappMessageId": "wamid.x"}, source=Source.WHATSAPP,
                        created_at=created - timedelta(microseconds=1), updated_at=created, version=1),
    ]

    async with storage.uow() as uow:
        await uow.memories.add_many(restored)
        await uow.memories.add_many([])
        await uow.commit()

    async with storage.uow() as uow:
        alices = await uow.memories.get_many(ALICE, [memory.id for memory in restored])
        bobs = await uow.memories.get_many(BOB, [memory.id for memory in restored])
    assert sorted(alices, key=lambda memory: memory.id) == restored[:2]
    assert list(bobs) == restored[2:]
    assert restored[0].tags == ("health", "friday")  # lower-cased by the domain, stored as given
    assert await found_ids(storage, tags=("health", "friday")) == [restored[0].id]
    assert await found_ids(storage, BOB, tags=("health",)) == [restored[2].id]
    assert await _walk(storage, ALICE, limit=10) == [[restored[0].id, restored[1].id]]


async def test_add_many_rolled_back_leaves_nothing_behind(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    batch = [make_memory(ids, content=f"n {n}", tags=("gone",)) for n in range(5)]

    async with storage.uow() as uow:
        await uow.memories.add_many(batch)

    async with storage.uow() as uow:
        assert dict(await uow.memories.owners_of([memory.id for memory in batch])) == {}
    assert await found_ids(storage, tags=("gone",)) == []


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
                                      sealed_secret=box.seal(b"s", key_id="key_rolled_back"), created_at=TEST_NOW))
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


async def test_a_nested_block_on_the_same_unit_of_work_is_refused_and_the_outer_one_still_rolls_back(
        storage: Storage, owners: object, ids: SequentialIds) -> None:
    outer_write, inner_write = make_memory(ids), make_memory(ids)
    uow = storage.uow()

    async def nest() -> None:
        async with uow:
            await uow.memories.add(outer_write)
            with pytest.raises(NestedUnitOfWork, match="already open"):
                async with uow:
                    await uow.memories.add(inner_write)
            raise LookupError("the outer block fails after the refusal")

    with pytest.raises(LookupError):
        await nest()

    assert await get(storage, outer_write.id) is None  # the refusal left the outer block's rollback intact
    assert await get(storage, inner_write.id) is None
    async with uow:  # and once the outer block is left, the unit of work opens again
        await uow.memories.add(inner_write)
        await uow.commit()
    assert await get(storage, inner_write.id) == inner_write


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
    return ApiKey(key_id=key_id, owner_id=owner, label=label, sealed_secret=ReversingBox().seal(secret, key_id=key_id),
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


async def test_key_store_opens_a_secret_only_for_the_key_id_of_its_row(storage: Storage, owners: object) -> None:
    moved = replace(make_key("key_victim_01"), sealed_secret=make_key("key_donor_001").sealed_secret)
    async with storage.uow() as uow:
        await uow.api_keys.add(moved)
        await uow.commit()

    with pytest.raises(SecretUnreadable):
        await storage.key_store(ReversingBox()).find_active("key_victim_01")


async def test_sealed_secrets_sample_an_active_key_and_list_every_key_revoked_ones_included(
        storage: Storage, owners: object) -> None:
    box = ReversingBox()
    assert await sealed_secrets(storage, box).sample() is None
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_revoked_1", secret=b"old"))
        await uow.api_keys.revoke("key_revoked_1", TEST_NOW)
        await uow.commit()
    assert await sealed_secrets(storage, box).sample() is None  # only an active key is worth opening
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_active_01", created=TEST_NOW + timedelta(seconds=1), secret=b"new"))
        await uow.commit()

    secrets = sealed_secrets(storage, box)
    assert await secrets.sample() == ("key_active_01", box.seal(b"new", key_id="key_active_01"))
    assert list(await secrets.all()) == [("key_revoked_1", box.seal(b"old", key_id="key_revoked_1")),
                                         ("key_active_01", box.seal(b"new", key_id="key_active_01"))]


async def test_replacing_a_sealed_secret_is_compare_and_set_and_seen_by_the_key_store_at_once(
        storage: Storage, owners: object) -> None:
    box = ReversingBox()
    original = make_key("key_resealed1", secret=b"first seal")
    async with storage.uow() as uow:
        await uow.api_keys.add(original)
        await uow.commit()
    secrets, keys = sealed_secrets(storage, box), storage.key_store(box)
    resealed = box.seal(b"sealed anew", key_id="key_resealed1")  # this box is deterministic: a new plaintext

    assert await secrets.replace("key_resealed1", b"not what is stored", resealed) is False
    assert await secrets.replace("key_missing_01", original.sealed_secret, resealed) is False
    assert await secrets.replace("key_resealed1", original.sealed_secret, resealed) is True
    assert await secrets.replace("key_resealed1", original.sealed_secret, b"a stale second run") is False

    assert list(await secrets.all()) == [("key_resealed1", resealed)]
    active = await keys.find_active("key_resealed1")
    assert active is not None
    assert active.secret == b"sealed anew"
    async with storage.uow() as uow:
        stored = await uow.api_keys.get("key_resealed1")
    assert stored == replace(original, sealed_secret=resealed)  # nothing but the sealed bytes changed


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


# --- key rotation: a new secret, the previous one kept for its grace -----------------------------------------------


class RotationKeys(KeyStore, SealedSecrets, Protocol):
    """The key store and the sealed secrets in one, as the providers wire them."""


@pytest.fixture
def rotation_keys(storage: Storage) -> Callable[[SecretBox], RotationKeys]:
    """The key store every storage wires, which is also the store of the sealed secrets."""
    return lambda box: cast("RotationKeys", storage.key_store(box))


async def rotate_stored(storage: Storage, key_id: str, secret: bytes, *, grace_s: int,
                        now: datetime = TEST_NOW) -> bool:
    async with storage.uow() as uow:
        key = await uow.api_keys.get(key_id)
        assert key is not None
        rotated = key.rotated(ReversingBox().seal(secret, key_id=key_id), grace_s=grace_s, now=now)
        done = await uow.api_keys.rotate(rotated, replacing=key.sealed_secret)
        await uow.commit()
    return done


async def test_rotating_a_key_stores_both_secrets_and_the_end_of_the_grace(
        storage: Storage, owners: object) -> None:
    original = make_key("key_rotated01", secret=b"before")
    async with storage.uow() as uow:
        await uow.api_keys.add(original)
        await uow.commit()

    assert await rotate_stored(storage, "key_rotated01", b"after", grace_s=60) is True

    async with storage.uow() as uow:
        stored = await uow.api_keys.get("key_rotated01")
    assert stored == replace(original, sealed_secret=ReversingBox().seal(b"after", key_id="key_rotated01"),
                             previous_sealed_secret=original.sealed_secret,
                             previous_valid_until=TEST_NOW + timedelta(seconds=60))


async def test_the_key_store_gives_both_secrets_within_the_grace_and_only_the_new_one_after(
        storage: Storage, owners: object, rotation_keys: Callable[[SecretBox], RotationKeys]) -> None:
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_rotated01", owner=BOB, secret=b"before"))
        await uow.commit()
    await rotate_stored(storage, "key_rotated01", b"after", grace_s=60)

    active = await rotation_keys(ReversingBox()).find_active("key_rotated01")
    assert active is not None
    assert (active.owner_id, active.secret, active.previous_secret) == (BOB, b"after", b"before")
    assert active.previous_at(TEST_NOW + timedelta(seconds=59)) == b"before"
    assert active.previous_at(TEST_NOW + timedelta(seconds=60)) is None


async def test_rotating_is_compare_and_set_and_refused_for_a_revoked_or_unknown_key(
        storage: Storage, owners: object) -> None:
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_rotated01", secret=b"before"))
        await uow.api_keys.add(make_key("key_revoked_1"))
        await uow.api_keys.revoke("key_revoked_1", TEST_NOW)
        key = await uow.api_keys.get("key_rotated01")
        revoked = await uow.api_keys.get("key_revoked_1")
        await uow.commit()
    assert key is not None
    assert revoked is not None
    stale = key.rotated(b"from a run that read the key first", grace_s=60, now=TEST_NOW)
    await rotate_stored(storage, "key_rotated01", b"after", grace_s=60)

    async with storage.uow() as uow:
        assert await uow.api_keys.rotate(stale, replacing=key.sealed_secret) is False
        assert await uow.api_keys.rotate(revoked.rotated(b"x", grace_s=60, now=TEST_NOW),
                                         replacing=revoked.sealed_secret) is False
        unknown = make_key("key_unknown_1")
        assert await uow.api_keys.rotate(unknown.rotated(b"x", grace_s=60, now=TEST_NOW),
                                         replacing=unknown.sealed_secret) is False
        await uow.commit()
    async with storage.uow() as uow:
        stored = await uow.api_keys.get("key_rotated01")
    assert stored is not None
    assert stored.sealed_secret == ReversingBox().seal(b"after", key_id="key_rotated01")


async def test_revoking_a_rotated_key_ends_both_secrets(
        storage: Storage, owners: object, rotation_keys: Callable[[SecretBox], RotationKeys]) -> None:
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_rotated01", secret=b"before"))
        await uow.commit()
    await rotate_stored(storage, "key_rotated01", b"after", grace_s=60)
    async with storage.uow() as uow:
        await uow.api_keys.revoke("key_rotated01", TEST_NOW)
        await uow.commit()

    assert await rotation_keys(ReversingBox()).find_active("key_rotated01") is None


async def test_sealed_secrets_list_and_replace_the_previous_secret_of_a_rotated_key(
        storage: Storage, owners: object, rotation_keys: Callable[[SecretBox], RotationKeys]) -> None:
    box = ReversingBox()
    async with storage.uow() as uow:
        await uow.api_keys.add(make_key("key_rotated01", secret=b"before"))
        await uow.commit()
    await rotate_stored(storage, "key_rotated01", b"after", grace_s=60)
    keys = rotation_keys(box)
    current, previous = box.seal(b"after", key_id="key_rotated01"), box.seal(b"before", key_id="key_rotated01")
    assert list(await keys.all()) == [("key_rotated01", current), ("key_rotated01", previous)]

    resealed_previous = box.seal(b"before, sealed anew", key_id="key_rotated01")
    assert await keys.replace("key_rotated01", previous, resealed_previous) is True
    assert await keys.replace("key_rotated01", previous, b"a stale second run") is False

    active = await keys.find_active("key_rotated01")
    assert active is not None
    assert (active.secret, active.previous_secret) == (b"after", b"before, sealed anew")
