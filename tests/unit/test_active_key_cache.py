"""ActiveKeyCache: entries live under one data_version, are bounded, and never outlast their connection."""

from __future__ import annotations

from uuid import UUID

from memo.adapters.storage.key_cache import ActiveKeyCache
from memo.application.dto import ActiveKey

OWNER = UUID(int=1)


def key(key_id: str) -> ActiveKey:
    return ActiveKey(key_id=key_id, owner_id=OWNER, secret=b"secret of " + key_id.encode())


def test_a_kept_key_is_answered_while_the_version_stays_and_dropped_once_it_moves() -> None:
    cache = ActiveKeyCache()
    cache.at(7)
    cache.keep(key("key_one_0001"), read_at=7)
    cache.at(7)
    assert cache.get("key_one_0001") == key("key_one_0001")

    cache.at(8)

    assert cache.get("key_one_0001") is None


def test_a_key_read_under_a_version_that_has_since_moved_is_not_kept() -> None:
    cache = ActiveKeyCache()
    cache.at(7)
    cache.at(8)  # another request saw a commit while this row was being read

    cache.keep(key("key_one_0001"), read_at=7)

    assert cache.get("key_one_0001") is None


def test_a_forgotten_cache_answers_nothing_even_if_the_next_connection_gives_the_same_version() -> None:
    cache = ActiveKeyCache()
    cache.at(3)
    cache.keep(key("key_one_0001"), read_at=3)

    cache.forget()
    cache.at(3)

    assert cache.get("key_one_0001") is None


def test_a_full_cache_drops_its_oldest_key_for_a_new_one() -> None:
    cache = ActiveKeyCache(capacity=2)
    cache.at(1)
    for key_id in ("key_one_0001", "key_two_0002", "key_three_03"):
        cache.keep(key(key_id), read_at=1)

    assert len(cache) == 2
    assert cache.get("key_one_0001") is None
    assert cache.get("key_three_03") is not None
