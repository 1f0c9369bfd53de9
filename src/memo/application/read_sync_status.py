"""The caller's own WhatsApp figures, for `GET /api/whatsapp/sync-status`."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from memo.application.dto import SyncStatus
from memo.application.ports import SyncStatusReader


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadSyncStatus:
    reader: SyncStatusReader

    async def __call__(self, owner_id: UUID) -> SyncStatus:
        return await self.reader.sync_status(owner_id)
