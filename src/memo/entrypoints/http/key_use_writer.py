"""The server's background writer of key uses: started and stopped with the app, on the app's container."""

from __future__ import annotations

import asyncio
import contextlib

from dishka import AsyncContainer

from memo.application.key_use import KeyUseTracker


class KeyUseWriter:
    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        tracker = await self._container.get(KeyUseTracker)
        self._stop.clear()
        self._task = asyncio.create_task(tracker.run(self._stop), name="key-use-writer")

    async def stop(self) -> None:
        """Write what is noted once more, then end; before the container (and its pool) closes."""
        if self._task is None:
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=2.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None
