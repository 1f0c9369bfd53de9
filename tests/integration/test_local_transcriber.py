"""The local transcriber on the real tiny.en model: voice notes in WhatsApp's format, a tampered model, bad audio.

The fixtures are synthetic voice notes (espeak-ng, OGG/Opus mono 16 kHz, see tests/fixtures/audio/README.md).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from memo.adapters.speech.memory import InMemoryTranscriber
from memo.adapters.speech.whisper import (
    TINY_EN_SHA256,
    WhisperTranscriber,
    bundled_model_dir,
    file_sha256,
    verify_model_files,
)
from memo.application.errors import TranscriberUnavailable
from memo.domain.retrieval import Transcript

AUDIO = Path(__file__).parent.parent / "fixtures" / "audio"
ENGLISH = (AUDIO / "voice_note_en.ogg").read_bytes()  # "Remind me to call the plumber about the kitchen sink on ..."
SPANISH = (AUDIO / "voice_note_es.ogg").read_bytes()  # "Recuérdame comprar leche y pan mañana por la tarde."
OGG = "audio/ogg; codecs=opus"
# Loading tiny.en and transcribing a first note takes 1.5-3 s on this 2-core machine, each later note 0.5-1 s: the
# tests that run the model are `slow`; the rest (digests, lazy loading, refusals before loading) are not.
RUNS_THE_MODEL = pytest.mark.slow


@pytest.fixture(scope="module")
def transcriber() -> Iterator[WhisperTranscriber]:
    """One loaded model for the module: loading is the slow part, and what it loads is the same for every test."""
    transcriber = WhisperTranscriber(cpu_threads=2)
    yield transcriber
    transcriber.close()


def spoken_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def opus_silence(seconds: float) -> bytes:
    """A voice note in WhatsApp's container and codec with nothing said in it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, int(48_000 * seconds)), dtype=np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


@RUNS_THE_MODEL
async def test_the_english_voice_note_is_transcribed(transcriber: WhisperTranscriber) -> None:
    transcript = await transcriber.transcribe(ENGLISH, mime_type=OGG)

    heard = spoken_words(transcript.text)
    # tiny.en hears "about the" as "amount of"; the words a search would use all come through
    assert {"remind", "call", "plumber", "kitchen", "sink", "friday", "morning"} <= set(heard)
    assert heard[:5] == ["remind", "me", "to", "call", "the"]
    assert transcript.language == "en"


@RUNS_THE_MODEL
async def test_a_spanish_note_is_not_turned_into_invented_english(transcriber: WhisperTranscriber) -> None:
    # tiny.en knows only English: it hears fluent English that was never said, at a low log-probability
    assert await transcriber.transcribe(SPANISH, mime_type=OGG) == Transcript(text="", language=None)


@RUNS_THE_MODEL
async def test_without_the_confidence_floor_tiny_en_invents_english_for_spanish() -> None:
    unfiltered = WhisperTranscriber(min_avg_logprob=None)
    try:
        transcript = await unfiltered.transcribe(SPANISH, mime_type=OGG)
    finally:
        unfiltered.close()

    assert transcript.text  # what the floor is there to drop
    assert not {"leche", "pan", "mañana", "tarde"} & set(spoken_words(transcript.text))


@RUNS_THE_MODEL
async def test_a_decoding_caught_in_a_repetition_loop_is_dropped() -> None:
    looping = WhisperTranscriber(beam_size=3, min_avg_logprob=None)  # beam 3 loops on this note, and confidently
    try:
        transcript = await looping.transcribe(SPANISH, mime_type=OGG)
    finally:
        looping.close()

    assert transcript == Transcript(text="", language=None)


@RUNS_THE_MODEL
async def test_silence_is_an_empty_transcript(transcriber: WhisperTranscriber) -> None:
    assert await transcriber.transcribe(opus_silence(2.0), mime_type=OGG) == Transcript(text="", language=None)


