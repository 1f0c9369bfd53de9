"""The worker's media job: fetch a received message's media from Meta by its id and keep it in the media store.

Meta's media URLs expire within minutes, so every attempt asks for a fresh one from the media id (the downloader
does); a retry never reuses a stale URL. Media Meta no longer has, or larger than MEMO_MEDIA_MAX_BYTES, is marked
`failed` at once: no retry would bring it. Any other failure is raised for the worker to retry with backoff, and
on the job's last attempt the message is marked `failed` too, so the sync status never shows it pending for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from memo.application.errors import MediaUnavailable
from memo.application.ports import Clock, IdGenerator, MediaStore, UnitOfWork
from memo.application.transcribe_voice_note import TRANSCRIBE_VOICE_JOB
from memo.application.whatsapp_access import WhatsAppAccess
from memo.domain.conversation import ConversationMessage, MediaState, job_message, message_job
from memo.domain.jobs import Job

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaLimits:
    max_bytes: int
    max_attempts: int  # the job's, MEMO_JOB_MAX_ATTEMPTS: the last one marks the media failed


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchWhatsAppMedia:
    whatsapp: WhatsAppAccess
    store: MediaStore
    uow: UnitOfWork
    limits: MediaLimits
    clock: Clock
    ids: IdGenerator

    async def __call__(self, job: Job) -> None:
        message = await self._message(job)
        if message is None or message.media_id is None or message.media_state is not MediaState.PENDING:
            return  # nothing left to fetch: already stored or failed, or the owner is gone
        try:
            media = await self.whatsapp.downloading().download(message.media_id, max_bytes=self.limits.max_bytes)
        except MediaUnavailable as gone:
            logger.warning("media of WhatsApp message %s cannot be fetched: %s", message.whatsapp_message_id, gone)
            await self._save(message.media_failed())
            return
        except Exception:
            if job.attempts >= self.limits.max_attempts:
                await self._save(message.media_failed())
            raise
        ref = await self.store.put(message.owner_id, message.media_id, media.data)
        await self._save(message.media_stored(ref, media.mime_type), transcribe=message.type == "audio")

    async def _message(self, job: Job) -> ConversationMessage | None:
        owner_id, message_id = job_message(job)
        async with self.uow:
            return await self.uow.whatsapp.get(owner_id, message_id)

    async def _save(self, message: ConversationMessage, *, transcribe: bool = False) -> None:
        """Store the media state; for audio just stored, the transcription job commits with it."""
        async with self.uow:
            await self.uow.whatsapp.save_media(message)
            if transcribe:
                await self.uow.outbox.enqueue(message_job(TRANSCRIBE_VOICE_JOB, message.owner_id,
                                                          message.whatsapp_message_id, id=self.ids.new_id(),
                                                          now=self.clock.now()))
            await self.uow.commit()
