"""The Pinecone vector index through the real `pinecone` SDK against a fake Pinecone data plane over real HTTP:
namespaces per owner, filters translated and applied in the index, batching under Pinecone's limits, the check of
the index's dimension and metric, every failure mapped to VectorIndexUnavailable within the deadline, and an API
key that is sent as Api-Key and shows up nowhere else."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import traceback
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from pinecone._internal import http_client as pinecone_http

from memo.adapters.vectors.pinecone import PineconeVectorIndex, epoch_s, filter_of, namespace_of
from memo.application.errors import VectorIndexUnavailable
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.retrieval import SearchFilters, VectorEntry
from tests.conftest import NOW
from tests.support.fake_graph import unaccepting_port
from tests.support.fake_pinecone import (
    DELETE_PATH,
    DROP,
    MAX_REQUEST_BYTES,
    QUERY_PATH,
    STATS_PATH,
    UPSERT_PATH,
    FakePinecone,
    json_reply,
    pinecone_error,
    stall,
)

API_KEY = "pcsk_4Xq7_memoTESTkey-do-not-leak-93be0c1f"
DIMENSIONS = 4
TIMEOUT_S = 0.3
DEADLINE_S = 1.0
ALICE = UUID("0190f5d2-1111-7000-8000-00000000a11c")
BOB = UUID("0190f5d2-2222-7000-8000-000000000b0b")


def make_index(host: str, *, dimensions: int = DIMENSIONS, **options: object) -> PineconeVectorIndex:
    settings: dict[str, object] = {"timeout_s": TIMEOUT_S, "deadline_s": DEADLINE_S, **options}
    return PineconeVectorIndex(api_key=str(settings.pop("api_key", API_KEY)), host=host, dimensions=dimensions,
                               **settings)  # type: ignore[arg-type]


def memory(owner: UUID = ALICE, *, type: MemoryType = MemoryType.NOTE, tags: Sequence[str] = (),  # noqa: A002
           source: Source = Source.API, age: timedelta = timedelta(0)) -> Memory:
    return Memory.create(id=uuid4(), owner_id=owner, content="something to remember", type=type, tags=tags,
                         source=source, now=NOW - age)


def entry(item: Memory, vector: Sequence[float] = (1.0, 0.0, 0.0, 0.0)) -> VectorEntry:
    return VectorEntry(memory_id=item.id, owner_id=item.owner_id, vector=list(vector), type=item.type, tags=item.tags,
                       source=item.source, created_at=item.created_at)


def unit(angle_degrees: float) -> list[float]:
    """A unit vector in the first plane at `angle_degrees` from (1, 0, 0, 0): its cosine to that axis is known."""
    radians = math.radians(angle_degrees)
    return [math.cos(radians), math.sin(radians), 0.0, 0.0]


@pytest.fixture
def fake() -> Iterator[FakePinecone]:
    server = FakePinecone(api_key=API_KEY, dimension=DIMENSIONS)
    yield server
    server.close()


@pytest.fixture
async def index(fake: FakePinecone) -> AsyncIterator[PineconeVectorIndex]:
    adapter = make_index(fake.host)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own seam for its retry sleeps: its retries of a refused or dropped connection run at once."""
    async def no_sleep(_seconds: float) -> None:
        return None

    monkeypatch.setattr(pinecone_http, "_async_retry_sleep", no_sleep)


# --- namespaces and metadata -----------------------------------------------------------------------------------


async def test_upsert_writes_each_owners_vectors_into_its_own_namespace_with_their_filterable_metadata(
        fake: FakePinecone, index: PineconeVectorIndex) -> None:
    note = memory(ALICE, tags=("work", "urgent"), age=timedelta(days=2))
    chat = memory(BOB, type=MemoryType.WHATSAPP_RECEIVED, source=Source.WHATSAPP)

    await index.upsert([entry(note, [0.5, 0.5, 0.5, 0.5]), entry(chat)])

    assert fake.namespaces == {f"owner-{ALICE}": 1, f"owner-{BOB}": 1}
    stored = fake.namespace(f"owner-{ALICE}")[str(note.id)]
    assert stored.values == [0.5, 0.5, 0.5, 0.5]
    assert stored.metadata == {"type": "note", "source": "api", "tags": ["work", "urgent"],
                               "created_at": (NOW - timedelta(days=2)).timestamp()}
    assert fake.namespace(f"owner-{BOB}")[str(chat.id)].metadata == {
        "type": "whatsapp_received", "source": "whatsapp", "created_at": NOW.timestamp()}  # no empty tag list
    assert {request.json()["namespace"] for request in fake.requests_to(UPSERT_PATH)} == {
        namespace_of(ALICE), namespace_of(BOB)}


