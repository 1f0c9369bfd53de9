"""The brain end to end on every real configuration: the same scenario through the HTTP API and the worker's jobs.

(a) the embedded default: SQLite, the LocalEmbedder, vectors in the SQLite file, extractive answers;
(b) PostgreSQL with pgvector (chosen by MEMO_VECTOR_INDEX=auto) and the LocalEmbedder;
(c) OpenAI and Pinecone (local fakes over real HTTP) on SQLite, with OpenAI answering.

Two owners hold look-alike memories, so a missing owner filter anywhere (keyword rank, vector index, answer
context) shows up as the other owner's memory in a result.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from dishka import AsyncContainer

from memo.application.ports import Embedder, UnitOfWork, VectorIndex
from memo.application.reindex_memories import ReindexMemories
from memo.domain.jobs import JobState
from memo.domain.retrieval import SearchFilters
from memo.entrypoints.secret import Secret
from tests.e2e.conftest import Signer
from tests.e2e.test_whatsapp_webhook_api import deliver, text_message
from tests.support.brain import (
    MODES,
    Brain,
    ask,
    cloud_brain,
    ids,
    local_brain,
    postgres_brain,
    remember,
    search,
)
from tests.support.fake_graph import MESSAGES_PATH, PHONE_NUMBER_ID, FakeGraph, sent
from tests.support.fake_openai import CHAT_PATH

CONFIGURATIONS = [
    pytest.param("local", id="sqlite-local"),
    pytest.param("postgres", id="postgres-pgvector", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not os.environ.get("MEMO_TEST_POSTGRES_URL"), reason="MEMO_TEST_POSTGRES_URL is not set")]),
    pytest.param("cloud", id="openai-pinecone"),
]
MAKERS = {"local": local_brain, "postgres": postgres_brain, "cloud": cloud_brain}

MEMORIES = {
    "alice": {
        "dentist": "Dentist appointment on Friday at 3pm with Dr. Rivera",
        "wifi": "The wifi password at the cottage is sunflower42",
        "milk": "Buy oat milk and rye bread on the way home",
    },
    "bob": {
        "dentist": "Dentist appointment on Monday at 9am with Dr. Okafor",
        "wifi": "The wifi password at the office is tulip77",
        "milk": "Buy coffee beans and oat milk for the office",
    },
}


@dataclass
class Corpus:
    brain: Brain
    signers: dict[str, Signer]
    made: dict[str, dict[str, str]]  # owner -> name -> memory id

    def of(self, owner: str) -> set[str]:
        return set(self.made[owner].values())


@pytest.fixture(params=CONFIGURATIONS)
async def brain(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Brain]:
    async with MAKERS[request.param](tmp_path / "data") as running:
        yield running


ALICE_PHONE = "4915112345678"  # the WhatsApp fixtures' sender: alice's own number


@dataclass
class WhatsAppBrain:
    brain: Brain
    graph: FakeGraph  # the Cloud API the replies go to


@pytest.fixture(params=CONFIGURATIONS)
async def whatsapp_brain(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WhatsAppBrain]:
    """A brain whose deployment number is alice's, sending through a fake Cloud API."""
    graph = FakeGraph()
    graph.reply("POST", MESSAGES_PATH, sent("wamid.REPLY1", ALICE_PHONE))
    try:
        async with MAKERS[request.param](
                tmp_path / "data", whatsapp_access_token=Secret("EAAG" + "t" * 40),
                whatsapp_phone_number_id=PHONE_NUMBER_ID, whatsapp_api_base_url=graph.base_url) as running:
            yield WhatsAppBrain(brain=running, graph=graph)
    finally:
        graph.close()


async def make_corpus(brain: Brain, **owner_fields: dict[str, str]) -> Corpus:
    signers = {owner: await brain.signer_for(owner, **owner_fields.get(owner, {})) for owner in MEMORIES}
    made = {owner: {name: await remember(signers[owner], content, tags=[name]) for name, content in memories.items()}
            for owner, memories in MEMORIES.items()}
    await brain.run_jobs()
    assert {job.state for job in await brain.jobs()} == {JobState.DONE}
    return Corpus(brain=brain, signers=signers, made=made)


@pytest.fixture
async def corpus(brain: Brain) -> Corpus:
    return await make_corpus(brain)


def other(owner: str) -> str:
    return "bob" if owner == "alice" else "alice"


