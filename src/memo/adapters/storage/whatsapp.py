"""WhatsApp messages and delivery statuses on SQL: exactly once by a unique index, never backwards by a ranked upsert.

Both writes are single statements whose outcome the database decides, so concurrent webhooks cannot break them:

- a claim is `INSERT ... ON CONFLICT (owner_id, whatsapp_message_id) DO NOTHING`: on PostgreSQL a second inserter
  waits for the first one's transaction and then inserts nothing (or inserts, if the first rolled back); on
  SQLite the single write lock serialises them;
- a status is `INSERT ... ON CONFLICT DO UPDATE ... WHERE stored.rank < new.rank`: a late `delivered` after a
  `read` updates nothing, whichever transaction commits first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import JobRow, WhatsAppMessageRow, WhatsAppStatusRow
from memo.adapters.storage.rows import affected, insert_for
from memo.application.dto import SyncStatus
from memo.application.ports import SyncStatusReader, WhatsAppMessageRepository
from memo.domain.conversation import ConversationMessage, Direction, MediaState
from memo.domain.jobs import JobState
from memo.domain.whatsapp import MessageError, MessageStatus, StatusUpdate, status_rank

_MESSAGE_COLUMNS = tuple(WhatsAppMessageRow.__table__.c)
_STATUS_COLUMNS = tuple(WhatsAppStatusRow.__table__.c)


def message_values(message: ConversationMessage) -> dict[str, Any]:
    return {"id": message.id, "owner_id": message.owner_id, "direction": message.direction.value,
            "whatsapp_message_id": message.whatsapp_message_id, "phone_number_id": message.phone_number_id,
            "peer": message.peer, "type": message.type, "memory_id": message.memory_id, "sent_at": message.sent_at,
            "recorded_at": message.recorded_at, "media_id": message.media_id, "mime_type": message.mime_type,
            "sha256": message.sha256, "media_state": message.media_state.value if message.media_state else None,
            "media_ref": message.media_ref}


def message_from_row(row: RowMapping) -> ConversationMessage:
    return ConversationMessage(
        id=row["id"], owner_id=row["owner_id"], direction=Direction(row["direction"]),
        whatsapp_message_id=row["whatsapp_message_id"], phone_number_id=row["phone_number_id"], peer=row["peer"],
        type=row["type"], memory_id=row["memory_id"], sent_at=row["sent_at"], recorded_at=row["recorded_at"],
        media_id=row["media_id"], mime_type=row["mime_type"], sha256=row["sha256"],
        media_state=MediaState(row["media_state"]) if row["media_state"] else None, media_ref=row["media_ref"])


def status_values(owner_id: UUID, status: StatusUpdate, received_at: datetime) -> dict[str, Any]:
    return {"owner_id": owner_id, "whatsapp_message_id": status.message_id, "status": status.status.value,
            "rank": status_rank(status.status), "status_at": status.timestamp, "recipient": status.recipient,
            "errors": [{"code": error.code, "title": error.title, "details": error.details}
                       for error in status.errors],
            "details": dict(status.details), "received_at": received_at}


def status_from_row(row: RowMapping | Mapping[str, Any], phone_number_id: str) -> StatusUpdate:
    errors = tuple(MessageError(code=item["code"], title=item["title"], details=item.get("details"))
                   for item in row["errors"])
    return StatusUpdate(message_id=row["whatsapp_message_id"], phone_number_id=phone_number_id,
                        status=MessageStatus(row["status"]), timestamp=row["status_at"], recipient=row["recipient"],
                        errors=errors, details=dict(row["details"]))


class SqlAlchemyWhatsAppMessageRepository(WhatsAppMessageRepository):
    """On the unit of work's session: messages, their memories, statuses and jobs commit as one."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @translating
    async def claim(self, message: ConversationMessage) -> bool:
        statement = insert_for(self._session, WhatsAppMessageRow).values(
            **message_values(message)).on_conflict_do_nothing(index_elements=["owner_id", "whatsapp_message_id"])
        return affected(await self._session.execute(statement)) == 1

    @translating
    async def get(self, owner_id: UUID, whatsapp_message_id: str) -> ConversationMessage | None:
        statement = select(*_MESSAGE_COLUMNS).where(WhatsAppMessageRow.owner_id == owner_id,
                                                    WhatsAppMessageRow.whatsapp_message_id == whatsapp_message_id)
        row = (await self._session.execute(statement)).mappings().one_or_none()
        return None if row is None else message_from_row(row)

    @translating
    async def save_media(self, message: ConversationMessage) -> None:
        await self._session.execute(
            update(WhatsAppMessageRow).where(WhatsAppMessageRow.id == message.id).values(
                media_state=message.media_state.value if message.media_state else None,
                media_ref=message.media_ref, mime_type=message.mime_type)
            .execution_options(synchronize_session=False))

    @translating
    async def record_status(self, owner_id: UUID, status: StatusUpdate, *, received_at: datetime) -> bool:
        values = status_values(owner_id, status, received_at)
        insert = insert_for(self._session, WhatsAppStatusRow).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=["owner_id", "whatsapp_message_id"],
            set_={name: insert.excluded[name] for name in values if name not in {"owner_id", "whatsapp_message_id"}},
            where=WhatsAppStatusRow.rank < insert.excluded.rank)
        return affected(await self._session.execute(statement)) == 1

    @translating
    async def status_of(self, owner_id: UUID, whatsapp_message_id: str) -> StatusUpdate | None:
        statement = select(*_STATUS_COLUMNS, WhatsAppMessageRow.phone_number_id).outerjoin(
            WhatsAppMessageRow, (WhatsAppMessageRow.owner_id == WhatsAppStatusRow.owner_id)
            & (WhatsAppMessageRow.whatsapp_message_id == WhatsAppStatusRow.whatsapp_message_id)).where(
            WhatsAppStatusRow.owner_id == owner_id, WhatsAppStatusRow.whatsapp_message_id == whatsapp_message_id)
        row = (await self._session.execute(statement)).mappings().one_or_none()
        return None if row is None else status_from_row(row, row["phone_number_id"] or "")

    @translating
    async def of_memories(self, owner_id: UUID,
                          memory_ids: Sequence[UUID]) -> Mapping[UUID, tuple[ConversationMessage, StatusUpdate | None]]:
        if not memory_ids:
            return {}
        statement = select(*_MESSAGE_COLUMNS, *(column.label(f"status_{column.name}") for column in _STATUS_COLUMNS)
                           ).outerjoin(WhatsAppStatusRow, (WhatsAppStatusRow.owner_id == WhatsAppMessageRow.owner_id)
                                       & (WhatsAppStatusRow.whatsapp_message_id
                                          == WhatsAppMessageRow.whatsapp_message_id)).where(
            WhatsAppMessageRow.owner_id == owner_id, WhatsAppMessageRow.memory_id.in_(list(memory_ids)))
        found: dict[UUID, tuple[ConversationMessage, StatusUpdate | None]] = {}
        for row in (await self._session.execute(statement)).mappings():
            message = message_from_row(row)
            status = None
            if row["status_status"] is not None:
                status = status_from_row({column.name: row[f"status_{column.name}"] for column in _STATUS_COLUMNS},
                                         message.phone_number_id or "")
            found[message.memory_id] = (message, status)
        return found


