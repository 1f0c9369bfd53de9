"""The last use of each API key, for `memo keys list`: seen on every signed request, written at most once a minute.

A signed request only notes its key in a dict (no I/O, no await); a background task of the server writes what was
noted every few seconds. A key already written in the last minute is not noted again, so a busy key costs one
write a minute whatever its rate, and a write that fails is kept for the next round instead of being lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from memo.application.errors import StorageUnavailable
from memo.application.ports import KeyUses

logger = logging.getLogger(__name__)

WRITE_EVERY = timedelta(minutes=1)  # per key: how stale `memo keys list` may be


@dataclass(kw_only=True)
class KeyUseTracker:
    uses: KeyUses
    flush_every_s: float = 10.0
    _pending: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    _written: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)

    def seen(self, key_id: str, at: datetime) -> None:
        """Note a use; cheap enough for the hot path (two dict lookups)."""
        written = self._written.get(key_id)
        if written is None or at - written >= WRITE_EVERY:
            self._pending[key_id] = at

    async def flush(self) -> int:
        """Write the uses noted since the last flush; how many keys were written."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        try:
            await self.uses.record(batch)
        except StorageUnavailable:
            for key_id, at in batch.items():  # kept for the next round, unless a later use was noted since
                self._pending.setdefault(key_id, at)
            raise
        self._written.update(batch)
        return len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `flush_every_s` until `stop`, then once more, so a clean stop loses no use."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_every_s)
            try:
                await self.flush()
            except StorageUnavailable:
                logger.warning("the last use of API keys could not be written; it is tried again shortly")
