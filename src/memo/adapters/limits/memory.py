"""Replay and rate-limit state held in this process, for a single instance (no REDIS_URL).

Both structures are bounded: every entry carries its expiry, a heap orders the expiries, and each call pops a small
batch of expired entries, so memory follows what is live in the window rather than everything ever seen, and no
single call pays for a long quiet spell. Each call does its whole read-modify-write without awaiting, which makes
it atomic under asyncio; a lock covers callers on other threads. Entries are flat tuples of strings and numbers,
which the garbage collector stops tracking, so a large table does not lengthen collection passes.
"""

from __future__ import annotations

import heapq
import math
import threading

from memo.application.dto import RateLimitDecision
from memo.application.errors import NonceStoreUnavailable
from memo.application.ports import Clock, NonceStore, RateLimiter

PURGE_BATCH = 64  # expired entries dropped per call: more than the one a call can add, so expired ones drain
_EXCLUSIVE, _SHARED = 1, 2  # a nonce's mode: any use refuses the next one, or only non-shared uses do


class _ExpiringTable:
    """Expiry bookkeeping shared by both stores: key -> (expires_at, value), purged from a heap of expiries."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, int]] = {}
        self._expiries: list[tuple[float, str]] = []

    def live(self, key: str, now: float) -> tuple[float, int] | None:
        entry = self.entries.get(key)
        return entry if entry is not None and entry[0] > now else None

    def put(self, key: str, expires_at: float, value: int) -> None:
        previous = self.entries.get(key)
        if previous is None or previous[0] != expires_at:
            heapq.heappush(self._expiries, (expires_at, key))
        self.entries[key] = (expires_at, value)

    def purge(self, now: float, *, limit: int | None = PURGE_BATCH) -> None:
        popped = 0
        while self._expiries and self._expiries[0][0] <= now and (limit is None or popped < limit):
            self._drop_first()
            popped += 1

    def evict_soonest(self) -> None:
        """Drop the live entry closest to expiry (stale heap items on the way are discarded)."""
        size = len(self.entries)
        while self._expiries and len(self.entries) == size:
            self._drop_first()

    def _drop_first(self) -> None:
        expires_at, key = heapq.heappop(self._expiries)
        entry = self.entries.get(key)
        if entry is not None and entry[0] == expires_at:  # otherwise the key was renewed: a newer heap item exists
            del self.entries[key]


def _table_key(scope: str, nonce: str) -> str:
    return f"{len(scope)}:{scope}{nonce}"  # length-prefixed, so no (scope, nonce) pair can spell another


class InProcessNonceStore(NonceStore):
    """Fails closed when full: refusing signed requests is safer than forgetting nonces that are still live.

    An entry costs about 300 bytes, so the default cap is ~300 MB, reached only by ~2,800 signed requests a second
    sustained over a whole 360 s window; per-key rate limits normally keep the table far smaller.
    """

    def __init__(self, clock: Clock, *, max_entries: int = 1_000_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._clock, self._max_entries = clock, max_entries
        self._table = _ExpiringTable()
        self._lock = threading.Lock()

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        now = self._clock.now().timestamp()
        key = _table_key(scope, nonce)
        mode = _SHARED if shared else _EXCLUSIVE
        with self._lock:
            table = self._table
            table.purge(now)
            live = table.live(key, now)
            if live is not None:
                expires_at, recorded = live
                if recorded == _SHARED and mode == _SHARED:
                    return True
                if recorded == _SHARED:  # a use that is not shared: no later use may share this record
                    table.put(key, expires_at, _EXCLUSIVE)
                return False
            if key not in table.entries and len(table.entries) >= self._max_entries:
                table.purge(now, limit=None)
                if len(table.entries) >= self._max_entries:
                    raise NonceStoreUnavailable
            table.put(key, now + ttl_s, mode)
            return True

    def __len__(self) -> int:
        return len(self._table.entries)


class InProcessRateLimiter(RateLimiter):
    """A fixed window per key, opened by the key's first hit (as express-rate-limit counts).

    When `max_keys` is reached the window closest to its end is forgotten: a limiter that fails open for one
    client beats one whose memory an address flood can grow without bound.
    """

    def __init__(self, clock: Clock, *, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be positive")
        self._clock, self._max_keys = clock, max_keys
        self._table = _ExpiringTable()
        self._lock = threading.Lock()

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        """Count one request; `allowed` says whether this one is within the limit."""
        _check(limit, window_s)
        now = self._clock.now().timestamp()
        with self._lock:
            table = self._table
            table.purge(now)
            current = table.live(key, now)
            if current is None:
                if key not in table.entries and len(table.entries) >= self._max_keys:
                    table.purge(now, limit=None)
                    if len(table.entries) >= self._max_keys:
                        table.evict_soonest()
                current = (now + window_s, 0)
            expires_at, count = current[0], current[1] + 1
            table.put(key, expires_at, count)
        return _decision(limit=limit, count=count, allowed=count <= limit, expires_at=expires_at, now=now)

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        """Count nothing; `allowed` says whether the next hit would be within the limit."""
        _check(limit, window_s)
        now = self._clock.now().timestamp()
        with self._lock:
            current = self._table.live(key, now)
        expires_at, count = current if current is not None else (now + window_s, 0)
        return _decision(limit=limit, count=count, allowed=count < limit, expires_at=expires_at, now=now)

    def __len__(self) -> int:
        return len(self._table.entries)


def _check(limit: int, window_s: float) -> None:
    if limit < 0 or not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError("a rate limit needs limit >= 0 and a finite window_s > 0")


def _decision(*, limit: int, count: int, allowed: bool, expires_at: float, now: float) -> RateLimitDecision:
    return RateLimitDecision(allowed=allowed, limit=limit, remaining=max(0, limit - count),
                             reset_after_s=max(0, math.ceil(expires_at - now)))