async def test_each_owner_finds_its_own_memories_in_every_mode_and_never_the_others(corpus: Corpus) -> None:
    for owner, signer in corpus.signers.items():
        for mode in MODES:
            for name, content in MEMORIES[owner].items():
                body = await search(signer, content, mode)
                assert ids(body)[0] == corpus.made[owner][name], (owner, mode, name)
                assert set(ids(body)) <= corpus.of(owner), (owner, mode, name)
                assert "degraded" not in body
            for content in MEMORIES[other(owner)].values():  # the other owner's very words find nothing of theirs
                assert set(ids(await search(signer, content, mode))) <= corpus.of(owner), (owner, mode, content)


async def test_the_vector_index_itself_answers_each_owner_with_that_owners_vectors_only(corpus: Corpus) -> None:
    """Below the API, which reads every hit back for the caller: a leaky index would still crowd out real hits."""
    owners = {owner: await corpus.brain.owner_id(owner) for owner in MEMORIES}
    contents = [content for memories in MEMORIES.values() for content in memories.values()]

    async def nearest(container: AsyncContainer) -> dict[str, list[set[str]]]:
        vectors = await (await container.get(Embedder)).embed(contents)
        index = await container.get(VectorIndex)
        return {owner: [{str(hit.memory_id) for hit in await index.query(owner_id, vector, limit=100,
                                                                          filters=SearchFilters())}
                        for vector in vectors] for owner, owner_id in owners.items()}

    found = await corpus.brain.on_app_loop(nearest)

    assert found == {owner: [corpus.of(owner)] * len(contents) for owner in MEMORIES}


async def test_ask_answers_and_cites_only_the_callers_memories(corpus: Corpus) -> None:
    brain, alice, bob = corpus.brain, corpus.signers["alice"], corpus.signers["bob"]
    alice_wifi, bob_wifi = corpus.made["alice"]["wifi"], corpus.made["bob"]["wifi"]
    if brain.openai is not None:  # the model tries to cite bob's memory too: it was never shown, so it is dropped
        brain.openai.chat(json.dumps({"answer": "The cottage wifi password is sunflower42.", "citations": [
            {"memoryId": alice_wifi, "quote": "sunflower42"}, {"memoryId": bob_wifi, "quote": "tulip77"}]}))

    answer = await ask(alice, "What is the wifi password at the cottage?")

    assert answer["citations"] == [alice_wifi]
    assert "sunflower42" in answer["answer"]
    assert [(source["memoryId"], "sunflower42" in source["quote"]) for source in answer["sources"]] == [
        (alice_wifi, True)]
    if brain.openai is not None:
        [request] = brain.openai.requests_to(CHAT_PATH)
        shown = json.dumps(request.json()["messages"])
        assert alice_wifi in shown
        assert not any(memory_id in shown for memory_id in corpus.of("bob"))
        assert "tulip77" not in shown
        brain.openai.chat(json.dumps({"answer": "The office wifi password is tulip77.", "citations": [
            {"memoryId": bob_wifi, "quote": "tulip77"}, {"memoryId": alice_wifi, "quote": "sunflower42"}]}))

    answer = await ask(bob, "What is the wifi password at the cottage?")

    assert set(answer["citations"]) <= corpus.of("bob")
    assert "sunflower42" not in json.dumps(answer)


async def test_a_whatsapp_question_is_answered_from_the_asking_owners_memories_only(
        whatsapp_brain: WhatsAppBrain) -> None:
    brain, graph = whatsapp_brain.brain, whatsapp_brain.graph
    corpus = await make_corpus(brain, alice={"whatsapp_phone_number_id": PHONE_NUMBER_ID,
                                             "whatsapp_number": ALICE_PHONE})
    alice_wifi, bob_wifi = corpus.made["alice"]["wifi"], corpus.made["bob"]["wifi"]
    if brain.openai is not None:  # the model cites bob's memory too: it was never shown, so it is dropped
        brain.openai.chat(json.dumps({"answer": "The cottage wifi password is sunflower42.", "citations": [
            {"memoryId": alice_wifi, "quote": "sunflower42"}, {"memoryId": bob_wifi, "quote": "tulip77"}]}))
    question = text_message("wamid.ASK1", "? what is the wifi password", number=PHONE_NUMBER_ID)
    assert (await deliver(brain.client, question)).json()["processed"] == 1

    await brain.run_jobs()

    [reply] = graph.requests_to(MESSAGES_PATH)
    body = reply.json()
    assert (body["to"], body["context"]["message_id"]) == (ALICE_PHONE, "wamid.ASK1")
    assert "sunflower42" in body["text"]["body"]
    assert "tulip77" not in body["text"]["body"]
    assert {job.state for job in await brain.jobs()} == {JobState.DONE}
    if brain.openai is not None:
        shown = json.dumps([request.json()["messages"] for request in brain.openai.requests_to(CHAT_PATH)])
        assert alice_wifi in shown
        assert not any(memory_id in shown for memory_id in corpus.of("bob"))


