"""The sync status over the in-memory store, counted the way the SQL reader counts."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from memo.adapters.storage.memory import InMemoryStore
from memo.application.dto import SyncStatus
from memo.application.ports import SyncStatusReader
from memo.domain.conversation import Direction, MediaState
from memo.domain.jobs import JobState
from memo.domain.whatsapp import MessageStatus


class InMemorySyncStatusReader(SyncStatusReader):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def sync_status(self, owner_id: UUID) -> SyncStatus:
        mine = [message for (owner, _), message in self._store.whatsapp_messages.items() if owner == owner_id]
        received = [message for message in mine if message.direction is Direction.RECEIVED]
        sent = [message for message in mine if message.direction is Direction.SENT]
        statuses = {wamid: kept for (owner, wamid), kept in self._store.whatsapp_statuses.items() if owner == owner_id}
        deliveries = Counter((statuses[message.whatsapp_message_id][0].status if message.whatsapp_message_id
                              in statuses else MessageStatus.SENT).value for message in sent)
        media = Counter(message.media_state.value for message in mine if message.media_state is not None)
        jobs = Counter(job.state.value for job in self._store.jobs.values() if job.owner_id == owner_id)
        moments = [message.recorded_at for message in received] + [at for _, at in statuses.values()]
        return SyncStatus(
            last_webhook_at=max(moments, default=None), received=len(received), sent=len(sent),
            deliveries={state.value: deliveries[state.value] for state in MessageStatus},
            media={state.value: media[state.value] for state in MediaState},
            jobs={state.value: jobs[state.value] for state in (JobState.PENDING, JobState.RUNNING, JobState.FAILED)})
