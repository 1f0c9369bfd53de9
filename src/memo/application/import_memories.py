"""Restore memories from an export: ids, times and versions kept, safe to run twice, never an overwrite.

A batch is one transaction. Each line ends created, unchanged (the caller holds the very same memory) or skipped
with a reason: a line the edge could not read, a memory rule broken, an id repeated in the batch, an id another
owner holds (ID_TAKEN, revealing nothing of it), or a memory of the caller that differs (CONFLICT: the stored one
is kept, as a person restoring a backup expects no silent overwrite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from memo.application.dto import ImportCommand, ImportRecord, ImportReport, SkipCode, SkippedLine
from memo.application.ports import Clock, IdGenerator, UnitOfWork
from memo.domain.errors import IdempotencyConflict, ValidationFailed
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.memory import Memory
from memo.domain.retrieval import index_job

INDEX_JOB_BATCH = 64  # memories per index job: the worker embeds them together
LOOKUP_BATCH = 500


def restored(record: ImportRecord, owner_id: UUID) -> Memory | SkippedLine:
    try:
        return Memory.restored(id=record.id, owner_id=owner_id, content=record.content, type=record.type,
                               tags=record.tags, metadata=record.metadata, source=record.source,
                               created_at=record.created_at, updated_at=record.updated_at or record.created_at,
                               version=record.version)
    except ValidationFailed as failed:
        message = "; ".join(f"{problem.field}: {problem.message}" for problem in failed.problems)
        return SkippedLine(line=record.line, code=SkipCode.INVALID_FIELD, message=message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportMemories:
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator

    async def __call__(self, command: ImportCommand) -> ImportReport:
        now = self.clock.now()
        skipped: list[SkippedLine] = []
        candidates: list[tuple[ImportRecord, Memory]] = []
        seen: set[UUID] = set()
        for line in command.lines:
            if isinstance(line, SkippedLine):
                skipped.append(line)
                continue
            memory = restored(line, command.owner_id)
            if isinstance(memory, SkippedLine):
                skipped.append(memory)
            elif memory.id in seen:
                skipped.append(SkippedLine(line=line.line, code=SkipCode.DUPLICATE_ID,
                                           message=f"id {memory.id} already came on an earlier line"))
            else:
                seen.add(memory.id)
                candidates.append((line, memory))
        async with self.uow:
            if command.idempotency_key is not None:
                await self._claim(command, command.idempotency_key, now)
            created, unchanged = await self._apply(candidates, command.owner_id, skipped)
            await self._restore_conversation(created)
            for start in range(0, len(created), INDEX_JOB_BATCH):
                ids = [memory.id for _, memory in created[start:start + INDEX_JOB_BATCH]]
                await self.uow.outbox.enqueue(index_job(command.owner_id, ids, id=self.ids.new_id(), now=now))
            await self.uow.commit()
        skipped.sort(key=lambda line: line.line)
        return ImportReport(created=len(created), unchanged=unchanged, skipped=skipped)

    async def _claim(self, command: ImportCommand, key: str, now: datetime) -> None:
        """Same key, same body: run again (harmless, everything answers unchanged); another body: 409."""
        record = await self.uow.idempotency.claim(IdempotencyRecord(
            owner_id=command.owner_id, key=key, request_hash=command.fingerprint, memory_id=self.ids.new_id(),
            created_at=now))
        if record is not None and record.request_hash != command.fingerprint:
            raise IdempotencyConflict

    async def _apply(self, candidates: Sequence[tuple[ImportRecord, Memory]], owner_id: UUID,
                     skipped: list[SkippedLine]) -> tuple[list[tuple[ImportRecord, Memory]], int]:
        created: list[tuple[ImportRecord, Memory]] = []
        unchanged = 0
        for start in range(0, len(candidates), LOOKUP_BATCH):
            chunk = candidates[start:start + LOOKUP_BATCH]
            owners = await self.uow.memories.owners_of([memory.id for _, memory in chunk])
            mine = [memory_id for memory_id, owner in owners.items() if owner == owner_id]
            stored = {memory.id: memory for memory in await self.uow.memories.get_many(owner_id, mine)}
            new: list[tuple[ImportRecord, Memory]] = []
            for record, memory in chunk:
                owner = owners.get(memory.id)
                if owner is None:
                    new.append((record, memory))
                elif owner != owner_id:
                    skipped.append(SkippedLine(line=record.line, code=SkipCode.ID_TAKEN,
                                               message=f"id {memory.id} is not available"))
                elif stored.get(memory.id) == memory:
                    unchanged += 1
                else:
                    skipped.append(SkippedLine(line=record.line, code=SkipCode.CONFLICT,
                                               message=f"memory {memory.id} exists with other content; left "
                                                       "unchanged"))
            await self.uow.memories.add_many([memory for _, memory in new])
            created.extend(new)
        return created, unchanged

    async def _restore_conversation(self, created: Sequence[tuple[ImportRecord, Memory]]) -> None:
        """The WhatsApp record of each created memory, unless the owner already has one of that message id."""
        for record, memory in created:
            if record.whatsapp is None:
                continue
            message = record.whatsapp.for_memory(memory, id=self.ids.new_id())
            if await self.uow.whatsapp.claim(message) and record.whatsapp.status is not None:
                await self.uow.whatsapp.record_status(memory.owner_id, record.whatsapp.status,
                                                      received_at=record.whatsapp.status.timestamp)