class SqlSyncStatusReader(SyncStatusReader):
    """A handful of indexed counts on a connection of its own: read-only, never a request's transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translating
    async def sync_status(self, owner_id: UUID) -> SyncStatus:
        messages = WhatsAppMessageRow
        by_direction = select(messages.direction, func.count(), func.max(messages.recorded_at)).where(
            messages.owner_id == owner_id).group_by(messages.direction)
        media = select(messages.media_state, func.count()).where(
            messages.owner_id == owner_id, messages.media_state.is_not(None)).group_by(messages.media_state)
        # a sent message with no status row yet is `sent`: Meta accepted it, and that is all Memo knows
        delivery = func.coalesce(WhatsAppStatusRow.status, MessageStatus.SENT.value)
        deliveries = select(delivery, func.count()).select_from(messages).outerjoin(
            WhatsAppStatusRow, (WhatsAppStatusRow.owner_id == messages.owner_id)
            & (WhatsAppStatusRow.whatsapp_message_id == messages.whatsapp_message_id)).where(
            messages.owner_id == owner_id, messages.direction == Direction.SENT.value).group_by(delivery)
        last_status = select(func.max(WhatsAppStatusRow.received_at)).where(WhatsAppStatusRow.owner_id == owner_id)
        jobs = select(JobRow.state, func.count()).where(JobRow.owner_id == owner_id, JobRow.state.in_(
            [JobState.PENDING.value, JobState.RUNNING.value, JobState.FAILED.value])).group_by(JobRow.state)
        async with self._engine.connect() as connection:
            directions = {row[0]: (row[1], row[2]) for row in await connection.execute(by_direction)}
            media_counts = {row[0]: row[1] for row in await connection.execute(media)}
            delivery_counts = {row[0]: row[1] for row in await connection.execute(deliveries)}
            status_at = (await connection.execute(last_status)).scalar_one_or_none()
            job_counts = {row[0]: row[1] for row in await connection.execute(jobs)}
        received_count, received_at = directions.get(Direction.RECEIVED.value, (0, None))
        sent_count, _ = directions.get(Direction.SENT.value, (0, None))
        return SyncStatus(
            last_webhook_at=max((at for at in (received_at, status_at) if at is not None), default=None),
            received=received_count, sent=sent_count,
            deliveries={state.value: delivery_counts.get(state.value, 0) for state in MessageStatus},
            media={state.value: media_counts.get(state.value, 0) for state in MediaState},
            jobs={state.value: job_counts.get(state.value, 0)
                  for state in (JobState.PENDING, JobState.RUNNING, JobState.FAILED)})
