"""The last use of keys: noted on the hot path without I/O, written at most once a minute per key, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from memo.adapters.system import TEST_NOW
from memo.application.errors import StorageUnavailable
from memo.application.key_use import KeyUseTracker


class Recorded:
    def __init__(self) -> None:
        self.writes: list[dict[str, datetime]] = []
        self.down = False

    async def record(self, uses: Mapping[str, datetime]) -> None:
        if self.down:
            raise StorageUnavailable
        self.writes.append(dict(uses))


def at(seconds: float) -> datetime:
    return TEST_NOW + timedelta(seconds=seconds)


async def test_a_busy_key_is_written_once_a_minute_whatever_its_rate() -> None:
    store = Recorded()
    tracker = KeyUseTracker(uses=store)
    for second in range(0, 125, 5):  # a use every 5 s for 2 minutes, a flush after each
        tracker.seen("k1", at(second))
        await tracker.flush()

    assert store.writes == [{"k1": at(0)}, {"k1": at(60)}, {"k1": at(120)}]


async def test_uses_noted_between_flushes_are_written_once_with_the_latest_time() -> None:
    store = Recorded()
    tracker = KeyUseTracker(uses=store)
    tracker.seen("k1", at(1))
    tracker.seen("k2", at(2))
    tracker.seen("k1", at(3))

    assert await tracker.flush() == 2
    assert await tracker.flush() == 0
    assert store.writes == [{"k1": at(3), "k2": at(2)}]


async def test_a_failed_write_is_kept_for_the_next_flush() -> None:
    store = Recorded()
    tracker = KeyUseTracker(uses=store)
    tracker.seen("k1", at(1))
    store.down = True
    with pytest.raises(StorageUnavailable):
        await tracker.flush()
    tracker.seen("k1", at(5))  # a later use noted meanwhile wins
    store.down = False

    await tracker.flush()

    assert store.writes == [{"k1": at(5)}]


async def test_the_writer_loop_flushes_on_its_own_and_once_more_when_stopped() -> None:
    store = Recorded()
    tracker = KeyUseTracker(uses=store, flush_every_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(tracker.run(stop))
    tracker.seen("k1", at(0))
    await asyncio.sleep(0.05)
    tracker.seen("k2", at(1))
    stop.set()
    await asyncio.wait_for(task, 1)

    assert {key for write in store.writes for key in write} == {"k1", "k2"}
