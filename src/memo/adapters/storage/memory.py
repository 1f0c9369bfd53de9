"""In-memory storage for the test profile and unit tests; the contract suite holds it to the SQL stores' behaviour.

Rollback is honest: every write of a unit of work is journalled (key and previous value), and leaving the block
without `commit()` puts those previous values back. Undoing only one's own writes, rather than restoring a
whole-store snapshot, keeps a rollback from erasing what a concurrent unit of work committed meanwhile.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from memo.adapters.storage.queries import SORT_ATTRIBUTES, wanted_tags
from memo.application.dto import ActiveKey, CheckResult, MemoryQuery, Page, SortOrder
from memo.application.errors import NestedUnitOfWork
from memo.application.ports import (
    ApiKeyRepository,
    HealthCheck,
    IdempotencyRepository,
    IndexStateRepository,
    KeyStore,
    MemoryRepository,
    Outbox,
    OwnerRepository,
    SealedSecrets,
    SecretBox,
    UnitOfWork,
    WhatsAppMessageRepository,
)
from memo.domain.conversation import ConversationMessage
from memo.domain.errors import OwnerAlreadyExists, ValidationFailed
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.jobs import Job
from memo.domain.memory import Memory
from memo.domain.owners import ApiKey, Owner
from memo.domain.ranking import rank
from memo.domain.retrieval import Hit, IndexState, SearchFilters
from memo.domain.search import parse_search
from memo.domain.whatsapp import StatusUpdate, advances

_ABSENT = object()


class InMemoryStore:
    """The data, shared by every unit of work of one container (APP scope). Values are frozen, so never copied."""

    def __init__(self) -> None:
        self.memories: dict[UUID, Memory] = {}
        self.idempotency: dict[tuple[UUID, str], IdempotencyRecord] = {}
        self.owners: dict[UUID, Owner] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.jobs: dict[UUID, Job] = {}
        self.index_states: dict[UUID, IndexState] = {}
        self.whatsapp_messages: dict[tuple[UUID, str], ConversationMessage] = {}
        self.whatsapp_statuses: dict[tuple[UUID, str], tuple[StatusUpdate, datetime]] = {}  # with when received
        self.heartbeats: dict[str, datetime] = {}


class _Journal:
    def __init__(self) -> None:
        self._undo: list[tuple[dict[Any, Any], object, object]] = []

    def put(self, table: dict[Any, Any], key: object, value: object) -> None:
        self._undo.append((table, key, table.get(key, _ABSENT)))
        table[key] = value

    def delete(self, table: dict[Any, Any], key: object) -> None:
        self._undo.append((table, key, table.pop(key)))

    def undo(self) -> None:
        for table, key, previous in reversed(self._undo):
            if previous is _ABSENT:
                table.pop(key, None)
            else:
                table[key] = previous
        self._undo.clear()

    def forget(self) -> None:
        self._undo.clear()


class InMemoryMemoryRepository(MemoryRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._memories = store.memories
        self._index_states = store.index_states
        self._journal = journal

    async def add(self, memory: Memory) -> None:
        if memory.id in self._memories:
            raise ValueError(f"memory {memory.id} is already stored")
        self._journal.put(self._memories, memory.id, memory)

    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        memory = self._memories.get(memory_id)
        return memory if memory is not None and memory.owner_id == owner_id else None

    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        tags = set(wanted_tags(query))
        search = parse_search(query.search) if query.search else None
        matches = [
            memory for memory in self._memories.values()
            if memory.owner_id == owner_id
            and (query.type is None or memory.type == query.type)
            and tags.issubset(memory.tags)
            and (query.created_after is None or memory.created_at > query.created_after)
            and (query.created_before is None or memory.created_at < query.created_before)
            and (search is None or search.matches(memory.content))  # last: the only costly test
        ]
        attribute = SORT_ATTRIBUTES[query.sort_by]
        # only the first offset + limit are ordered (a heap), not every match; (time, id) keys are unique, so the
        # page is the one a full sort gives
        first = heapq.nlargest if query.sort_order is SortOrder.DESC else heapq.nsmallest
        ordered = first(query.offset + query.limit, matches,
                        key=lambda memory: (getattr(memory, attribute), memory.id))
        return Page(items=ordered[query.offset:], total=len(matches), limit=query.limit, offset=query.offset)

    async def replace(self, memory: Memory, *, expected_version: int) -> bool:
        stored = self._memories.get(memory.id)
        if stored is None or stored.owner_id != memory.owner_id or stored.version != expected_version:
            return False
        self._journal.put(self._memories, memory.id, memory)
        return True

    async def remove(self, owner_id: UUID, memory_id: UUID) -> bool:
        if await self.get(owner_id, memory_id) is None:
            return False
        self._journal.delete(self._memories, memory_id)
        if memory_id in self._index_states:  # as ON DELETE CASCADE does
            self._journal.delete(self._index_states, memory_id)
        return True

    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        found = (self._memories.get(memory_id) for memory_id in dict.fromkeys(memory_ids))
        return [memory for memory in found if memory is not None and memory.owner_id == owner_id]

    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        owned = (memory for memory in self._memories.values() if memory.owner_id == owner_id)
        return rank(text, owned, filters=filters, limit=limit)  # BM25 as memo.domain.ranking specifies it

    async def page_after(self, owner_id: UUID, after: tuple[datetime, UUID] | None, *,
                         limit: int) -> Sequence[Memory]:
        owned = sorted((memory for memory in self._memories.values() if memory.owner_id == owner_id
                        and (after is None or (memory.created_at, memory.id) > after)),
                       key=lambda memory: (memory.created_at, memory.id))
        return owned[:limit]

    async def owners_of(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, UUID]:
        found = ((memory_id, self._memories.get(memory_id)) for memory_id in memory_ids)
        return {memory_id: memory.owner_id for memory_id, memory in found if memory is not None}

    async def add_many(self, memories: Sequence[Memory]) -> None:
        for memory in memories:
            await self.add(memory)


class InMemoryIdempotencyRepository(IdempotencyRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._records = store.idempotency
        self._journal = journal

    async def get(self, owner_id: UUID, key: str) -> IdempotencyRecord | None:
        return self._records.get((owner_id, key))

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        live = self._records.get((record.owner_id, record.key))
        if live is not None and not live.expired(record.created_at):
            return live
        self._journal.put(self._records, (record.owner_id, record.key), record)
        return None


class InMemoryOwnerRepository(OwnerRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._owners = store.owners
        self._journal = journal

    async def add(self, owner: Owner) -> None:
        if await self.by_name(owner.name) is not None:
            raise OwnerAlreadyExists(owner.name)
        if owner.whatsapp_phone_number_id is not None and any(
                other.whatsapp_phone_number_id == owner.whatsapp_phone_number_id for other in self._owners.values()):
            raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        if owner.id in self._owners:
            raise ValueError(f"owner id {owner.id} is already stored")
        self._journal.put(self._owners, owner.id, owner)

    async def by_name(self, name: str) -> Owner | None:
        return next((owner for owner in self._owners.values() if owner.name == name), None)

    async def by_id(self, owner_id: UUID) -> Owner | None:
        return self._owners.get(owner_id)

    async def by_whatsapp_phone_number_id(self, phone_number_id: str) -> Owner | None:
        return next((owner for owner in self._owners.values()
                     if owner.whatsapp_phone_number_id == phone_number_id), None)

    async def all(self) -> Sequence[Owner]:
        return sorted(self._owners.values(), key=lambda owner: (owner.created_at, owner.id))

    async def update(self, owner: Owner) -> bool:
        if owner.id not in self._owners:
            return False
        if owner.whatsapp_phone_number_id is not None:
            holder = await self.by_whatsapp_phone_number_id(owner.whatsapp_phone_number_id)
            if holder is not None and holder.id != owner.id:
                raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        numbers = replace(self._owners[owner.id], whatsapp_phone_number_id=owner.whatsapp_phone_number_id,
                          whatsapp_number=owner.whatsapp_number)
        self._journal.put(self._owners, owner.id, numbers)
        return True


class InMemoryApiKeyRepository(ApiKeyRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._keys = store.api_keys
        self._journal = journal

    async def add(self, key: ApiKey) -> None:
        if key.key_id in self._keys:
            raise ValueError(f"key {key.key_id} is already stored")
        self._journal.put(self._keys, key.key_id, key)

    async def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def all(self) -> Sequence[ApiKey]:
        return sorted(self._keys.values(), key=lambda key: (key.created_at, key.key_id))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """True when the key exists; revoking twice keeps the first revocation time."""
        key = self._keys.get(key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            self._journal.put(self._keys, key_id, replace(key, revoked_at=at))
        return True

    async def rotate(self, key: ApiKey, *, replacing: bytes) -> bool:
        stored = self._keys.get(key.key_id)
        if stored is None or not stored.active or stored.sealed_secret != replacing:
            return False
        self._journal.put(self._keys, key.key_id, replace(
            stored, sealed_secret=key.sealed_secret, previous_sealed_secret=key.previous_sealed_secret,
            previous_valid_until=key.previous_valid_until))
        return True


class InMemoryOutbox(Outbox):
    """Journalled like every other write, so a rolled-back unit of work leaves no job behind."""

    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._jobs = store.jobs
        self._journal = journal

    async def enqueue(self, job: Job) -> None:
        if job.id in self._jobs:
            raise ValueError(f"job {job.id} is already stored")
        self._journal.put(self._jobs, job.id, job)


class InMemoryWhatsAppMessageRepository(WhatsAppMessageRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._messages = store.whatsapp_messages
        self._statuses = store.whatsapp_statuses
        self._journal = journal

    async def claim(self, message: ConversationMessage) -> bool:
        key = (message.owner_id, message.whatsapp_message_id)
        if key in self._messages:
            return False
        self._journal.put(self._messages, key, message)
        return True

    async def get(self, owner_id: UUID, whatsapp_message_id: str) -> ConversationMessage | None:
        return self._messages.get((owner_id, whatsapp_message_id))

    async def save_media(self, message: ConversationMessage) -> None:
        key = (message.owner_id, message.whatsapp_message_id)
        stored = self._messages.get(key)
        if stored is not None and stored.id == message.id:
            self._journal.put(self._messages, key, replace(stored, media_state=message.media_state,
                                                           media_ref=message.media_ref, mime_type=message.mime_type))

    async def record_status(self, owner_id: UUID, status: StatusUpdate, *, received_at: datetime) -> bool:
        key = (owner_id, status.message_id)
        kept = self._statuses.get(key)
        if kept is not None and not advances(kept[0].status, status.status):
            return False
        self._journal.put(self._statuses, key, (status, received_at))
        return True

    async def status_of(self, owner_id: UUID, whatsapp_message_id: str) -> StatusUpdate | None:
        kept = self._statuses.get((owner_id, whatsapp_message_id))
        return None if kept is None else kept[0]

    async def of_memories(self, owner_id: UUID,
                          memory_ids: Sequence[UUID]) -> Mapping[UUID, tuple[ConversationMessage, StatusUpdate | None]]:
        wanted = set(memory_ids)
        return {message.memory_id: (message, await self.status_of(owner_id, message.whatsapp_message_id))
                for (owner, _), message in self._messages.items() if owner == owner_id and message.memory_id in wanted}


class InMemoryIndexStateRepository(IndexStateRepository):
    def __init__(self, store: InMemoryStore, journal: _Journal) -> None:
        self._states = store.index_states
        self._memories = store.memories
        self._journal = journal

    async def get_many(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, IndexState]:
        return {memory_id: self._states[memory_id] for memory_id in memory_ids if memory_id in self._states}

    async def save(self, states: Sequence[IndexState]) -> None:
        for state in states:
            if state.memory_id in self._memories:  # as the foreign key refuses a state without its memory
                self._journal.put(self._states, state.memory_id, state)

    async def remove(self, memory_ids: Sequence[UUID]) -> None:
        for memory_id in memory_ids:
            if memory_id in self._states:
                self._journal.delete(self._states, memory_id)

    async def stale(self, model: str, *, owner_id: UUID | None = None, after: UUID | None = None,
                    limit: int = 500, other_models: bool = True) -> Sequence[UUID]:
        ids = sorted(memory.id for memory in self._memories.values()
                     if (owner_id is None or memory.owner_id == owner_id) and (after is None or memory.id > after)
                     and (memory.id not in self._states
                          or (other_models and self._states[memory.id].model != model)))
        return ids[:limit]


class InMemoryUnitOfWork(UnitOfWork):
    """REQUEST-scoped over an APP-scoped store; `committed` tells a test whether the use case committed."""

    def __init__(self, store: InMemoryStore) -> None:
        self._journal = _Journal()
        self.memories = InMemoryMemoryRepository(store, self._journal)
        self.idempotency = InMemoryIdempotencyRepository(store, self._journal)
        self.owners = InMemoryOwnerRepository(store, self._journal)
        self.api_keys = InMemoryApiKeyRepository(store, self._journal)
        self.whatsapp = InMemoryWhatsAppMessageRepository(store, self._journal)
        self.index_states = InMemoryIndexStateRepository(store, self._journal)
        self.outbox = InMemoryOutbox(store, self._journal)
        self.committed = False
        self._open = False

    async def __aenter__(self) -> Self:
        if self._open:
            # Entering again would forget the outer block's journal, so its rollback would undo nothing.
            raise NestedUnitOfWork
        self._open = True
        self._journal.forget()
        self.committed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        self._journal.undo()

    async def commit(self) -> None:
        self._journal.forget()
        self.committed = True


class InMemoryKeyStore(KeyStore, SealedSecrets):
    """Keeps each key's opened secret beside the stored key it was opened from: a stored key is a frozen object
    that any change replaces, so the opened one is used again only while the very same object is stored."""

    def __init__(self, store: InMemoryStore, secret_box: SecretBox) -> None:
        self._store = store
        self._secret_box = secret_box
        self._opened: dict[str, tuple[ApiKey, ActiveKey]] = {}  # only keys the store holds, active when opened

    async def find_active(self, key_id: str) -> ActiveKey | None:
        key = self._store.api_keys.get(key_id)
        if key is None or not key.active:
            self._opened.pop(key_id, None)
            return None
        kept = self._opened.get(key_id)
        if kept is not None and kept[0] is key:
            return kept[1]
        secret = self._secret_box.open(key.sealed_secret, key_id=key.key_id)
        previous = (None if key.previous_sealed_secret is None
                    else self._secret_box.open(key.previous_sealed_secret, key_id=key.key_id))
        active = ActiveKey(key_id=key.key_id, owner_id=key.owner_id, secret=secret, previous_secret=previous,
                           previous_valid_until=key.previous_valid_until)
        self._opened[key_id] = (key, active)
        return active

    async def owner_id_by_name(self, name: str) -> UUID | None:
        return next((owner.id for owner in self._store.owners.values() if owner.name == name), None)

    async def sample(self) -> tuple[str, bytes] | None:
        active = [key for key in self._store.api_keys.values() if key.active]
        newest = max(active, key=lambda key: (key.created_at, key.key_id), default=None)
        return None if newest is None else (newest.key_id, newest.sealed_secret)

    async def all(self) -> Sequence[tuple[str, bytes]]:
        keys = sorted(self._store.api_keys.values(), key=lambda key: (key.created_at, key.key_id))
        return [(key.key_id, sealed) for key in keys
                for sealed in (key.sealed_secret, key.previous_sealed_secret) if sealed is not None]

    async def replace(self, key_id: str, old: bytes, new: bytes) -> bool:
        key = self._store.api_keys.get(key_id)
        if key is None:
            return False
        if key.sealed_secret == old:
            self._store.api_keys[key_id] = replace(key, sealed_secret=new)
        elif key.previous_sealed_secret == old:
            self._store.api_keys[key_id] = replace(key, previous_sealed_secret=new)
        else:
            return False
        return True


class InMemoryHealthCheck(HealthCheck):
    name = "database"

    async def check(self) -> CheckResult:
        return CheckResult(healthy=True, backend="in-memory", latency_ms=0.0)
