"""Ingest a WhatsApp webhook notification: verified over the raw bytes, then one transaction, then the answer.

Meta retries anything but a `200` for a week and wants a fast answer, so this does only the durable part: each new
message becomes its conversation record and one `whatsapp_received` memory, each status moves its message's state
forward, and the slow work (media) is a job in the same transaction. `processed` counts messages newly stored, so
a redelivery answers `0` (`receive` also counts the copies dropped). A number no owner claims is acknowledged
(Meta cannot fix it by retrying) and audited.

Writes go in a fixed order (numbers, then message ids, sorted) so two webhooks carrying the same messages lock
them in the same order on PostgreSQL and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from memo.application.answer_on_whatsapp import ANSWER_ON_WHATSAPP_JOB, is_question
from memo.application.authenticate_request import RateLimits
from memo.application.counted_limits import count
from memo.application.dto import SecurityEvent
from memo.application.errors import AuthenticationFailed, RateLimited
from memo.application.ports import (
    AuditLog,
    Clock,
    IdGenerator,
    NotificationParser,
    RateLimiter,
    UnitOfWork,
    WebhookVerifier,
)
from memo.domain.conversation import FETCH_MEDIA_JOB, ConversationMessage, message_job, received_memory
from memo.domain.owners import Owner
from memo.domain.retrieval import index_job
from memo.domain.whatsapp import InboundMessage, ParsedNotification, status_rank


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedNotification:
    stored: int  # messages newly stored
    duplicates: int  # messages already stored (a redelivery, or a second copy in the same notification)


MAX_AUDITED_SKIPS = 20  # per notification: a batch of thousands of broken items must not flood the audit stream
MAX_AUDITED_TEXT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveWhatsAppNotification:
    verifier: WebhookVerifier
    parser: NotificationParser
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator
    audit: AuditLog
    limiter: RateLimiter
    limits: RateLimits
    ask_prefix: str = "?"

    async def __call__(self, body: bytes, headers: Mapping[str, str], *, client_ip: str, path: str) -> int:
        """The number of messages newly stored; AuthenticationFailed (or RateLimited, for an address that keeps
        failing), InvalidJson or InvalidWebhookObject before anything is written."""
        return (await self.receive(body, headers, client_ip=client_ip, path=path)).stored

    async def receive(self, body: bytes, headers: Mapping[str, str], *, client_ip: str,
                      path: str) -> ReceivedNotification:
        """As calling it, with the messages dropped as duplicates counted beside those stored."""
        try:
            self.verifier.verify(body, headers)
        except AuthenticationFailed as failure:
            self._audit(failure.code, client_ip, path)
            await self._count_failure(client_ip)
            raise
        notification = self.parser.parse(body)
        self._audit_skipped(notification, client_ip, path)
        return await self._store(notification, client_ip, path)

    async def _store(self, notification: ParsedNotification, client_ip: str, path: str) -> ReceivedNotification:
        now = self.clock.now()
        processed = duplicates = 0
        async with self.uow:
            for phone_number_id in sorted(notification.batches):
                batch = notification.batches[phone_number_id]
                owner = await self.uow.owners.by_whatsapp_phone_number_id(phone_number_id)
                if owner is None:
                    self._audit(f"UNKNOWN_PHONE_NUMBER_ID {phone_number_id[:32]}", client_ip, path)
                    continue
                for message in sorted(batch.messages, key=lambda item: item.message_id):
                    if await self._keep(owner, message):
                        processed += 1
                    else:
                        duplicates += 1
                for status in sorted(batch.statuses, key=lambda item: (item.message_id, status_rank(item.status))):
                    await self.uow.whatsapp.record_status(owner.id, status, received_at=now)
            await self.uow.commit()
        return ReceivedNotification(stored=processed, duplicates=duplicates)

    async def _keep(self, owner: Owner, message: InboundMessage) -> bool:
        owner_id, now = owner.id, self.clock.now()
        memory = received_memory(message, id=self.ids.new_id(), owner_id=owner_id, now=now)
        record = ConversationMessage.received(message, id=self.ids.new_id(), owner_id=owner_id,
                                              memory_id=memory.id, now=now)
        if not await self.uow.whatsapp.claim(record):
            return False  # a redelivery, or a second copy in this very notification
        await self.uow.memories.add(memory)
        await self.uow.outbox.enqueue(index_job(owner_id, [memory.id], id=self.ids.new_id(), now=now))
        if record.media_id:
            await self.uow.outbox.enqueue(message_job(FETCH_MEDIA_JOB, owner_id, message.message_id,
                                                      id=self.ids.new_id(), now=now))
        if is_question(message, owner_number=owner.whatsapp_number, prefix=self.ask_prefix):
            await self.uow.outbox.enqueue(message_job(ANSWER_ON_WHATSAPP_JOB, owner_id, message.message_id,
                                                      id=self.ids.new_id(), now=now))
        return True

    async def _count_failure(self, client_ip: str) -> None:
        """Failed signatures count against the address, so only a caller who cannot sign is ever slowed."""
        decision = await count(self.limiter, f"whatsapp-webhook:{client_ip}", limit=self.limits.per_ip,
                               window_s=self.limits.window_s)
        if not decision.allowed:
            raise RateLimited(limit=decision.limit, retry_after_s=decision.reset_after_s)

    def _audit_skipped(self, notification: ParsedNotification, client_ip: str, path: str) -> None:
        skipped = notification.skipped
        for item in skipped[:MAX_AUDITED_SKIPS]:
            reason = f"WEBHOOK_ITEM_SKIPPED at {item.where}: {item.reason}"
            self._audit(reason[:MAX_AUDITED_TEXT], client_ip, path)
        if len(skipped) > MAX_AUDITED_SKIPS:
            self._audit(f"WEBHOOK_ITEM_SKIPPED and {len(skipped) - MAX_AUDITED_SKIPS} more", client_ip, path)

    def _audit(self, reason: str, client_ip: str, path: str) -> None:
        self.audit.security_event(SecurityEvent(reason=reason, key_id=None, client_ip=client_ip, path=path))
