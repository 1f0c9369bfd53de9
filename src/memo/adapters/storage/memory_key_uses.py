"""The last use of each key in the in-memory store, for the test profile and unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from memo.adapters.storage.memory import InMemoryStore
from memo.application.ports import KeyUses


class InMemoryKeyUses(KeyUses):
    def __init__(self, store: InMemoryStore) -> None:
        self._keys = store.api_keys

    async def record(self, uses: Mapping[str, datetime]) -> None:
        for key_id, at in uses.items():
            key = self._keys.get(key_id)
            if key is not None and (key.last_used_at is None or key.last_used_at < at):
                self._keys[key_id] = replace(key, last_used_at=at)
