"""The active keys the SQLite key store has opened, kept while `PRAGMA data_version` says nothing was committed.

SQLite changes a connection's `PRAGMA data_version` whenever another connection has committed to the file since
that connection last asked: this process's writer, the `memo keys` command in another process, a second server
worker. Asking costs a few microseconds and reads no table. The key store's read connection never writes, so every
commit anywhere moves its value, and an unchanged value means no key was issued, rotated, resealed or revoked since
the cached answers were read. The signal says that something was committed, not what, so any change drops every
entry: under write load that is one lookup per key in use after each group commit, not one per request.

Only active keys are kept. An unknown or revoked id is read again every time, so ids a client makes up never take
room or push out the keys in use (the address limit counts each of those refusals anyway); the entries are
therefore at most the active keys, and `capacity` caps even that. A key is kept with the secrets already opened and
the end of a rotation's grace, never a verdict on it: whether the previous secret still counts is decided at the
caller's clock on every request (`ActiveKey.previous_at`), as without the cache.

A value of `data_version` means something only on the connection that gave it: a replaced connection starts empty.
"""

from __future__ import annotations

from memo.application.dto import ActiveKey

KEY_CACHE_CAPACITY = 1_024


class ActiveKeyCache:
    def __init__(self, capacity: int = KEY_CACHE_CAPACITY) -> None:
        self._capacity = capacity
        self._keys: dict[str, ActiveKey] = {}
        self._version: int | None = None  # the read connection's data_version the entries were read under

    def at(self, version: int) -> None:
        """The read connection's data_version just now: whatever was kept under another one is dropped."""
        if version != self._version:
            self._keys.clear()
            self._version = version

    def get(self, key_id: str) -> ActiveKey | None:
        return self._keys.get(key_id)

    def keep(self, key: ActiveKey, *, read_at: int) -> None:
        """Keep a key whose row was read after data_version was `read_at`; not if the version moved since, as the
        row may then predate a commit the cache has already been told about. When full, the oldest entry goes."""
        if read_at != self._version:
            return
        if key.key_id not in self._keys and len(self._keys) >= self._capacity:
            del self._keys[next(iter(self._keys))]
        self._keys[key.key_id] = key

    def forget(self) -> None:
        """The read connection is gone: the next one's data_version says nothing about these entries."""
        self._keys.clear()
        self._version = None

    def __len__(self) -> int:
        return len(self._keys)
