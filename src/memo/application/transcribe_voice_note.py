"""The worker's voice-note job: the words of a WhatsApp voice note become its memory's content, then get indexed.

It runs after the media job stored the audio. The memory keeps what it said before (the caption or the
`[voice note]` placeholder) in `metadata.caption`, and the media reference stays on the conversation record, so
nothing of the original is lost; the transcript is what search and answers read. A transcriber that fails raises
for the worker to retry; a note with no words keeps its placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.ports import Clock, IdGenerator, MediaStore, Transcriber, UnitOfWork
from memo.domain.conversation import MediaState, job_message
from memo.domain.jobs import Job
from memo.domain.memory import MAX_CONTENT_CHARS
from memo.domain.retrieval import index_job

TRANSCRIBE_VOICE_JOB = "whatsapp.transcribe"  # payload: {"messageId": the WhatsApp message id}


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscribeVoiceNote:
    uow: UnitOfWork
    store: MediaStore
    transcriber: Transcriber
    clock: Clock
    ids: IdGenerator

    async def __call__(self, job: Job) -> None:
        owner_id, message_id = job_message(job)
        async with self.uow:
            message = await self.uow.whatsapp.get(owner_id, message_id)
            memory = None if message is None else await self.uow.memories.get(owner_id, message.memory_id)
        if message is None or memory is None or message.media_state is not MediaState.STORED or not message.media_ref:
            return  # the memory was deleted, or there is no audio to read
        if memory.metadata.get("transcribed"):
            return  # done by an earlier attempt
        audio = await self.store.get(message.media_ref)
        if audio is None:
            raise ValueError(f"the media of {message_id} is missing from the media store")
        transcript = await self.transcriber.transcribe(audio, mime_type=message.mime_type)
        text = transcript.text.strip()[:MAX_CONTENT_CHARS]
        now = self.clock.now()
        extra: dict[str, object] = {"transcribed": True, "caption": memory.content}
        if transcript.language:
            extra["transcriptLanguage"] = transcript.language
        revised = memory.revise(content=text or None, metadata=extra, now=now)
        async with self.uow:
            if await self.uow.memories.replace(revised, expected_version=memory.version):
                await self.uow.outbox.enqueue(index_job(memory.owner_id, [memory.id], id=self.ids.new_id(), now=now))
                await self.uow.commit()
                return
        raise RuntimeError(f"the memory of {message_id} changed while it was transcribed; trying again")
