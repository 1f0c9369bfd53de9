"""The brain through AI and vector outages, end to end on real settings: writes never wait for or are lost to them.

While the embedder or the index is down: creates answer 201, their index jobs fail and back off (the clock is
stepped, not waited for), hybrid answers keyword hits saying it is degraded and why, semantic answers 503, ask
answers from the keyword hits. Once it is back the jobs catch up and every memory is found by meaning again.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from memo.adapters.embedding.local import LocalEmbedder
from memo.adapters.vectors.pinecone import namespace_of
from memo.application.errors import EmbedderUnavailable
from memo.domain.jobs import JobState
from memo.domain.retrieval import INDEX_MEMORY_JOB
from tests.support.brain import SEARCH, Brain, ask, cloud_brain, ids, local_brain, remember, search
from tests.support.fake_openai import CHAT_PATH, EMBEDDINGS_PATH, FakeOpenAI, chat_completion, openai_error
from tests.support.fake_pinecone import QUERY_PATH, STATS_PATH, UPSERT_PATH, pinecone_error, stall

BEFORE = {"dentist": "Dentist appointment on Friday at 3pm with Dr. Rivera",
          "wifi": "The wifi password at the cottage is sunflower42"}
DURING = {"passport": "Passport renewal appointment at the town hall next Tuesday",
          "plumber": "The plumber Jonas comes on Thursday morning to fix the boiler",
          "keys": "The spare house keys are in the blue jar on the kitchen shelf"}

Switch = Callable[[], None]


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Brain]:
    async with cloud_brain(tmp_path / "data") as brain:
        yield brain


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Brain]:
    async with local_brain(tmp_path / "data") as brain:
        yield brain


async def live_through_an_outage(brain: Brain, *, down: Switch, up: Switch, reason: str,
                                 before_ask: Callable[[dict[str, str]], Awaitable[None]] | None = None) -> None:
    """The whole story of one outage, from memories indexed before it to every memory found by meaning after it."""
    alice = await brain.signer_for("alice")
    made = {name: await remember(alice, content) for name, content in BEFORE.items()}
    await brain.run_jobs()

    down()
    made |= {name: await remember(alice, content) for name, content in DURING.items()}  # 201 each, at once
    await brain.run_jobs()

    waiting = [job for job in await brain.jobs(JobState.PENDING) if job.kind == INDEX_MEMORY_JOB]
    assert len(waiting) == len(DURING)
    assert {(job.attempts, job.run_after - brain.clock.now()) for job in waiting} == {(1, timedelta(seconds=2))}
    assert all(reason in (job.last_error or "") for job in waiting), [job.last_error for job in waiting]
    await brain.run_jobs()  # backing off: nothing is due, nothing runs again
    assert {job.attempts for job in await brain.jobs(JobState.PENDING)} == {1}

    hybrid = await search(alice, "passport renewal appointment")
    assert ids(hybrid)[:2] == [made["passport"], made["dentist"]]
    assert hybrid["degraded"] is True
    assert hybrid["degradedReason"].startswith("keyword results only")
    assert {tuple(hit["matchedBy"]) for hit in hybrid["data"]} == {("keyword",)}
    semantic = await alice.post(SEARCH, {"query": "passport renewal appointment", "mode": "semantic"})
    assert (semantic.status_code, semantic.json()["code"]) == (503, "VECTOR_INDEX_UNAVAILABLE")
    if before_ask is not None:
        await before_ask(made)
    answer = await ask(alice, "Where are the spare house keys?")
    assert answer["citations"] == [made["keys"]]
    assert "blue jar" in answer["answer"]

    brain.clock.advance(minutes=10)  # a second attempt, still down: it backs off twice as long
    await brain.run_jobs()
    assert {(job.attempts, job.run_after - brain.clock.now()) for job in await brain.jobs(JobState.PENDING)} == {
        (2, timedelta(seconds=4))}

    up()
    brain.clock.advance(hours=1)
    await brain.run_jobs()

    assert {job.state for job in await brain.jobs()} == {JobState.DONE}
    for name, content in (BEFORE | DURING).items():
        body = await search(alice, content, "semantic")
        assert ids(body)[0] == made[name], name
        assert set(ids(body)) == set(made.values())
        assert "degraded" not in await search(alice, content)


async def test_the_local_embedder_down_for_a_while(local: Brain, monkeypatch: pytest.MonkeyPatch) -> None:
    real_embed = LocalEmbedder.embed

    async def unavailable(self: LocalEmbedder, texts: object) -> list[list[float]]:
        raise EmbedderUnavailable("the local model is out to lunch")

    await live_through_an_outage(
        local, reason="EmbedderUnavailable: the local model is out to lunch",
        down=lambda: monkeypatch.setattr(LocalEmbedder, "embed", unavailable),
        up=lambda: monkeypatch.setattr(LocalEmbedder, "embed", real_embed))


def answering_from(openai: FakeOpenAI) -> Callable[[dict[str, str]], Awaitable[None]]:
    """The model scripted to answer the keys question from the memory it is shown: one found by keyword only."""
    async def script(made: dict[str, str]) -> None:
        openai.chat(json.dumps({"answer": "In the blue jar on the kitchen shelf.",
                                "citations": [{"memoryId": made["keys"], "quote": "in the blue jar"}]}))
    return script


async def test_openai_embeddings_answering_500_for_a_while(cloud: Brain) -> None:
    openai = cloud.openai
    assert openai is not None

    await live_through_an_outage(
        cloud, reason="EmbedderUnavailable", before_ask=answering_from(openai),
        down=lambda: openai.reply(EMBEDDINGS_PATH, openai_error(500, "The server had an error", type="server_error"),
                                  repeat=True),
        up=lambda: openai.reply(EMBEDDINGS_PATH))

    [question] = openai.requests_to(CHAT_PATH)
    assert DURING["keys"] in json.dumps(question.json()["messages"])  # the model was shown the keyword hit


async def test_pinecone_failing_for_a_while(cloud: Brain) -> None:
    pinecone, openai = cloud.pinecone, cloud.openai
    assert pinecone is not None
    assert openai is not None

    def down() -> None:
        for path in (UPSERT_PATH, QUERY_PATH, STATS_PATH):
            pinecone.reply(path, pinecone_error(503, "Service unavailable", retry_after="0"))

    await live_through_an_outage(cloud, reason="VectorIndexUnavailable", before_ask=answering_from(openai),
                                 down=down, up=pinecone.heal)

    namespace = pinecone.namespace(namespace_of(await cloud.owner_id("alice")))
    assert len(namespace) == len(BEFORE) + len(DURING)


async def test_health_reports_the_index_down_and_back(cloud: Brain) -> None:
    pinecone = cloud.pinecone
    assert pinecone is not None
    pinecone.reply(QUERY_PATH, pinecone_error(503, "Service unavailable", retry_after="0"))

    down = await cloud.client.get("/health")

    assert down.status_code == 503
    assert down.json()["checks"]["vectorIndex"]["status"] == "error"
    assert "HTTP 503" in down.json()["checks"]["vectorIndex"]["detail"]
    pinecone.heal()
    assert (await cloud.client.get("/health")).json()["checks"]["vectorIndex"]["status"] == "ok"


async def test_health_names_a_stalled_index_within_its_own_timeout(cloud: Brain) -> None:
    pinecone = cloud.pinecone
    assert pinecone is not None
    for path in (STATS_PATH, QUERY_PATH):
        pinecone.reply(path, stall(30))

    check = (await cloud.client.get("/health")).json()["checks"]["vectorIndex"]

    assert (check["status"], check["backend"]) == ("error", "pinecone")
    assert check["detail"] == "no answer within 1.5 s"


@pytest.mark.slow
async def test_a_stalled_index_degrades_search_within_its_timeouts_and_writes_go_on(tmp_path: Path) -> None:
    async with cloud_brain(tmp_path / "data", pinecone_timeout_s=1.0) as brain:
        assert brain.pinecone is not None
        alice = await brain.signer_for("alice")
        before = await remember(alice, BEFORE["dentist"])
        await brain.run_jobs()
        brain.pinecone.reply(QUERY_PATH, stall(60))

        started = time.monotonic()
        hybrid = await search(alice, "dentist appointment")
        took_s = time.monotonic() - started
        semantic = await alice.post(SEARCH, {"query": "dentist appointment", "mode": "semantic"})
        during = await remember(alice, DURING["passport"])

        assert ids(hybrid) == [before]
        assert "did not answer within 5 s" in hybrid["degradedReason"]  # MEMO_SEARCH_VECTOR_DEADLINE_S
        assert took_s < 6.5  # the search's own deadline, before the adapter's 10 s over the SDK's retries
        assert (semantic.status_code, semantic.json()["code"]) == (503, "VECTOR_INDEX_UNAVAILABLE")
        brain.pinecone.heal()
        await brain.run_jobs()
        assert ids(await search(alice, DURING["passport"], "semantic"))[0] == during


@pytest.mark.parametrize("failure", [
    pytest.param([openai_error(500, "The server had an error", type="server_error")], id="500s"),
    pytest.param([chat_completion("Sure! The keys are in the jar.")], id="not-the-json-asked-for"),
    pytest.param([chat_completion('{"answer": "In the jar.", "citations": [{"memoryId": '
                                  '"00000000-0000-7000-8000-000000000000", "quote": "jar"}]}')],
                 id="citing-a-memory-it-was-not-shown"),
])
async def test_the_openai_answerer_failing_falls_back_to_quotes_of_real_memories(cloud: Brain,
                                                                                  failure: list[object]) -> None:
    openai = cloud.openai
    assert openai is not None
    alice, bob = await cloud.signer_for("alice"), await cloud.signer_for("bob")
    made = {name: await remember(alice, content) for name, content in (BEFORE | DURING).items()}
    await remember(bob, "The spare house keys are under the doormat")
    await cloud.run_jobs()
    openai.reply(CHAT_PATH, *failure, repeat=True)  # type: ignore[arg-type]

    answer = await ask(alice, "Where are the spare house keys?")

    assert openai.requests_to(CHAT_PATH)
    assert answer["citations"] == [made["keys"]]
    [source] = answer["sources"]
    assert source["memoryId"] == made["keys"]
    assert source["quote"] in DURING["keys"]
    assert "blue jar" in answer["answer"]
    assert "doormat" not in json.dumps(answer)

