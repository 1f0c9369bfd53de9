"""The OpenAI adapters through the real `openai` SDK against a fake OpenAI API over real HTTP: request shapes,
batching and encodings, unit vectors, answers whose citations and quotes are checked, abstention, transcription's
multipart form, every error mapped, timeouts, the SDK's retries counted, and a key that shows up nowhere."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from memo.adapters.openai.answerer import NOT_KNOWN, SYSTEM_PROMPT, OpenAIAnswerer
from memo.adapters.openai.embedder import OpenAIEmbedder
from memo.adapters.openai.transcriber import OpenAITranscriber
from memo.application.errors import AnswererUnavailable, EmbedderUnavailable, TranscriberUnavailable
from memo.domain.memory import Memory, MemoryType
from tests.support.fake_openai import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    TRANSCRIPTIONS_PATH,
    FakeOpenAI,
    Reply,
    chat_completion,
    fake_vector,
    json_reply,
    openai_error,
    stall,
)

KEY = "sk-proj-FAKEkey0do-not-leak-5f2c91ab7e"
TIMEOUT_S = 0.3
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK waits what the server says: retries take milliseconds
OGG = b"OggS\x00\x02" + bytes(range(256)) + b"\r\n\r\n--not-a-boundary\r\n" + b"\x00" * 64
WHEN = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def embedder(fake: FakeOpenAI, **options: object) -> OpenAIEmbedder:
    options = {"timeout_s": 5.0, "max_retries": 0, **options}
    return OpenAIEmbedder(api_key=KEY, base_url=fake.base_url, **options)  # type: ignore[arg-type]


def answerer(fake: FakeOpenAI, **options: object) -> OpenAIAnswerer:
    options = {"timeout_s": 5.0, "max_retries": 0, **options}
    return OpenAIAnswerer(api_key=KEY, base_url=fake.base_url, **options)  # type: ignore[arg-type]


def transcriber(fake: FakeOpenAI, **options: object) -> OpenAITranscriber:
    options = {"timeout_s": 5.0, "max_retries": 0, **options}
    return OpenAITranscriber(api_key=KEY, base_url=fake.base_url, **options)  # type: ignore[arg-type]


def memory(content: str, *, created_at: datetime = WHEN) -> Memory:
    return Memory.create(id=uuid.uuid4(), owner_id=uuid.UUID(int=1), content=content, type=MemoryType.NOTE,
                         now=created_at)


def model_says(answer: str, *citations: tuple[object, str]) -> str:
    return json.dumps({"answer": answer, "citations": [{"memoryId": str(memory_id), "quote": quote}
                                                        for memory_id, quote in citations]})


def embeddings_body(*vectors: list[float], indexes: list[int] | None = None) -> Reply:
    order = indexes if indexes is not None else list(range(len(vectors)))
    return json_reply({"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1,
                                                                                      "total_tokens": 1},
                       "data": [{"object": "embedding", "index": index, "embedding": vectors[index]}
                                for index in order]})


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


@pytest.fixture
async def embed(fake: FakeOpenAI) -> AsyncIterator[OpenAIEmbedder]:
    adapter = embedder(fake)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def answers(fake: FakeOpenAI) -> AsyncIterator[OpenAIAnswerer]:
    adapter = answerer(fake)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def transcribe(fake: FakeOpenAI) -> AsyncIterator[OpenAITranscriber]:
    adapter = transcriber(fake)
    yield adapter
    await adapter.aclose()


# --- embeddings: request shape ----------------------------------------------------------------------------------


async def test_embed_posts_the_model_and_inputs_as_base64_with_the_bearer_key_to_the_base_url(
        fake: FakeOpenAI, embed: OpenAIEmbedder) -> None:
    vectors = await embed.embed(["buy milk", "call mum"])

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", EMBEDDINGS_PATH)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {"model": "text-embedding-3-small", "input": ["buy milk", "call mum"],
                              "encoding_format": "base64"}  # native size: no `dimensions`
    assert np.allclose(vectors, [fake_vector("buy milk", 1536), fake_vector("call mum", 1536)], atol=1e-6)
    assert embed.model == "openai:text-embedding-3-small@1536"
    assert embed.dimensions == 1536


async def test_a_size_other_than_the_models_own_is_asked_for_and_named_in_the_model(fake: FakeOpenAI) -> None:
    async with contextlib.aclosing(embedder(fake, dimensions=256)) as small:
        [vector] = await small.embed(["buy milk"])

    assert fake.requests[0].json()["dimensions"] == 256
    assert len(vector) == 256
    assert np.allclose(vector, fake_vector("buy milk", 256), atol=1e-6)
    assert small.model == "openai:text-embedding-3-small@256"


async def test_a_model_we_do_not_know_is_always_told_the_size(fake: FakeOpenAI) -> None:
    async with contextlib.aclosing(embedder(fake, model="nomic-embed-text", dimensions=768)) as other:
        await other.embed(["buy milk"])

    assert fake.requests[0].json()["dimensions"] == 768
    assert other.model == "openai:nomic-embed-text@768"


def test_ada_002_cannot_be_asked_for_another_size() -> None:
    with pytest.raises(ValueError, match="1536"):
        OpenAIEmbedder(api_key=KEY, model="text-embedding-ada-002", dimensions=512)


async def test_batches_hold_at_most_the_input_cap_and_keep_the_texts_order(fake: FakeOpenAI) -> None:
    texts = [f"memory number {n}" for n in range(7)]
    async with contextlib.aclosing(embedder(fake, max_batch_inputs=3)) as batched:
        vectors = await batched.embed(texts)

    assert [request.json()["input"] for request in fake.requests] == [texts[0:3], texts[3:6], texts[6:7]]
    assert np.allclose(vectors, [fake_vector(text, 1536) for text in texts], atol=1e-6)


async def test_batches_hold_at_most_the_character_cap_and_a_longer_text_goes_alone(fake: FakeOpenAI) -> None:
    texts = ["a" * 40, "b" * 40, "c" * 40, "d" * 150, "e" * 40]
    async with contextlib.aclosing(embedder(fake, max_batch_chars=100)) as batched:
        vectors = await batched.embed(texts)

    assert [request.json()["input"] for request in fake.requests] == [texts[0:2], texts[2:3], texts[3:4],
                                                                      texts[4:5]]
    assert len(vectors) == 5


async def test_no_texts_make_no_request_and_an_empty_text_is_refused(fake: FakeOpenAI, embed: OpenAIEmbedder) -> None:
    assert await embed.embed([]) == []
    with pytest.raises(ValueError, match="empty"):
        await embed.embed(["fine", "  "])
    assert fake.requests == []


# --- embeddings: what comes back --------------------------------------------------------------------------------


async def test_vectors_come_back_unit_length_whatever_length_the_server_sends(fake: FakeOpenAI,
                                                                              embed: OpenAIEmbedder) -> None:
    fake.embedding_scale = 3.7

    vectors = await embed.embed(["buy milk", "call mum", "water the plants"])

    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.allclose(vectors[0], fake_vector("buy milk", 1536), atol=1e-6)


async def test_a_server_that_answers_floats_when_base64_was_asked_is_read_too(fake: FakeOpenAI,
                                                                               embed: OpenAIEmbedder) -> None:
    fake.floats_only = True
    fake.embedding_scale = 2.0

    vectors = await embed.embed(["buy milk"])

    assert isinstance(fake.requests[0].json().get("encoding_format"), str)
    assert np.allclose(vectors, [fake_vector("buy milk", 1536)], atol=1e-6)


async def test_vectors_answered_out_of_order_are_put_back_in_the_texts_order(fake: FakeOpenAI) -> None:
    first, second = [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]
    fake.reply(EMBEDDINGS_PATH, embeddings_body(first, second, indexes=[1, 0]))
    async with contextlib.aclosing(embedder(fake, model="tiny", dimensions=4)) as tiny:
        vectors = await tiny.embed(["one", "two"])

    assert np.allclose(vectors, [[1, 0, 0, 0], [0, 0, 1, 0]])


@pytest.mark.parametrize(("reply", "says"), [
    (embeddings_body([1.0, 0.0, 0.0, 0.0]), "1 vectors"),
    (embeddings_body([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), "3-dimensional"),
    (embeddings_body([0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]), "zero"),
    (embeddings_body([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], indexes=[0, 0]), "indexes"),
    (json_reply({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": "not base64!"},
                                            {"object": "embedding", "index": 1, "embedding": "AAAA"}],
                 "model": "tiny", "usage": {"prompt_tokens": 1, "total_tokens": 1}}), "unreadable"),
], ids=["too-few", "wrong-size", "zero-vector", "duplicate-index", "bad-base64"])
async def test_an_answer_that_does_not_fit_the_texts_is_embedder_unavailable(fake: FakeOpenAI, reply: Reply,
                                                                             says: str) -> None:
    fake.reply(EMBEDDINGS_PATH, reply)
    async with contextlib.aclosing(embedder(fake, model="tiny", dimensions=4)) as tiny:
        with pytest.raises(EmbedderUnavailable, match=says):
            await tiny.embed(["one", "two"])


async def test_openai_base_url_from_the_environment_is_used_when_none_is_given(
        fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    async with contextlib.aclosing(OpenAIEmbedder(api_key=KEY, base_url=None, max_retries=0)) as from_env:
        await from_env.embed(["buy milk"])

    assert from_env.base_url == f"{fake.base_url}/"
    assert len(fake.requests_to(EMBEDDINGS_PATH)) == 1


# --- embeddings: errors, timeouts and retries -------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "says"), [
    (openai_error(500, "The server had an error.", type="server_error"), "HTTP 500"),
    (openai_error(503, "The engine is currently overloaded.", type="server_error"), "HTTP 503"),
    (openai_error(429, "Rate limit reached for requests", type="requests", code="rate_limit_exceeded"),
     "rate limiting"),
    (openai_error(429, "You exceeded your current quota.", type="insufficient_quota", code="insufficient_quota"),
     "insufficient_quota"),
    (openai_error(401, "Incorrect API key provided: sk-proj-****7e.", code="invalid_api_key"),
     "refused the API key .*OPENAI_API_KEY"),
    (openai_error(403, "You are not allowed to use this model.", code="model_not_found"), "HTTP 403"),
    (openai_error(400, "This model's maximum context length is 8192 tokens.", param="input"),
     "refused .* as invalid \\(HTTP 400.*maximum context length"),
    (openai_error(404, "The model `text-embedding-9` does not exist.", code="model_not_found"), "HTTP 404"),
    (Reply(status=502, body=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}), "HTTP 502"),
    (Reply(status=200, body=b"not json", headers={"Content-Type": "application/json"}), "unreadable"),
], ids=["500", "503", "429-rate", "429-quota", "401", "403", "400", "404", "502-html", "200-garbage"])
async def test_each_failure_is_embedder_unavailable_saying_which(fake: FakeOpenAI, embed: OpenAIEmbedder,
                                                                 reply: Reply, says: str) -> None:
    fake.reply(EMBEDDINGS_PATH, reply)

    with pytest.raises(EmbedderUnavailable, match=says) as caught:
        await embed.embed(["buy milk"])

    assert caught.value.code == "EMBEDDER_UNAVAILABLE"
    assert caught.value.__cause__ is None  # the SDK's error, with the body it quotes, stays out of the traceback


@pytest.mark.parametrize("status", [500, 429])
async def test_a_retryable_failure_is_tried_one_plus_max_retries_times(fake: FakeOpenAI, status: int) -> None:
    fake.reply(EMBEDDINGS_PATH, openai_error(status, headers=FAST_RETRY), repeat=True)
    async with contextlib.aclosing(embedder(fake, max_retries=2)) as retrying:
        with pytest.raises(EmbedderUnavailable, match="3 attempts"):
            await retrying.embed(["buy milk"])

    assert [request.headers["x-stainless-retry-count"] for request in fake.requests] == ["0", "1", "2"]


async def test_a_failure_that_clears_within_the_retries_answers(fake: FakeOpenAI) -> None:
    fake.reply(EMBEDDINGS_PATH, openai_error(503, headers=FAST_RETRY))  # once, then the fake's own answer
    async with contextlib.aclosing(embedder(fake, max_retries=1)) as retrying:
        vectors = await retrying.embed(["buy milk"])

    assert len(fake.requests) == 2
    assert np.allclose(vectors, [fake_vector("buy milk", 1536)], atol=1e-6)


@pytest.mark.parametrize("status", [400, 401])
async def test_a_refusal_is_not_retried(fake: FakeOpenAI, status: int) -> None:
    fake.reply(EMBEDDINGS_PATH, openai_error(status, headers=FAST_RETRY), repeat=True)
    async with contextlib.aclosing(embedder(fake, max_retries=2)) as retrying:
        with pytest.raises(EmbedderUnavailable):
            await retrying.embed(["buy milk"])

    assert len(fake.requests) == 1


async def test_no_answer_within_the_timeout_is_embedder_unavailable(fake: FakeOpenAI) -> None:
    fake.reply(EMBEDDINGS_PATH, stall(30))
    async with contextlib.aclosing(embedder(fake, timeout_s=TIMEOUT_S)) as impatient:
        started = time.monotonic()
        with pytest.raises(EmbedderUnavailable, match=r"within 0\.3 s"):
            await impatient.embed(["buy milk"])

    assert time.monotonic() - started < 10  # far under the stall; no tight timing on a shared machine


async def test_a_timeout_is_retried_too(fake: FakeOpenAI) -> None:
    fake.reply(EMBEDDINGS_PATH, stall(30), repeat=True)
    async with contextlib.aclosing(embedder(fake, timeout_s=TIMEOUT_S, max_retries=1)) as impatient:
        with pytest.raises(EmbedderUnavailable, match="2 attempts"):
            await impatient.embed(["buy milk"])

    assert len(fake.requests) == 2


async def test_a_refused_connection_is_embedder_unavailable() -> None:
    down = FakeOpenAI(listen=False)
    try:
        async with contextlib.aclosing(embedder(down)) as unreachable:
            with pytest.raises(EmbedderUnavailable, match="could not be reached"):
                await unreachable.embed(["buy milk"])
    finally:
        down.close()


def test_a_missing_key_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIEmbedder(api_key="  ")


# --- answers ----------------------------------------------------------------------------------------------------


async def test_a_question_posts_the_numbered_memories_with_ids_and_dates_and_asks_for_the_json_schema(
        fake: FakeOpenAI, answers: OpenAIAnswerer) -> None:
    wifi = memory("The wifi password is hunter2.")
    bike = memory("Bike lock code: 4711.", created_at=datetime(2026, 1, 2, 18, 5, tzinfo=UTC))
    fake.chat(model_says("hunter2", (wifi.id, "hunter2")))

    await answers.answer("  What is the wifi password?  ", [wifi, bike])

    [request] = fake.requests
    assert (request.path, request.headers["authorization"]) == (CHAT_PATH, f"Bearer {KEY}")
    body = request.json()
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "only the numbered memories" in SYSTEM_PROMPT
    assert "language of the question" in SYSTEM_PROMPT
    assert user["role"] == "user"
    assert user["content"] == (
        f"Memories:\n\n[1] id: {wifi.id} | date: 2026-03-14 09:30 UTC\nThe wifi password is hunter2.\n\n"
        f"[2] id: {bike.id} | date: 2026-01-02 18:05 UTC\nBike lock code: 4711.\n\n"
        "Question: What is the wifi password?")


async def test_an_answer_cites_its_memories_with_their_quotes_and_dates(fake: FakeOpenAI,
                                                                        answers: OpenAIAnswerer) -> None:
    wifi = memory("Guest network: memo-guest. The wifi password is hunter2.")
    bike = memory("Bike lock code: 4711.", created_at=datetime(2026, 1, 2, tzinfo=UTC))
    fake.chat(model_says("Das WLAN-Passwort ist hunter2, das Fahrradschloss 4711.",
                         (wifi.id, "The wifi password is hunter2."), (bike.id, "Bike lock code: 4711.")))

    answer = await answers.answer("Wie lautet das WLAN-Passwort?", [wifi, bike])

    assert answer.text == "Das WLAN-Passwort ist hunter2, das Fahrradschloss 4711."
    assert answer.knows
    assert answer.citations == (wifi.id, bike.id)
    assert [(source.quote, source.created_at) for source in answer.sources] == [
        ("The wifi password is hunter2.", WHEN), ("Bike lock code: 4711.", datetime(2026, 1, 2, tzinfo=UTC))]


async def test_citations_of_ids_the_model_was_not_given_are_dropped(fake: FakeOpenAI,
                                                                    answers: OpenAIAnswerer) -> None:
    wifi = memory("The wifi password is hunter2.")
    not_given = memory("The wifi password is swordfish.")
    fake.chat(model_says("hunter2", (uuid.uuid4(), "hunter2"), (wifi.id, "hunter2"), (not_given.id, "swordfish")))

    answer = await answers.answer("What is the wifi password?", [wifi])

    assert answer.citations == (wifi.id,)


async def test_an_answer_citing_only_ids_it_was_not_given_is_answerer_unavailable(fake: FakeOpenAI,
                                                                                  answers: OpenAIAnswerer) -> None:
    fake.chat(model_says("hunter2", (uuid.uuid4(), "hunter2")))

    with pytest.raises(AnswererUnavailable, match="not given"):
        await answers.answer("What is the wifi password?", [memory("The wifi password is hunter2.")])


@pytest.mark.parametrize(("quoted", "kept"), [
    ("the WIFI   password\nis hunter2", "The wifi password is hunter2"),  # case and spacing aside, its own words
    ("“password is hunter2…”", "password is hunter2"),
    ("The password is swordfish", "Guest network: memo-guest."),  # not in the memory: its first sentence
    ("", "Guest network: memo-guest."),
], ids=["case-and-spaces", "quote-marks", "invented", "empty"])
async def test_a_quote_is_the_memorys_own_words_or_else_its_first_sentence(
        fake: FakeOpenAI, answers: OpenAIAnswerer, quoted: str, kept: str) -> None:
    wifi = memory("Guest network: memo-guest. The wifi password is hunter2.")
    fake.chat(model_says("hunter2", (wifi.id, quoted)))

    answer = await answers.answer("What is the wifi password?", [wifi])

    assert [source.quote for source in answer.sources] == [kept]


async def test_a_memory_cited_by_its_list_number_or_twice_is_one_source(fake: FakeOpenAI,
                                                                        answers: OpenAIAnswerer) -> None:
    wifi, bike = memory("The wifi password is hunter2."), memory("Bike lock code: 4711.")
    fake.chat(model_says("hunter2 and 4711", ("2", "4711"), ("[1]", "hunter2"), (str(wifi.id).upper(), "wifi")))

    answer = await answers.answer("Codes?", [wifi, bike])

    assert answer.citations == (bike.id, wifi.id)
    assert [source.quote for source in answer.sources] == ["4711", "hunter2"]


async def test_memories_the_model_cannot_answer_from_give_its_abstention_without_sources(
        fake: FakeOpenAI, answers: OpenAIAnswerer) -> None:
    fake.chat(model_says("No sé: tus recuerdos no lo dicen."))

    answer = await answers.answer("¿Cuál es la contraseña del wifi?", [memory("Bike lock code: 4711.")])

    assert answer.text == "No sé: tus recuerdos no lo dicen."
    assert not answer.knows
    assert answer.sources == ()


async def test_no_memories_answer_not_known_without_calling_openai(fake: FakeOpenAI,
                                                                  answers: OpenAIAnswerer) -> None:
    answer = await answers.answer("What is the wifi password?", [])

    assert answer.text == NOT_KNOWN
    assert not answer.knows
    assert fake.requests == []


async def test_the_memories_sent_stay_within_the_character_budget_best_first(fake: FakeOpenAI) -> None:
    memories = [memory(f"{letter * 300}.") for letter in "abcde"]
    fake.chat(model_says("x", (memories[0].id, "a"), (memories[4].id, "e")))
    async with contextlib.aclosing(answerer(fake, max_context_chars=1_100)) as thrifty:
        answer = await thrifty.answer("letters?", memories)

    content = fake.requests[0].json()["messages"][1]["content"]
    memories_part = content.removeprefix("Memories:\n\n").rpartition("\n\nQuestion:")[0]
    assert len(memories_part) <= 1_100
    assert [str(item.id) in content for item in memories] == [True, True, True, False, False]
    assert memories_part.endswith("…")  # the third one clipped to fit
    assert answer.citations == (memories[0].id,)  # one it was not shown is not citable


async def test_a_model_that_takes_no_temperature_is_sent_none(fake: FakeOpenAI) -> None:
    fake.chat(model_says("no"))
    async with contextlib.aclosing(answerer(fake, model="o4-mini", temperature=None)) as reasoning:
        await reasoning.answer("?", [memory("Bike lock code: 4711.")])

    body = fake.requests[0].json()
    assert body["model"] == "o4-mini"
    assert "temperature" not in body


@pytest.mark.parametrize("reply", [
    chat_completion("The password is hunter2."),
    chat_completion('["hunter2"]'),
    chat_completion('{"answer": "", "citations": []}'),
    chat_completion('{"answer": "hunter2", "citations": "1"}'),
    chat_completion('{"citations": []}'),
    chat_completion('{"answer": "hunter2", "citati'),
    chat_completion('{"answer": "hunter2", "citations": []}', finish_reason="length"),
    chat_completion(None, refusal="I can't help with that."),
    json_reply({"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini", "choices": []}),
], ids=["prose", "json-list", "empty-answer", "citations-not-a-list", "no-answer", "truncated", "cut-off",
        "refusal", "no-choice"])
async def test_output_that_is_not_the_json_asked_for_is_answerer_unavailable_for_the_fallback(
        fake: FakeOpenAI, answers: OpenAIAnswerer, reply: Reply) -> None:
    fake.reply(CHAT_PATH, reply)

    with pytest.raises(AnswererUnavailable, match="another answerer") as caught:
        await answers.answer("What is the wifi password?", [memory("The wifi password is hunter2.")])

    assert caught.value.code == "ANSWERER_UNAVAILABLE"


async def test_json_in_a_code_fence_is_still_read(fake: FakeOpenAI, answers: OpenAIAnswerer) -> None:
    wifi = memory("The wifi password is hunter2.")
    fake.chat(f"```json\n{model_says('hunter2', (wifi.id, 'hunter2'))}\n```")

    answer = await answers.answer("What is the wifi password?", [wifi])

    assert answer.citations == (wifi.id,)


@pytest.mark.parametrize(("reply", "says"), [
    (openai_error(500, type="server_error"), "HTTP 500"),
    (openai_error(401, f"Incorrect API key provided: {KEY}.", code="invalid_api_key"), "OPENAI_API_KEY"),
    (openai_error(429, "Rate limit reached", code="rate_limit_exceeded"), "rate limiting"),
    (openai_error(400, "Invalid schema for response_format", param="response_format"), "HTTP 400"),
    (stall(30), "within 0.3 s"),
], ids=["500", "401", "429", "400", "timeout"])
async def test_each_chat_failure_is_answerer_unavailable(fake: FakeOpenAI, reply: Reply, says: str) -> None:
    fake.reply(CHAT_PATH, reply)
    async with contextlib.aclosing(answerer(fake, timeout_s=TIMEOUT_S)) as failing:
        with pytest.raises(AnswererUnavailable, match=says):
            await failing.answer("?", [memory("Bike lock code: 4711.")])


async def test_chat_failures_are_retried_max_retries_times(fake: FakeOpenAI) -> None:
    fake.reply(CHAT_PATH, openai_error(500, headers=FAST_RETRY), repeat=True)
    async with contextlib.aclosing(answerer(fake, max_retries=1)) as retrying:
        with pytest.raises(AnswererUnavailable, match="2 attempts"):
            await retrying.answer("?", [memory("Bike lock code: 4711.")])

    assert len(fake.requests) == 2


# --- transcription ----------------------------------------------------------------------------------------------


async def test_a_voice_note_is_posted_as_a_multipart_file_and_its_language_comes_back_as_a_code(
        fake: FakeOpenAI, transcribe: OpenAITranscriber) -> None:
    fake.transcript("  Milch kaufen und Mama anrufen.  ", language="german")

    transcript = await transcribe.transcribe(OGG, mime_type="audio/ogg; codecs=opus")

    assert transcript.text == "Milch kaufen und Mama anrufen."
    assert transcript.language == "de"
    [request] = fake.requests
    assert (request.path, request.headers["authorization"]) == (TRANSCRIPTIONS_PATH, f"Bearer {KEY}")
    form = request.form()
    assert set(form) == {"model", "file", "response_format"}
    assert (form["model"].text, form["response_format"].text) == ("whisper-1", "verbose_json")
    assert (form["file"].filename, form["file"].content_type) == ("voice.ogg", "audio/ogg")
    assert form["file"].value == OGG


@pytest.mark.parametrize(("mime_type", "filename"), [
    (None, "voice.ogg"), ("audio/mpeg", "voice.mp3"), ("audio/mp4", "voice.m4a"), ("AUDIO/WAV", "voice.wav"),
    ("audio/x-caf", "voice.caf"), ("audio/../../etc", "voice.ogg"),
])
async def test_the_file_name_tells_openai_the_format(fake: FakeOpenAI, transcribe: OpenAITranscriber,
                                                     mime_type: str | None, filename: str) -> None:
    fake.transcript("hi")

    await transcribe.transcribe(OGG, mime_type=mime_type)

    assert fake.requests[0].form()["file"].filename == filename


async def test_a_model_other_than_whisper_is_asked_for_plain_json_without_a_language(fake: FakeOpenAI) -> None:
    fake.transcript("Buy milk.")
    async with contextlib.aclosing(transcriber(fake, model="gpt-4o-mini-transcribe")) as newer:
        transcript = await newer.transcribe(OGG, mime_type="audio/ogg")

    assert (transcript.text, transcript.language) == ("Buy milk.", None)
    form = fake.requests[0].form()
    assert (form["model"].text, form["response_format"].text) == ("gpt-4o-mini-transcribe", "json")


@pytest.mark.parametrize(("reply", "says"), [
    (openai_error(400, "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'ogg', 'wav', 'webm']",
                  param="file"), "HTTP 400.*Invalid file format"),
    (openai_error(500, type="server_error"), "HTTP 500"),
    (openai_error(401, code="invalid_api_key"), "OPENAI_API_KEY"),
    (stall(30), "within 0.3 s"),
], ids=["400", "500", "401", "timeout"])
async def test_each_transcription_failure_is_transcriber_unavailable(fake: FakeOpenAI, reply: Reply,
                                                                     says: str) -> None:
    fake.reply(TRANSCRIPTIONS_PATH, reply)
    async with contextlib.aclosing(transcriber(fake, timeout_s=TIMEOUT_S)) as failing:
        with pytest.raises(TranscriberUnavailable, match=says):
            await failing.transcribe(OGG, mime_type="audio/ogg")


async def test_a_transcription_upload_is_retried_whole(fake: FakeOpenAI) -> None:
    fake.reply(TRANSCRIPTIONS_PATH, openai_error(500, headers=FAST_RETRY))
    fake.transcript("hi")
    async with contextlib.aclosing(transcriber(fake, max_retries=1)) as retrying:
        assert (await retrying.transcribe(OGG, mime_type="audio/ogg")).text == "hi"

    assert [request.form()["file"].value for request in fake.requests] == [OGG, OGG]


async def test_empty_or_oversized_audio_is_refused_without_an_upload(fake: FakeOpenAI) -> None:
    async with contextlib.aclosing(transcriber(fake, max_audio_bytes=100)) as limited:
        with pytest.raises(TranscriberUnavailable, match="no audio"):
            await limited.transcribe(b"", mime_type="audio/ogg")
        with pytest.raises(TranscriberUnavailable, match="over the 100 bytes"):
            await limited.transcribe(OGG, mime_type="audio/ogg")

    assert fake.requests == []


# --- the key ----------------------------------------------------------------------------------------------------


async def test_the_api_key_is_in_no_log_line_exception_or_repr(fake: FakeOpenAI,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for name in ("openai", "httpx", "httpx2", "httpcore", "memo"):
        caplog.set_level(logging.DEBUG, logger=name)
    quoting = openai_error(401, f"Incorrect API key provided: {KEY}. Bearer {KEY}", code="invalid_api_key")
    fake.reply(EMBEDDINGS_PATH, quoting, openai_error(400, f"bad input for key {KEY}"),
               openai_error(500, f"oops {KEY}", headers=FAST_RETRY))
    fake.reply(CHAT_PATH, quoting, openai_error(400, f"bad request from {KEY}"))
    fake.reply(TRANSCRIPTIONS_PATH, quoting, openai_error(400, f"bad file from {KEY}"))
    fake.chat("not json")
    fake.transcript("hi")
    wifi = memory("The wifi password is hunter2.")
    failures: list[BaseException] = []
    async with (contextlib.aclosing(embedder(fake, max_retries=1)) as embed,
                contextlib.aclosing(answerer(fake)) as answers,
                contextlib.aclosing(transcriber(fake)) as transcribe):
        calls: list[Callable[[], Awaitable[object]]] = [
            *[lambda: embed.embed(["x"])] * 3, *[lambda: answers.answer("?", [wifi])] * 3,
            *[lambda: transcribe.transcribe(OGG, mime_type=None)] * 3]
        for call in calls:
            try:
                await call()
            except (EmbedderUnavailable, AnswererUnavailable, TranscriberUnavailable) as exc:
                failures.append(exc)
        shown = [repr(embed), repr(answers), repr(transcribe), str(vars(embed)), repr(embed._key)]

    assert len(failures) == 7  # 401, 400 (embeddings, chat, transcription) and the unreadable answer
    assert len(fake.requests) == 10
    assert any(record.name.startswith("openai") for record in caplog.records)
    assert any(record.name.startswith("httpx") for record in caplog.records)
    texts = [caplog.text, *(record.getMessage() for record in caplog.records), *shown,
             *("".join(traceback.format_exception(failure)) for failure in failures),
             *(repr(failure) for failure in failures)]
    assert not [text for text in texts if KEY in text]
    assert any("[redacted]" in str(failure) for failure in failures)
