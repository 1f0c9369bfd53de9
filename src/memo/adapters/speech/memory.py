"""A scripted transcriber for unit tests and the `test` profile: it hears what it is told, records, and fails on cue."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from memo.application.errors import TranscriberUnavailable
from memo.application.ports import Transcriber
from memo.domain.retrieval import Transcript


@dataclass(frozen=True, slots=True)
class TranscriptionCall:
    audio_sha256: str
    mime_type: str | None


class InMemoryTranscriber(Transcriber):
    """Answers the transcript scripted for the audio's sha256; unscripted audio is heard as silence (empty text).

    Empty audio is refused as the real transcriber refuses it; `fail_next` makes the next calls raise instead.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, Transcript] = {}
        self.calls: list[TranscriptionCall] = []
        self.fail_next: list[Exception] = []

    def script(self, audio: bytes, text: str, *, language: str | None = "en") -> None:
        self.scripts[hashlib.sha256(audio).hexdigest()] = Transcript(text=text, language=language)

    async def transcribe(self, audio: bytes, *, mime_type: str | None) -> Transcript:
        digest = hashlib.sha256(audio).hexdigest()
        self.calls.append(TranscriptionCall(audio_sha256=digest, mime_type=mime_type))
        if self.fail_next:
            raise self.fail_next.pop(0)
        if not audio:
            raise TranscriberUnavailable("The voice note is empty: there is no audio to transcribe.")
        return self.scripts.get(digest, Transcript(text=""))
