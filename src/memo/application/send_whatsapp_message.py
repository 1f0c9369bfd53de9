"""Send a WhatsApp text through the Cloud API and account for it: the outbound record and its memory commit as one.

The send happens outside any transaction (a network call must not hold a database lock), then the record, its
`whatsapp_sent` memory and its first status commit together. Everything that can be refused is refused before
anything is sent: sending not configured, the stricter per-key send limit, content a memory could not hold, a
`replyTo` that names no stored message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from memo.application.counted_limits import count
from memo.application.errors import RateLimited, StorageUnavailable
from memo.application.ports import Clock, IdGenerator, RateLimiter, UnitOfWork
from memo.application.whatsapp_access import WhatsAppAccess
from memo.domain.conversation import ConversationMessage, Direction
from memo.domain.errors import ValidationFailed
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.retrieval import index_job
from memo.domain.whatsapp import MessageStatus, StatusUpdate

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendLimits:
    window_s: float
    per_key: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCommand:
    owner_id: UUID
    key_id: str  # whose send limit it counts against: the signing key, or `owner:<id>` for Memo's own replies
    to: str
    text: str
    reply_to: str | None = None  # the WhatsApp message id of a stored message to answer


@dataclass(frozen=True, slots=True, kw_only=True)
class SentView:
    message_id: str
    to: str
    status: MessageStatus
    memory_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class SendWhatsAppMessage:
    whatsapp: WhatsAppAccess
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator
    limiter: RateLimiter
    limits: SendLimits

    async def __call__(self, command: SendCommand) -> SentView:
        sender, phone_number_id = self.whatsapp.sending()
        now = self.clock.now()
        metadata: dict[str, object] = {"to": command.to, "phoneNumberId": phone_number_id}
        if command.reply_to is not None:
            metadata["replyTo"] = command.reply_to
        # built before sending, so text no memory could hold is refused before anything leaves
        draft = Memory.create(id=self.ids.new_id(), owner_id=command.owner_id, content=command.text,
                              type=MemoryType.WHATSAPP_SENT, metadata=metadata, source=Source.WHATSAPP, now=now)
        decision = await count(self.limiter, f"send:{command.key_id}", limit=self.limits.per_key,
                               window_s=self.limits.window_s)
        if not decision.allowed:
            raise RateLimited(limit=decision.limit, retry_after_s=decision.reset_after_s)
        if command.reply_to is not None:
            await self._check_reply_target(command.owner_id, command.reply_to)
        sent = await sender.send_text(command.to, draft.content, reply_to=command.reply_to)
        memory = Memory.create(id=draft.id, owner_id=draft.owner_id, content=draft.content, type=draft.type,
                               metadata={**draft.metadata, "whatsappMessageId": sent.message_id},
                               source=draft.source, now=now)
        try:
            memory_id = await self._record(phone_number_id, command, sent.message_id, sent.to, memory)
        except StorageUnavailable:
            # Meta has the message; Memo could not write it down. Said loudly so an operator can reconcile.
            logger.error("WhatsApp message %s was sent but could not be recorded", sent.message_id)  # noqa: TRY400
            raise
        return SentView(message_id=sent.message_id, to=sent.to, status=MessageStatus.SENT, memory_id=memory_id)

    async def _check_reply_target(self, owner_id: UUID, reply_to: str) -> None:
        async with self.uow:
            if await self.uow.whatsapp.get(owner_id, reply_to) is None:
                raise ValidationFailed.single("replyTo", "must be the WhatsApp message id of a stored message")

    async def _record(self, phone_number_id: str, command: SendCommand, message_id: str, to: str,
                      memory: Memory) -> UUID:
        """The id of the memory that holds the sent message: this one, or the one already recorded under its id."""
        now = memory.created_at
        record = ConversationMessage(id=self.ids.new_id(), owner_id=command.owner_id, direction=Direction.SENT,
                                     whatsapp_message_id=message_id, peer=to, type="text", memory_id=memory.id,
                                     sent_at=now, recorded_at=now, phone_number_id=phone_number_id)
        async with self.uow:
            if not await self.uow.whatsapp.claim(record):  # Meta never reuses an id; kept correct if it did
                held = await self.uow.whatsapp.get(command.owner_id, message_id)
                return held.memory_id if held is not None else memory.id
            await self.uow.memories.add(memory)
            await self.uow.outbox.enqueue(index_job(memory.owner_id, [memory.id], id=self.ids.new_id(), now=now))
            await self.uow.whatsapp.record_status(command.owner_id, StatusUpdate(
                message_id=message_id, phone_number_id=phone_number_id, status=MessageStatus.SENT,
                timestamp=now, recipient=to), received_at=now)
            await self.uow.commit()
        return memory.id
