"""Table rows for the SQL stores, and the explicit mapping between rows and domain objects.

Choices worth knowing before changing anything here:

- Rows live on Memo's own registry (advanced-alchemy's `create_registry`, so the same type map and constraint
  naming convention), not on the shared `orm_registry` behind `UUIDv7AuditBase`: Alembic's autogenerate and
  `create_all` then see Memo's tables and nothing another library or test happened to declare.
- Ids and timestamps come from the domain (`IdGenerator`, `Clock`), so no column has a default or an `onupdate`:
  a row without an id or a time is a bug and fails loudly instead of getting an invented value. The id mixins'
  `uuid7` default would even be UUIDv4 on Python < 3.14 without `uuid-utils`. Writes go through Core statements or
  rows that are expunged at once, so advanced-alchemy's `touch_updated_timestamp` listener never sees a dirty row
  and never replaces the domain's `updated_at` (the contract suite runs with that listener installed).
- Times use advanced-alchemy's `DateTimeUTC`: stored in UTC, returned tz-aware on every backend. SQLite keeps them
  as fixed-width ISO text with microseconds, so text order is time order.
- Tags are stored twice: as a JSON list on the memory (read with the row, in the order the user gave them) and as
  one `memory_tags` row per tag, indexed by (owner_id, tag, memory_id). The "all of these tags" filter is then
  the same indexed `GROUP BY ... HAVING count(*) = n` on SQLite and PostgreSQL; a JSON-only design would need
  `@>` on a GIN index for PostgreSQL and an unindexed `json_each` scan for SQLite: two code paths, one slow.
- `api_keys` is keyed by its public key id and `idempotency_keys` by (owner_id, key): those are the only lookups,
  so a surrogate UUID would be a second index for nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from memo.domain.idempotency import MAX_IDEMPOTENCY_KEY_CHARS, IdempotencyRecord
from memo.domain.memory import MAX_TAG_CHARS, Memory, MemoryType, Source
from memo.domain.owners import ApiKey, Owner

# advanced-alchemy's JsonB carries an Oracle variant that breaks on SQLAlchemy 2.1; PostgreSQL's JSONB is all we need.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

mapper_registry = create_registry()
metadata: MetaData = mapper_registry.metadata


class Base(CommonTableAttributes, AsyncAttrs, DeclarativeBase):
    registry = mapper_registry
    __abstract__ = True


class OwnerRow(Base):
    __tablename__ = "owners"

    id: Mapped[UUID] = mapped_column(GUID(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    whatsapp_phone_number_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    whatsapp_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(GUID(), ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(Text)  # the domain sets no length limit, so neither does the table
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    previous_sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # until previous_valid_until
    previous_valid_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class MemoryRow(Base):
    __tablename__ = "memories"
    __table_args__ = (
        Index("ix_memories_owner_created", "owner_id", "created_at", "id"),
        Index("ix_memories_owner_updated", "owner_id", "updated_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(GUID(), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(GUID(), ForeignKey("owners.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JsonDocument)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDocument)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    version: Mapped[int] = mapped_column(Integer)


class MemoryTagRow(Base):
    """One row per (memory, tag): the index behind the all-tags filter; `memories.tags` stays the source for reads."""

    __tablename__ = "memory_tags"
    __table_args__ = (Index("ix_memory_tags_owner_tag", "owner_id", "tag", "memory_id"),)

    memory_id: Mapped[UUID] = mapped_column(
        GUID(), ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(MAX_TAG_CHARS), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(GUID())


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    owner_id: Mapped[UUID] = mapped_column(
        GUID(), ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_IDEMPOTENCY_KEY_CHARS), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(128))
    memory_id: Mapped[UUID] = mapped_column(GUID())  # no FK: the record may outlive a deleted memory
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class NonceRow(Base):
    """A recorded nonce (migration 0003): written only by `nonces.SqlNonceStore`, through Core statements."""

    __tablename__ = "nonces"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    mode: Mapped[str] = mapped_column(String(1))
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class JobRow(Base):
    """An outbox job (migration 0004), written and claimed through Core statements in `jobs.py`.

    The claim index leads with `state`, so the due pending jobs and the expired running ones are two range scans.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),
                      Index("ix_jobs_owner_state", "owner_id", "state"))

    id: Mapped[UUID] = mapped_column(GUID(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[UUID | None] = mapped_column(GUID())  # no FK: a job may outlive its owner's data
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class WorkerHeartbeatRow(Base):
    """The last time each worker was seen alive, for `/health`."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class IndexStateRow(Base):
    """What the vector index holds for a memory (migration 0006); goes with the memory (ON DELETE CASCADE)."""

    __tablename__ = "memory_index_states"

    memory_id: Mapped[UUID] = mapped_column(GUID(), ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(GUID(), index=True)
    model: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    memory_version: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class WhatsAppMessageRow(Base):
    """A WhatsApp message received or sent (migration 0005); the unique (owner, message id) makes ingestion exactly
    once. Meta's strings are `Text`: the domain bounds them (memo.domain.whatsapp.MAX_ID_CHARS), not the column."""

    __tablename__ = "whatsapp_messages"
    __table_args__ = (
        UniqueConstraint("owner_id", "whatsapp_message_id", name="uq_whatsapp_messages_owner_message"),
        Index("ix_whatsapp_messages_owner_direction", "owner_id", "direction", "recorded_at"),
        Index("ix_whatsapp_messages_owner_memory", "owner_id", "memory_id"),  # migration 0010: the export's read
    )

    id: Mapped[UUID] = mapped_column(GUID(), primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(GUID(), ForeignKey("owners.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(16))
    whatsapp_message_id: Mapped[str] = mapped_column(Text)
    phone_number_id: Mapped[str | None] = mapped_column(Text)
    peer: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    memory_id: Mapped[UUID] = mapped_column(GUID())  # no FK: the record outlives a deleted memory
    sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    media_id: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(Text)
    media_state: Mapped[str | None] = mapped_column(String(16))
    media_ref: Mapped[str | None] = mapped_column(Text)


class WhatsAppStatusRow(Base):
    """The furthest delivery status of a message (migration 0005), kept whether or not Memo knows the message yet.

    `rank` orders the statuses (memo.domain.whatsapp.advances), so "never backwards" is one conditional upsert.
    """

    __tablename__ = "whatsapp_statuses"

    owner_id: Mapped[UUID] = mapped_column(GUID(), ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True)
    whatsapp_message_id: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    status_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    recipient: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    details: Mapped[dict[str, str]] = mapped_column(JsonDocument)
    received_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


def owner_to_domain(row: OwnerRow) -> Owner:
    return Owner(id=row.id, name=row.name, whatsapp_phone_number_id=row.whatsapp_phone_number_id,
                 whatsapp_number=row.whatsapp_number, created_at=row.created_at)


def owner_values(owner: Owner) -> dict[str, Any]:
    return {"id": owner.id, "name": owner.name, "whatsapp_phone_number_id": owner.whatsapp_phone_number_id,
            "whatsapp_number": owner.whatsapp_number, "created_at": owner.created_at}


def api_key_to_domain(row: ApiKeyRow) -> ApiKey:
    previous = None if row.previous_sealed_secret is None else bytes(row.previous_sealed_secret)
    return ApiKey(key_id=row.key_id, owner_id=row.owner_id, label=row.label, sealed_secret=bytes(row.sealed_secret),
                  created_at=row.created_at, revoked_at=row.revoked_at, last_used_at=row.last_used_at,
                  previous_sealed_secret=previous, previous_valid_until=row.previous_valid_until)


def memory_to_domain(row: MemoryRow) -> Memory:
    return Memory(id=row.id, owner_id=row.owner_id, content=row.content, type=MemoryType(row.type),
                  tags=tuple(row.tags), metadata=dict(row.meta), source=Source(row.source),
                  created_at=row.created_at, updated_at=row.updated_at, version=row.version)


def memory_values(memory: Memory) -> dict[str, Any]:
    """Column values of a memory, by attribute name, for Core INSERT and compare-and-set UPDATE alike."""
    return {"id": memory.id, "owner_id": memory.owner_id, "content": memory.content, "type": memory.type.value,
            "tags": list(memory.tags), "meta": dict(memory.metadata), "source": memory.source.value,
            "created_at": memory.created_at, "updated_at": memory.updated_at, "version": memory.version}


def tag_rows(memory: Memory) -> list[dict[str, Any]]:
    return [{"memory_id": memory.id, "owner_id": memory.owner_id, "tag": tag} for tag in memory.tags]


def idempotency_to_domain(row: IdempotencyKeyRow) -> IdempotencyRecord:
    return IdempotencyRecord(owner_id=row.owner_id, key=row.key, request_hash=row.request_hash,
                             memory_id=row.memory_id, created_at=row.created_at)


def idempotency_values(record: IdempotencyRecord) -> dict[str, Any]:
    return {"owner_id": record.owner_id, "key": record.key, "request_hash": record.request_hash,
            "memory_id": record.memory_id, "created_at": record.created_at}