async def test_a_query_searches_only_the_owners_namespace(fake: FakePinecone, index: PineconeVectorIndex) -> None:
    mine, theirs = memory(ALICE), memory(BOB)
    await index.upsert([entry(mine), entry(theirs)])

    hits = await index.query(ALICE, [1.0, 0.0, 0.0, 0.0], limit=10, filters=SearchFilters())

    assert [hit.memory_id for hit in hits] == [mine.id]
    assert await index.query(uuid4(), [1.0, 0.0, 0.0, 0.0], limit=10, filters=SearchFilters()) == []
    assert fake.requests_to(QUERY_PATH)[0].json()["namespace"] == f"owner-{ALICE}"


async def test_query_answers_best_first_with_the_cosine_similarity_and_asks_for_no_values_or_metadata(
        fake: FakePinecone, index: PineconeVectorIndex) -> None:
    angles = {30.0: memory(), 80.0: memory(), 0.0: memory(), 60.0: memory(), 170.0: memory()}
    await index.upsert([entry(item, unit(angle)) for angle, item in angles.items()])

    hits = await index.query(ALICE, [2.0, 0.0, 0.0, 0.0], limit=4, filters=SearchFilters())

    assert [hit.memory_id for hit in hits] == [angles[0.0].id, angles[30.0].id, angles[60.0].id, angles[80.0].id]
    assert [round(hit.score, 6) for hit in hits] == [round(math.cos(math.radians(a)), 6) for a in (0, 30, 60, 80)]
    [request] = fake.requests_to(QUERY_PATH)
    assert request.json() == {"topK": 4, "vector": [2.0, 0.0, 0.0, 0.0], "namespace": f"owner-{ALICE}",
                              "includeValues": False, "includeMetadata": False}


async def test_upserting_a_memory_again_replaces_its_vector_and_metadata(fake: FakePinecone,
                                                                         index: PineconeVectorIndex) -> None:
    item = memory(tags=("old",))
    await index.upsert([entry(item, unit(90))])
    revised = dataclasses.replace(item, tags=("new",))

    await index.upsert([entry(revised, unit(0)), entry(revised, unit(10))])  # the last one for a memory wins

    [(vector_id, stored)] = fake.namespace(namespace_of(ALICE)).items()
    assert vector_id == str(item.id)
    assert stored.values == pytest.approx(unit(10))
    assert stored.metadata["tags"] == ["new"]
    assert len(fake.requests_to(UPSERT_PATH)[-1].json()["vectors"]) == 1


async def test_vectors_another_writer_left_in_the_namespace_are_not_hits(fake: FakePinecone,
                                                                         index: PineconeVectorIndex) -> None:
    item = memory()
    await index.upsert([entry(item, unit(20))])
    fake.seed(namespace_of(ALICE), "doc#1", unit(0), {"type": "note"})

    hits = await index.query(ALICE, unit(0), limit=5, filters=SearchFilters())

    assert [hit.memory_id for hit in hits] == [item.id]


# --- filters ---------------------------------------------------------------------------------------------------


CORPUS_FILTERS = [
    pytest.param(SearchFilters(type=MemoryType.REMINDER), {"type": {"$eq": "reminder"}}, id="type"),
    pytest.param(SearchFilters(source=Source.WHATSAPP), {"source": {"$eq": "whatsapp"}}, id="source"),
    pytest.param(SearchFilters(tags=("work",)), {"tags": {"$in": ["work"]}}, id="one-tag"),
    pytest.param(SearchFilters(tags=("work", "urgent")),
                 {"$and": [{"tags": {"$in": ["work"]}}, {"tags": {"$in": ["urgent"]}}]}, id="every-tag"),
    pytest.param(SearchFilters(created_after=NOW - timedelta(days=3)),
                 {"created_at": {"$gt": (NOW - timedelta(days=3)).timestamp()}}, id="after"),
    pytest.param(SearchFilters(created_before=NOW - timedelta(days=3)),
                 {"created_at": {"$lt": (NOW - timedelta(days=3)).timestamp()}}, id="before"),
    pytest.param(SearchFilters(type=MemoryType.NOTE, source=Source.API, tags=("work",),
                               created_after=NOW - timedelta(days=10), created_before=NOW - timedelta(days=1)),
                 {"$and": [{"type": {"$eq": "note"}}, {"source": {"$eq": "api"}}, {"tags": {"$in": ["work"]}},
                           {"created_at": {"$gt": (NOW - timedelta(days=10)).timestamp()}},
                           {"created_at": {"$lt": (NOW - timedelta(days=1)).timestamp()}}]}, id="all-combined"),
]


