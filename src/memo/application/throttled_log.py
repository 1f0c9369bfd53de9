"""A warning that repeats at most once per interval, so an outage on a hot path says so without flooding the logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class ThrottledWarning:
    """Logs the first occurrence, then at most one line per `every_s`, counting the occurrences it held back."""

    def __init__(self, logger: logging.Logger, message: str, *, every_s: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic, level: int = logging.WARNING) -> None:
        self._logger, self._message, self._every_s, self._monotonic = logger, message, every_s, monotonic
        self._level = level
        self._next_at: float | None = None
        self._held_back = 0
        self._lock = threading.Lock()

    def __call__(self, reason: str) -> None:
        now = self._monotonic()
        with self._lock:
            if self._next_at is not None and now < self._next_at:
                self._held_back += 1
                return
            held_back, self._held_back, self._next_at = self._held_back, 0, now + self._every_s
        self._logger.log(self._level, "%s (%s; %d more since the last line)", self._message, reason, held_back)
