"""Clocks and id generators: the system ones for running Memo, fixed and sequential ones for tests."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from memo.application.ports import Clock, IdGenerator

MAX_COUNTER = 0xFFF
TEST_NOW = datetime(2026, 11, 28, 9, 53, 13, 123000, tzinfo=UTC)


class SystemClock(Clock):
    """UTC, cut to milliseconds: the precision the API shows, so a time a client read back filters exactly."""

    def now(self) -> datetime:
        # Whole milliseconds as a float of seconds are exact to well under a microsecond, the unit fromtimestamp
        # rounds to, so the result is always a whole millisecond; half the work of now() and replace().
        return datetime.fromtimestamp(time.time_ns() // 1_000_000 / 1000, UTC)


class FixedClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = TEST_NOW) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, now: datetime) -> None:
        self._now = now


class UuidV7Ids(IdGenerator):
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter and random bits, so ids sort by creation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new_id(self) -> UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms <= self._last_ms:
                self._counter += 1
                if self._counter > MAX_COUNTER:  # counter spent: borrow the next millisecond
                    self._last_ms += 1
                    self._counter = 0
                now_ms = self._last_ms
            else:
                self._last_ms = now_ms
                self._counter = 0
            counter = self._counter
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (now_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
        return UUID(int=value)


class SequentialIds(IdGenerator):
    """Predictable ids for tests; still version 7 in shape and increasing."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def new_id(self) -> UUID:
        value = self._next
        self._next += 1
        return UUID(int=(0x0190_0000_0000 << 80) | 0x7 << 76 | 0b10 << 62 | value)