def corpus() -> list[Memory]:
    """Memories that every filter splits: each type, source and tag mix, and dates on both sides of each bound."""
    return [
        memory(tags=("work",), age=timedelta(days=0)),
        memory(tags=("work", "urgent"), age=timedelta(days=2)),
        memory(tags=("urgent",), age=timedelta(days=3)),  # exactly on the three-day bound: neither after nor before
        memory(tags=("home", "work"), age=timedelta(days=5)),
        memory(type=MemoryType.REMINDER, tags=("work", "urgent"), age=timedelta(days=1)),
        memory(type=MemoryType.REMINDER, age=timedelta(days=20)),
        memory(type=MemoryType.WHATSAPP_RECEIVED, source=Source.WHATSAPP, tags=("work",), age=timedelta(days=4)),
        memory(type=MemoryType.VOICE_MEMO, source=Source.WHATSAPP, age=timedelta(hours=5)),
        memory(source=Source.IMPORT, tags=("urgent", "work"), age=timedelta(days=9)),
        memory(source=Source.IMPORT, age=timedelta(days=11)),
    ]


@pytest.mark.parametrize(("filters", "expected"), CORPUS_FILTERS)
async def test_each_filter_is_sent_in_pinecones_language_and_the_index_applies_it(
        fake: FakePinecone, index: PineconeVectorIndex, filters: SearchFilters, expected: dict[str, object]) -> None:
    items = corpus()
    await index.upsert([entry(item, unit(position * 9)) for position, item in enumerate(items)])

    hits = await index.query(ALICE, unit(0), limit=100, filters=filters)

    admitted = [item.id for item in items if filters.admits(item)]
    assert admitted, "the corpus must leave something for each filter"
    assert len(admitted) < len(items), "the corpus must hold something each filter removes"
    assert [hit.memory_id for hit in hits] == admitted  # the corpus is already in angle order, so best first
    assert fake.requests_to(QUERY_PATH)[-1].json()["filter"] == expected


async def test_no_filter_sends_no_filter_and_a_repeated_tag_is_asked_for_once(fake: FakePinecone,
                                                                              index: PineconeVectorIndex) -> None:
    await index.upsert([entry(memory())])

    await index.query(ALICE, unit(0), limit=3, filters=SearchFilters())

    assert "filter" not in fake.requests_to(QUERY_PATH)[-1].json()
    assert filter_of(SearchFilters(tags=("work", "work"))) == {"tags": {"$in": ["work"]}}


def test_epoch_seconds_keep_microseconds_apart_and_read_a_naive_time_as_utc() -> None:
    later = NOW + timedelta(microseconds=1)

    assert epoch_s(NOW) < epoch_s(later)
    assert epoch_s(NOW.replace(tzinfo=None)) == epoch_s(NOW)


# --- batching --------------------------------------------------------------------------------------------------


async def test_a_450_vector_upsert_goes_in_batches_of_at_most_the_batch_size(fake: FakePinecone,
                                                                             index: PineconeVectorIndex) -> None:
    items = [memory() for _ in range(450)]

    await index.upsert([entry(item, unit(position % 90)) for position, item in enumerate(items)])

    sizes = [len(request.json()["vectors"]) for request in fake.requests_to(UPSERT_PATH)]
    assert len(sizes) >= 3
    assert sizes == [100, 100, 100, 100, 50]
    assert fake.namespaces == {namespace_of(ALICE): 450}


async def test_wide_vectors_are_batched_by_request_size_under_pinecones_2_mb() -> None:
    server = FakePinecone(api_key=API_KEY, dimension=1536)
    adapter = make_index(server.host, dimensions=1536, batch_size=1000)
    try:
        items = [memory() for _ in range(150)]
        vectors = [[math.sin(position + 0.001 * d) / 27.7 for d in range(1536)] for position in range(150)]

        await adapter.upsert([entry(item, vector) for item, vector in zip(items, vectors, strict=True)])

        bodies = [request.body for request in server.requests_to(UPSERT_PATH)]
        assert len(bodies) >= 3
        assert all(len(body) <= MAX_REQUEST_BYTES for body in bodies)
        assert server.namespaces == {namespace_of(ALICE): 150}
    finally:
        await adapter.aclose()
        server.close()