async def test_an_update_changes_what_every_mode_returns(corpus: Corpus) -> None:
    brain, alice, wifi = corpus.brain, corpus.signers["alice"], corpus.made["alice"]["wifi"]
    updated = "The wifi password at the cottage is now marigold19"
    assert wifi in ids(await search(alice, "sunflower42", "keyword"))
    assert (await alice.put(f"/api/memories/{wifi}", {"content": updated})).status_code == 200

    for mode in MODES:  # before the index job: never the stale content; hybrid says it is catching up
        body = await search(alice, updated, mode)
        assert wifi in ids(body)
        assert "sunflower42" not in json.dumps(body)
    assert wifi not in ids(await search(alice, "sunflower42", "keyword"))
    lagging = await search(alice, updated)
    assert lagging["degraded"] is True
    assert "1 memory is not indexed" in lagging["degradedReason"]

    await brain.run_jobs()

    for mode in MODES:
        body = await search(alice, updated, mode)
        assert ids(body)[0] == wifi, mode
        assert body["data"][0]["memory"]["content"] == updated
        assert "degraded" not in body
        assert "sunflower42" not in json.dumps(await search(alice, "cottage wifi password sunflower42", mode))


async def test_a_deleted_memory_is_gone_from_every_mode_and_from_the_index(corpus: Corpus) -> None:
    brain, alice, dentist = corpus.brain, corpus.signers["alice"], corpus.made["alice"]["dentist"]
    content = MEMORIES["alice"]["dentist"]
    for mode in MODES:
        assert ids(await search(alice, content, mode))[0] == dentist, mode
    assert (await alice.delete(f"/api/memories/{dentist}")).status_code == 200

    for mode in MODES:
        assert dentist not in ids(await search(alice, content, mode)), mode
    await brain.run_jobs()

    assert {job.state for job in await brain.jobs()} == {JobState.DONE}
    for mode in MODES:
        assert dentist not in ids(await search(alice, content, mode)), mode
    alice_id = await brain.owner_id("alice")

    async def nearest(container: AsyncContainer) -> set[str]:
        [vector] = await (await container.get(Embedder)).embed([content])
        hits = await (await container.get(VectorIndex)).query(alice_id, vector, limit=100, filters=SearchFilters())
        return {str(hit.memory_id) for hit in hits}

    assert await brain.on_app_loop(nearest) == corpus.of("alice") - {dentist}


async def test_health_names_the_vector_index_in_use(brain: Brain) -> None:
    response = await brain.client.get("/health")

    check = response.json()["checks"]["vectorIndex"]
    assert (check["status"], check["backend"]) == ("ok", brain.backend)


async def test_reindex_finds_again_what_the_index_lost(corpus: Corpus) -> None:
    brain, alice, bob = corpus.brain, corpus.signers["alice"], corpus.signers["bob"]
    alice_id = await brain.owner_id("alice")
    lost = sorted(UUID(memory_id) for memory_id in corpus.of("alice"))

    async def forget(container: AsyncContainer) -> None:
        async with container() as scope:
            uow = await scope.get(UnitOfWork)
            async with uow:
                await uow.index_states.remove(lost)
                await uow.commit()
        await (await container.get(VectorIndex)).delete(alice_id, lost)

    await brain.on_app_loop(forget)
    assert await search(alice, MEMORIES["alice"]["wifi"], "semantic") == {"success": True, "data": []}
    assert "1 memory is not indexed" in (await search(alice, MEMORIES["alice"]["wifi"]))["degradedReason"]

    async def reindex(container: AsyncContainer) -> tuple[int, int]:
        async with container() as scope:
            rebuild = await scope.get(ReindexMemories)
            return await rebuild(alice_id), await rebuild.remaining(alice_id)

    assert await brain.on_app_loop(reindex) == (3, 0)
    for name, content in MEMORIES["alice"].items():
        body = await search(alice, content, "semantic")
        assert ids(body)[0] == corpus.made["alice"][name]
        assert set(ids(body)) == corpus.of("alice")
        assert "degraded" not in await search(alice, content)
    assert set(ids(await search(bob, MEMORIES["bob"]["wifi"], "semantic"))) == corpus.of("bob")

