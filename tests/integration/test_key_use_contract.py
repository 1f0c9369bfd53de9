"""Where key uses are stored, on every store: a use is written, and a later one stored already is never undone."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from memo.adapters.storage.key_uses import SqlKeyUses
from memo.adapters.storage.memory_key_uses import InMemoryKeyUses
from memo.adapters.system import TEST_NOW
from memo.application.ports import KeyUses
from memo.domain.owners import ApiKey, Owner
from tests.integration.conftest import SqlStorage

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0xA11CE)


def key_uses(storage: Storage) -> KeyUses:
    if isinstance(storage, SqlStorage):
        return SqlKeyUses(storage.engine)
    return InMemoryKeyUses(storage.store)  # type: ignore[attr-defined]


async def stored(storage: Storage, key_id: str) -> ApiKey:
    async with storage.uow() as uow:
        key = await uow.api_keys.get(key_id)
    assert key is not None
    return key


async def test_a_use_is_stored_and_a_later_one_is_never_moved_back(storage: Storage) -> None:
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
        for key_id in ("mk_phone_0001", "mk_laptop_001", "mk_unused_001"):
            await uow.api_keys.add(ApiKey(key_id=key_id, owner_id=ALICE, label=None, sealed_secret=b"s",
                                          created_at=TEST_NOW))
        await uow.commit()
    uses = key_uses(storage)
    later, earlier = TEST_NOW + timedelta(minutes=5, microseconds=7), TEST_NOW + timedelta(minutes=1)

    await uses.record({"mk_phone_0001": later, "mk_laptop_001": earlier, "mk_gone_00001": later})
    await uses.record({"mk_phone_0001": earlier})  # an older use, flushed late by another process

    assert (await stored(storage, "mk_phone_0001")).last_used_at == later
    assert (await stored(storage, "mk_laptop_001")).last_used_at == earlier
    assert (await stored(storage, "mk_unused_001")).last_used_at is None