async def test_delete_removes_the_ids_from_the_owners_namespace_only_in_batches_of_1000(
        fake: FakePinecone, index: PineconeVectorIndex) -> None:
    kept, gone = memory(ALICE), memory(ALICE)
    bobs = memory(BOB)
    await index.upsert([entry(kept), entry(gone), entry(bobs)])
    many = [gone.id, *(uuid4() for _ in range(2400)), bobs.id]

    await index.delete(ALICE, many)

    assert set(fake.namespace(namespace_of(ALICE))) == {str(kept.id)}
    assert set(fake.namespace(namespace_of(BOB))) == {str(bobs.id)}
    deletes = [request.json() for request in fake.requests_to(DELETE_PATH)]
    assert [len(body["ids"]) for body in deletes] == [1000, 1000, 402]
    assert {body["namespace"] for body in deletes} == {namespace_of(ALICE)}


async def test_deleting_from_a_namespace_the_index_never_held_is_done(fake: FakePinecone,
                                                                      index: PineconeVectorIndex) -> None:
    await index.delete(uuid4(), [uuid4()])

    assert len(fake.requests_to(DELETE_PATH)) == 1  # the fake answered 404 Namespace not found, as serverless does


async def test_nothing_to_write_delete_or_find_sends_nothing(fake: FakePinecone, index: PineconeVectorIndex) -> None:
    await index.upsert([])
    await index.delete(ALICE, [])

    assert await index.query(ALICE, unit(0), limit=0, filters=SearchFilters()) == []
    assert fake.requests == []


