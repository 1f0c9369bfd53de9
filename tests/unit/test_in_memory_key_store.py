"""The in-memory key store opens a key's secret once and answers every change to the stored key at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from memo.adapters.crypto.aesgcm import AesGcmSecretBox
from memo.adapters.storage.memory import InMemoryKeyStore, InMemoryStore
from memo.domain.owners import ApiKey

KEY_ID = "key_memory_0001"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class CountingBox(AesGcmSecretBox):
    def __init__(self) -> None:
        super().__init__("k" * 43)
        self.opened = 0

    def open(self, sealed: bytes, *, key_id: str) -> bytes:
        self.opened += 1
        return super().open(sealed, key_id=key_id)


def stored(box: CountingBox, secret: bytes) -> tuple[InMemoryStore, ApiKey]:
    store = InMemoryStore()
    key = ApiKey(key_id=KEY_ID, owner_id=UUID(int=1), label=None, sealed_secret=box.seal(secret, key_id=KEY_ID),
                 created_at=NOW)
    store.api_keys[KEY_ID] = key
    return store, key


async def test_a_key_asked_for_again_is_not_opened_again() -> None:
    box = CountingBox()
    store, _ = stored(box, b"first secret")
    keys = InMemoryKeyStore(store, box)

    answers = [await keys.find_active(KEY_ID) for _ in range(3)]

    assert box.opened == 1
    assert {answer.secret for answer in answers if answer is not None} == {b"first secret"}


async def test_a_revoked_key_is_refused_on_the_very_next_lookup() -> None:
    box = CountingBox()
    store, key = stored(box, b"first secret")
    keys = InMemoryKeyStore(store, box)
    assert await keys.find_active(KEY_ID) is not None

    store.api_keys[KEY_ID] = replace(key, revoked_at=NOW)

    assert await keys.find_active(KEY_ID) is None


async def test_a_new_secret_is_the_one_answered_after_a_rotation() -> None:
    box = CountingBox()
    store, key = stored(box, b"first secret")
    keys = InMemoryKeyStore(store, box)
    assert await keys.find_active(KEY_ID) is not None

    store.api_keys[KEY_ID] = key.rotated(box.seal(b"second secret", key_id=KEY_ID), grace_s=0, now=NOW)
    found = await keys.find_active(KEY_ID)

    assert found is not None
    assert found.secret == b"second secret"


async def test_a_deleted_key_is_unknown_even_if_it_was_opened_before() -> None:
    box = CountingBox()
    store, _ = stored(box, b"first secret")
    keys = InMemoryKeyStore(store, box)
    assert await keys.find_active(KEY_ID) is not None

    del store.api_keys[KEY_ID]

    assert await keys.find_active(KEY_ID) is None
