"""Export every memory of an owner, page by page, so the server's memory use does not grow with the count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from memo.application.dto import ExportedMemory
from memo.application.ports import UnitOfWork

PAGE = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportMemories:
    uow: UnitOfWork

    async def __call__(self, owner_id: UUID) -> AsyncIterator[Sequence[ExportedMemory]]:
        """The owner's memories oldest first by (created_at, id), one keyset page at a time; each page is read in
        its own short transaction, so a slow reader holds no lock for the whole export."""
        after: tuple[datetime, UUID] | None = None
        while True:
            async with self.uow:
                page = await self.uow.memories.page_after(owner_id, after, limit=PAGE)
                records = await self.uow.whatsapp.of_memories(owner_id, [memory.id for memory in page])
            if not page:
                return
            exported = []
            for memory in page:
                message, status = records.get(memory.id, (None, None))
                exported.append(ExportedMemory(memory=memory, message=message, status=status))
            yield exported
            if len(page) < PAGE:
                return
            after = (page[-1].created_at, page[-1].id)