async def test_a_vector_of_another_dimension_is_refused_before_anything_is_sent(
        fake: FakePinecone, index: PineconeVectorIndex) -> None:
    with pytest.raises(ValueError, match="3-dimensional vector for a 4-dimensional index"):
        await index.upsert([entry(memory(), [1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="NaN"):
        await index.query(ALICE, [math.nan, 0.0, 0.0, 0.0], limit=1, filters=SearchFilters())

    assert fake.requests == []


# --- the index's dimension and metric --------------------------------------------------------------------------


async def test_an_index_of_another_dimension_is_unavailable_naming_both_until_it_is_fixed() -> None:
    server = FakePinecone(api_key=API_KEY, dimension=1536)
    adapter = make_index(server.host, dimensions=DIMENSIONS)
    try:
        for _ in range(2):  # a failed check is not remembered: it is asked again
            with pytest.raises(VectorIndexUnavailable, match="1536-dimensional") as caught:
                await adapter.upsert([entry(memory())])
            assert "4-dimensional" in str(caught.value)
            assert "PINECONE_INDEX_HOST" in str(caught.value)
        assert server.requests_to(UPSERT_PATH) == []

        server.dimension = DIMENSIONS  # the operator points the host at the right index
        await adapter.upsert([entry(memory())])
        assert len(server.requests_to(STATS_PATH)) == 3
    finally:
        await adapter.aclose()
        server.close()


async def test_an_index_that_does_not_rank_by_cosine_is_unavailable() -> None:
    server = FakePinecone(api_key=API_KEY, dimension=DIMENSIONS, metric="dotproduct")
    adapter = make_index(server.host)
    try:
        with pytest.raises(VectorIndexUnavailable, match=r"ranks by dotproduct.*cosine"):
            await adapter.query(ALICE, unit(0), limit=3, filters=SearchFilters())
        server.metric = None  # not reported at all: the dimension is all there is to check
        assert await adapter.query(ALICE, unit(0), limit=3, filters=SearchFilters()) == []
    finally:
        await adapter.aclose()
        server.close()


async def test_the_index_is_checked_once_even_when_first_used_by_many_calls_at_once(
        fake: FakePinecone, index: PineconeVectorIndex) -> None:
    await asyncio.gather(*(index.query(ALICE, unit(0), limit=1, filters=SearchFilters()) for _ in range(5)))
    await index.delete(ALICE, [uuid4()])

    assert len(fake.requests_to(STATS_PATH)) == 1


# --- failures --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "message"), [
    pytest.param(pinecone_error(401, "Invalid API Key"), r"refused the API key \(HTTP 401\).*PINECONE_API_KEY",
                 id="401"),
    pytest.param(pinecone_error(403, "Forbidden"), r"refused the API key \(HTTP 403\).*PINECONE_API_KEY", id="403"),
    pytest.param(pinecone_error(429, "Too many requests", retry_after="0"),
                 r"rate limiting the query at .* \(HTTP 429\)", id="429"),
    pytest.param(pinecone_error(500, "Internal error", retry_after="0"), r"failed the query .*HTTP 500: Internal",
                 id="500"),
    pytest.param(pinecone_error(503, "Unavailable", retry_after="0"), r"failed the query .*HTTP 503: Unavailable",
                 id="503"),
    pytest.param(pinecone_error(400, "Invalid filter"), r"refused the query .*HTTP 400: Invalid filter", id="400"),
    pytest.param(pinecone_error(404, "Not Found"), r"no index at .*PINECONE_INDEX_HOST", id="404"),
    pytest.param(json_reply(["not", "a", "query", "answer"]), r"not Pinecone's answer", id="garbage"),
])
async def test_each_failure_of_a_query_is_vector_index_unavailable_with_a_clear_message(
        fake: FakePinecone, index: PineconeVectorIndex, reply: object, message: str) -> None:
    await index.upsert([entry(memory())])
    fake.reply(QUERY_PATH, reply)  # type: ignore[arg-type]

    with pytest.raises(VectorIndexUnavailable, match=message) as caught:
        await index.query(ALICE, unit(0), limit=3, filters=SearchFilters())

    assert caught.value.code == "VECTOR_INDEX_UNAVAILABLE"
    assert fake.host in str(caught.value)


async def test_a_wrong_api_key_is_refused_by_the_index_and_named_but_never_shown(fake: FakePinecone) -> None:
    wrong = "pcsk_wrong_key_7f3a9e"
    adapter = make_index(fake.host, api_key=wrong)
    try:
        with pytest.raises(VectorIndexUnavailable, match="PINECONE_API_KEY") as caught:
            await adapter.upsert([entry(memory())])
    finally:
        await adapter.aclose()

    assert fake.requests[0].headers["api-key"] == wrong
    assert wrong not in str(caught.value)


async def test_failures_of_upsert_and_delete_are_mapped_too(fake: FakePinecone, index: PineconeVectorIndex) -> None:
    await index.upsert([entry(memory())])
    fake.reply(UPSERT_PATH, pinecone_error(503, "busy", retry_after="0"))
    fake.reply(DELETE_PATH, pinecone_error(429, "slow down", retry_after="0"))

    with pytest.raises(VectorIndexUnavailable, match="failed the upsert"):
        await index.upsert([entry(memory())])
    with pytest.raises(VectorIndexUnavailable, match="rate limiting the delete"):
        await index.delete(ALICE, [uuid4()])


async def test_a_passing_5xx_is_retried_by_the_sdk_within_the_one_call(fake: FakePinecone,
                                                                       index: PineconeVectorIndex) -> None:
    pinecone_http.get_budget_registry()._reset()  # the SDK's process-wide retry budget for 127.0.0.1, spent by others
    item = memory()
    await index.upsert([entry(item)])
    fake.reply(QUERY_PATH, pinecone_error(503, "blip", retry_after="0"), then_index=True)

    hits = await index.query(ALICE, unit(0), limit=3, filters=SearchFilters())

    assert [hit.memory_id for hit in hits] == [item.id]
    assert len(fake.requests_to(QUERY_PATH)) == 2


async def test_a_stalled_index_is_unavailable_within_the_deadline(fake: FakePinecone,
                                                                 index: PineconeVectorIndex) -> None:
    await index.upsert([entry(memory())])
    fake.reply(QUERY_PATH, stall(30))

    started = time.monotonic()
    with pytest.raises(VectorIndexUnavailable, match="Pinecone did not"):
        await index.query(ALICE, unit(0), limit=3, filters=SearchFilters())

    assert time.monotonic() - started < DEADLINE_S + 1.0
    assert len(fake.requests_to(QUERY_PATH)) >= 1


async def test_a_host_that_never_accepts_is_unavailable_within_the_deadline() -> None:
    with unaccepting_port() as port:
        adapter = make_index(f"http://127.0.0.1:{port}")
        started = time.monotonic()
        try:
            with pytest.raises(VectorIndexUnavailable, match="Pinecone did not"):
                await adapter.query(ALICE, unit(0), limit=3, filters=SearchFilters())
        finally:
            await adapter.aclose()

    assert time.monotonic() - started < DEADLINE_S + 1.0


@pytest.mark.usefixtures("no_backoff")
async def test_a_host_that_refuses_connections_could_not_be_reached_and_is_used_once_it_is_up() -> None:
    server = FakePinecone(api_key=API_KEY, dimension=DIMENSIONS, listen=False)
    adapter = make_index(server.host)
    try:
        with pytest.raises(VectorIndexUnavailable, match=r"could not be reached at http://127\.0\.0\.1"):
            await adapter.upsert([entry(memory())])

        server.listen()
        await adapter.upsert([entry(memory())])
        assert server.namespaces == {namespace_of(ALICE): 1}
    finally:
        await adapter.aclose()
        server.close()


@pytest.mark.usefixtures("no_backoff")
async def test_a_dropped_connection_could_not_be_reached(fake: FakePinecone, index: PineconeVectorIndex) -> None:
    await index.upsert([entry(memory())])
    fake.reply(QUERY_PATH, DROP)

    with pytest.raises(VectorIndexUnavailable, match="could not be reached"):
        await index.query(ALICE, unit(0), limit=3, filters=SearchFilters())


# --- the API key -----------------------------------------------------------------------------------------------


async def test_every_request_carries_the_api_key_and_the_api_version(fake: FakePinecone,
                                                                     index: PineconeVectorIndex) -> None:
    await index.upsert([entry(memory())])
    await index.query(ALICE, unit(0), limit=1, filters=SearchFilters())
    await index.delete(ALICE, [uuid4()])

    assert [request.path for request in fake.requests] == [STATS_PATH, UPSERT_PATH, QUERY_PATH, DELETE_PATH]
    assert all(request.headers["api-key"] == API_KEY for request in fake.requests)
    assert all(request.headers["x-pinecone-api-version"] for request in fake.requests)


async def test_the_api_key_is_in_no_log_line_exception_or_repr(fake: FakePinecone, index: PineconeVectorIndex,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("pinecone", "httpx", "httpcore", "urllib3", "aiohttp"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    failures: list[BaseException] = []
    await index.upsert([entry(memory())])
    await index.query(ALICE, unit(0), limit=1, filters=SearchFilters(tags=("x",)))
    for reply in (pinecone_error(401, f"Invalid API Key: {API_KEY}"), pinecone_error(400, f"bad key {API_KEY}"),
                  pinecone_error(503, f"{API_KEY} is down", retry_after="0"), stall(30)):
        fake.reply(QUERY_PATH, reply)
        with pytest.raises(VectorIndexUnavailable) as caught:
            await index.query(ALICE, unit(0), limit=1, filters=SearchFilters())
        failures.append(caught.value)

    shown = [str(failure) for failure in failures] + [repr(failure) for failure in failures]
    shown += ["".join(traceback.format_exception(failure)) for failure in failures]
    assert any("[redacted]" in text for text in shown)
    assert all(API_KEY not in text for text in shown)
    assert API_KEY not in repr(index)
    assert API_KEY not in caplog.text
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert {record.name.split(".")[0] for record in caplog.records} >= {"pinecone", "httpx", "httpcore"}


def test_the_constructor_refuses_a_missing_key_or_host_and_shows_neither_secret() -> None:
    with pytest.raises(ValueError, match="PINECONE_API_KEY"):
        PineconeVectorIndex(api_key=" ", host="http://127.0.0.1:1", dimensions=4)
    with pytest.raises(ValueError, match="PINECONE_INDEX_HOST"):
        PineconeVectorIndex(api_key=API_KEY, host="", dimensions=4)
    with pytest.raises(ValueError, match="timeout_s <= deadline_s"):
        PineconeVectorIndex(api_key=API_KEY, host="http://127.0.0.1:1", dimensions=4, timeout_s=5, deadline_s=1)

    adapter = PineconeVectorIndex(api_key=API_KEY, host="memo-abc123.svc.aped-4627-b74a.pinecone.io", dimensions=4)
    assert repr(adapter) == ("PineconeVectorIndex(host='https://memo-abc123.svc.aped-4627-b74a.pinecone.io', "
                             "dimensions=4)")
    assert API_KEY not in repr(vars(adapter))
