"""POST /api/memories/search and POST /api/ask on the test profile: the worker's jobs run by hand, in order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.application.ports import Clock, JobQueue
from memo.application.run_jobs import RunJobs
from memo.domain.jobs import JobState
from memo.entrypoints.worker import JOB_USE_CASES, scoped_handlers
from tests.e2e.conftest import Signer, World

SEARCH, ASK = "/api/memories/search", "/api/ask"


async def run_jobs(world: World) -> None:
    """What the worker would do next: every due job, to the end, as `memo worker` runs them."""
    container = world.app.state.dishka_container
    worker = RunJobs(queue=await container.get(JobQueue), clock=await container.get(Clock),
                     handlers=scoped_handlers(container, JOB_USE_CASES), worker_id="test")
    while await worker.run_batch():
        pass


async def index(world: World) -> InMemoryVectorIndex:
    found: InMemoryVectorIndex = await world.app.state.dishka_container.get(InMemoryVectorIndex)
    return found


async def remember(signer: Signer, content: str, **fields: Any) -> str:
    response = await signer.post("/api/memories", {"content": content, **fields})
    assert response.status_code == 201, response.text
    memory_id: str = response.json()["data"]["id"]
    return memory_id


async def search(signer: Signer, query: str, **fields: Any) -> dict[str, Any]:
    response = await signer.post(SEARCH, {"query": query, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["memory"]["id"] for hit in body["data"]]


@pytest.fixture
async def corpus(world: World, alice: Signer) -> dict[str, str]:
    made = {
        "dentist": await remember(alice, "Dentist appointment on Friday at 3pm", tags=["health"]),
        "milk": await remember(alice, "Buy milk and bread on the way home", type="reminder"),
        "wifi": await remember(alice, "The wifi password at the cottage is sunflower42"),
    }
    await run_jobs(world)
    return made


async def test_keyword_search_ranks_by_any_word_of_a_question(world: World, alice: Signer,
                                                               corpus: dict[str, str]) -> None:
    body = await search(alice, "when is my dentist appointment?", mode="keyword")

    assert ids(body)[0] == corpus["dentist"]
    assert body["data"][0]["matchedBy"] == ["keyword"]
    assert body["data"][0]["score"] > 0
    assert "degraded" not in body


async def test_semantic_search_finds_memories_by_their_vectors(world: World, alice: Signer,
                                                              corpus: dict[str, str]) -> None:
    body = await search(alice, "wifi password", mode="semantic")

    assert ids(body)[0] == corpus["wifi"]
    assert body["data"][0]["matchedBy"] == ["semantic"]


async def test_hybrid_is_the_default_and_says_which_sides_found_each_hit(world: World, alice: Signer,
                                                                        corpus: dict[str, str]) -> None:
    body = await search(alice, "buy milk")

    assert ids(body)[0] == corpus["milk"]
    assert body["data"][0]["matchedBy"] == ["keyword", "semantic"]


async def test_filters_apply_inside_each_side(world: World, alice: Signer, corpus: dict[str, str]) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        assert ids(await search(alice, "milk dentist wifi", mode=mode, type="reminder")) == [corpus["milk"]]
        assert ids(await search(alice, "milk dentist wifi", mode=mode, tags=["Health"])) == [corpus["dentist"]]


async def test_a_memory_not_yet_indexed_is_found_by_keyword_and_the_answer_says_so(
        world: World, alice: Signer, corpus: dict[str, str]) -> None:
    fresh = await remember(alice, "Passport renewal appointment next Tuesday")

    body = await search(alice, "passport renewal")

    assert fresh in ids(body)
    assert next(hit for hit in body["data"] if hit["memory"]["id"] == fresh)["matchedBy"] == ["keyword"]
    assert body["degraded"] is True
    assert "not indexed" in body["degradedReason"]
    await run_jobs(world)
    assert "degraded" not in await search(alice, "passport renewal")


async def test_with_the_vector_side_down_hybrid_degrades_and_semantic_is_unavailable(
        world: World, alice: Signer, corpus: dict[str, str]) -> None:
    (await index(world)).available = False

    hybrid = await search(alice, "dentist")
    semantic = await alice.post(SEARCH, {"query": "dentist", "mode": "semantic"})

    assert ids(hybrid) == [corpus["dentist"]]
    assert hybrid["degraded"] is True
    assert hybrid["degradedReason"].startswith("keyword results only")
    assert semantic.status_code == 503
    assert semantic.json()["code"] == "VECTOR_INDEX_UNAVAILABLE"


async def test_a_create_during_an_outage_is_kept_and_indexed_once_the_index_is_back(
        world: World, alice: Signer, corpus: dict[str, str]) -> None:
    (await index(world)).available = False
    during = await remember(alice, "Pick up the dry cleaning on Thursday")
    await run_jobs(world)  # the index job fails and backs off
    queue = await world.app.state.dishka_container.get(JobQueue)
    assert [job.state for job in await queue.by_state(JobState.PENDING)] == [JobState.PENDING]

    (await index(world)).available = True
    world.clock.advance(seconds=60)
    await run_jobs(world)

    assert ids(await search(alice, "dry cleaning", mode="semantic"))[0] == during


async def test_a_deleted_memory_is_never_returned_and_its_vector_goes(world: World, alice: Signer,
                                                                     corpus: dict[str, str]) -> None:
    assert (await alice.delete(f"/api/memories/{corpus['dentist']}")).status_code == 200

    for mode in ("keyword", "semantic", "hybrid"):
        assert corpus["dentist"] not in ids(await search(alice, "dentist appointment", mode=mode))
    await run_jobs(world)
    assert [deleted for _, ids_ in (await index(world)).deletes for deleted in ids_] == [UUID(corpus["dentist"])]


async def test_an_updated_memory_is_returned_as_it_is_now(world: World, alice: Signer,
                                                         corpus: dict[str, str]) -> None:
    await alice.put(f"/api/memories/{corpus['wifi']}", {"content": "The wifi password is now tulip77"})

    body = await search(alice, "wifi password", mode="semantic")

    assert body["data"][0]["memory"]["content"] == "The wifi password is now tulip77"


async def test_one_owner_never_finds_another_owners_memories(world: World, alice: Signer, bob: Signer,
                                                            corpus: dict[str, str]) -> None:
    await remember(bob, "Bob's dentist is on Monday")
    await run_jobs(world)

    for mode in ("keyword", "semantic", "hybrid"):
        found = await search(alice, "dentist Monday", mode=mode)
        assert found["data"]
        assert "Bob's dentist is on Monday" not in {hit["memory"]["content"] for hit in found["data"]}
    answer = (await bob.post(ASK, {"question": "When is the dentist?"})).json()["data"]
    assert set(answer["citations"]) <= set(ids(await search(bob, "dentist")))


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": "   "}, {"query": "x" * 2001},
                                  {"query": "a", "limit": 0}, {"query": "a", "limit": 101},
                                  {"query": "a", "mode": "fuzzy"}, {"query": "a", "createdAfter": "yesterday"},
                                  {"query": "a", "unknown": 1}, {"query": "a", "tags": "health"}])
async def test_an_invalid_search_is_a_validation_error(world: World, alice: Signer, body: dict[str, Any]) -> None:
    response = await alice.post(SEARCH, body)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_ask_answers_from_the_memories_and_cites_them(world: World, alice: Signer,
                                                           corpus: dict[str, str]) -> None:
    response = await alice.post(ASK, {"question": "What is the wifi password at the cottage?"})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["citations"] == [corpus["wifi"]]
    assert "sunflower42" in data["answer"]
    [source] = data["sources"]
    assert source["memoryId"] == corpus["wifi"]
    assert "sunflower42" in source["quote"]
    assert source["createdAt"].endswith("Z")


async def test_ask_says_it_does_not_know_with_no_citations(world: World, alice: Signer,
                                                          corpus: dict[str, str]) -> None:
    data = (await alice.post(ASK, {"question": "What is the capital of Mongolia?"})).json()["data"]

    assert data["citations"] == []
    assert data["sources"] == []
    assert data["answer"]


@pytest.mark.parametrize("body", [{}, {"question": ""}, {"question": "a", "limit": 21}, {"question": "x" * 2001}])
async def test_an_invalid_question_is_a_validation_error(world: World, alice: Signer, body: dict[str, Any]) -> None:
    response = await alice.post(ASK, body)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