@RUNS_THE_MODEL
@pytest.mark.parametrize("audio", [
    b"\x00garbage" * 100,
    b"\x89PNG\r\n\x1a\n" + bytes(100),  # a container PyAV opens that holds no audio
    ENGLISH[:200],  # cut off inside the Ogg headers
], ids=["garbage", "png", "truncated"])
async def test_bytes_that_are_not_audio_are_refused(transcriber: WhisperTranscriber, audio: bytes) -> None:
    with pytest.raises(TranscriberUnavailable, match="not audio that can be decoded"):
        await transcriber.transcribe(audio, mime_type=OGG)


async def test_empty_audio_is_refused(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(TranscriberUnavailable, match="empty"):
        await transcriber.transcribe(b"", mime_type=OGG)


async def test_constructing_loads_nothing(tmp_path: Path) -> None:
    missing = WhisperTranscriber(model_dir=tmp_path / "no-model-here")  # would fail at once if it touched the disk

    assert not missing.loaded
    with pytest.raises(TranscriberUnavailable, match="cannot be read"):
        await missing.transcribe(ENGLISH, mime_type=OGG)
    assert not missing.loaded
    missing.close()


@RUNS_THE_MODEL
async def test_the_first_voice_note_loads_the_model_once_even_when_two_arrive_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = WhisperTranscriber()
    loads: list[None] = []
    load = fresh._load

    def counted_load() -> object:
        loads.append(None)
        return load()

    monkeypatch.setattr(fresh, "_load", counted_load)
    try:
        first, second = await asyncio.gather(fresh.transcribe(ENGLISH, mime_type=OGG),
                                             fresh.transcribe(ENGLISH, mime_type=OGG))
    finally:
        fresh.close()

    assert len(loads) == 1
    assert fresh.loaded
    assert first == second  # decoding is deterministic, concurrent or not


@RUNS_THE_MODEL
async def test_transcription_leaves_the_event_loop_free(transcriber: WhisperTranscriber) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await transcriber.transcribe(ENGLISH, mime_type=OGG)
    finally:
        ticker.cancel()

    assert ticks > 0


async def test_a_tampered_model_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    tampered = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), tampered)
    with (tampered / "model.bin").open("r+b") as model_bin:
        model_bin.seek(1_000_000)
        byte = model_bin.read(1)
        model_bin.seek(1_000_000)
        model_bin.write(bytes([byte[0] ^ 0x01]))
    transcriber = WhisperTranscriber(model_dir=tampered)

    with pytest.raises(TranscriberUnavailable, match=r"model\.bin has sha256 [0-9a-f]{64}, not the pinned"):
        await transcriber.transcribe(ENGLISH, mime_type=OGG)
    assert not transcriber.loaded
    transcriber.close()


def test_the_bundled_model_matches_its_pinned_digests() -> None:
    verify_model_files(bundled_model_dir(), TINY_EN_SHA256)  # raises if the installed package drifted


def test_the_digest_check_refuses_any_changed_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "weights").write_bytes(b"weights")
    pinned = {"weights": file_sha256(tmp_path / "weights")}
    verify_model_files(tmp_path, pinned)

    (tmp_path / "weights").write_bytes(b"weightz")
    with pytest.raises(TranscriberUnavailable, match="not the pinned"):
        verify_model_files(tmp_path, pinned)
    with pytest.raises(TranscriberUnavailable, match="cannot be read"):
        verify_model_files(tmp_path, {"tokenizer.json": pinned["weights"]})


async def test_the_in_memory_transcriber_answers_its_script_records_and_fails_on_cue() -> None:
    fake = InMemoryTranscriber()
    fake.script(ENGLISH, "Remind me to call the plumber.")
    fake.fail_next.append(TranscriberUnavailable("down"))

    with pytest.raises(TranscriberUnavailable, match="down"):
        await fake.transcribe(ENGLISH, mime_type=OGG)
    assert await fake.transcribe(ENGLISH, mime_type=OGG) == Transcript(text="Remind me to call the plumber.",
                                                                       language="en")
    assert await fake.transcribe(SPANISH, mime_type=None) == Transcript(text="")  # unscripted: heard as silence
    with pytest.raises(TranscriberUnavailable, match="empty"):
        await fake.transcribe(b"", mime_type=None)
    assert [call.mime_type for call in fake.calls] == [OGG, OGG, None, None]
