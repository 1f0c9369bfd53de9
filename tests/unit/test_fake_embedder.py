"""HashingEmbedder: exact, explainable scores from shared words; outages on demand; a record of what it embedded."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence

import pytest

from memo.adapters.embedding.fake import HashingEmbedder
from memo.application.errors import EmbedderUnavailable


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    return sum(a * b for a, b in zip(first, second, strict=True))  # both unit length


async def test_identical_texts_score_exactly_one() -> None:
    first, second = await HashingEmbedder().embed(["dentist at three", "dentist at three"])
    assert first == second
    assert math.isclose(cosine(first, second), 1.0)


async def test_case_and_punctuation_do_not_matter() -> None:
    first, second = await HashingEmbedder().embed(["Dentist, at THREE!", "dentist at three"])
    assert first == second


async def test_texts_sharing_words_score_above_texts_sharing_none() -> None:
    embedder = HashingEmbedder(dimensions=4096)  # wide enough that these words share no bucket
    assert len({embedder.bucket(word) for word in ["dentist", "at", "three", "buy", "milk", "bread"]}) == 6
    dentist, again, shopping = await embedder.embed(["dentist at three", "dentist three", "buy milk bread"])
    assert cosine(dentist, again) == pytest.approx(2 / math.sqrt(3 * 2))
    assert cosine(dentist, shopping) == 0.0


async def test_every_vector_has_unit_length_and_the_configured_dimensions() -> None:
    embedder = HashingEmbedder(dimensions=16)
    assert embedder.dimensions == 16
    for vector in await embedder.embed(["a b c a", "", "  ", "x" * 1000, "naïve café ☕"]):
        assert len(vector) == 16
        assert math.isclose(math.sqrt(sum(value * value for value in vector)), 1.0)


async def test_texts_without_words_share_one_vector() -> None:
    empty, blank, symbols = await HashingEmbedder().embed(["", " \n", "?!"])
    assert empty == blank == symbols


def test_the_buckets_are_the_same_in_every_process() -> None:
    script = "from memo.adapters.embedding.fake import HashingEmbedder; print(HashingEmbedder().bucket('dentist'))"
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,  # noqa: S603
                           env={"PYTHONHASHSEED": seed}, timeout=60).stdout.strip() for seed in ("1", "2")}
    assert runs == {str(HashingEmbedder().bucket("dentist"))}


def test_the_model_name_carries_the_dimensions() -> None:
    assert HashingEmbedder().model == "hashing-64"
    assert HashingEmbedder(dimensions=8).model != HashingEmbedder(dimensions=16).model


async def test_calls_record_each_batch_embedded_in_order() -> None:
    embedder = HashingEmbedder()
    await embedder.embed(["one", "two"])
    await embedder.embed([])
    await embedder.embed(["three"])
    assert embedder.calls == [["one", "two"], ["three"]]
    assert embedder.embedded == ["one", "two", "three"]


async def test_fail_next_fails_that_many_calls_then_recovers_without_recording_them() -> None:
    embedder = HashingEmbedder()
    embedder.fail_next = 2
    for _ in range(2):
        with pytest.raises(EmbedderUnavailable):
            await embedder.embed(["hello"])
    assert embedder.calls == []
    assert len(await embedder.embed(["hello"])) == 1
    assert embedder.calls == [["hello"]]


async def test_an_unavailable_embedder_fails_every_call_until_it_is_back() -> None:
    embedder = HashingEmbedder()
    embedder.available = False
    for _ in range(3):
        with pytest.raises(EmbedderUnavailable):
            await embedder.embed(["hello"])
    embedder.available = True
    assert len(await embedder.embed(["hello"])) == 1
    assert embedder.calls == [["hello"]]


async def test_no_text_means_no_vector_and_no_call_even_when_down() -> None:
    embedder = HashingEmbedder()
    embedder.available = False
    assert await embedder.embed([]) == []
    assert embedder.calls == []


def test_dimensions_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HashingEmbedder(dimensions=0)
