"""Background work, told apart from the work a person waits on, so that on a busy core the requests go first.

The job worker's loop runs inside `background_work()`; adapters that run heavy work on threads of their own (the
local embedding model) pick, per call, a thread at the process's priority or one at the lowest CPU priority. A
context variable rather than a second port: which work may wait is the caller's to say, and every adapter a
container builds (decorated by metrics, swapped by tests) honours it unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar

BACKGROUND_NICE = 19  # the lowest priority: Linux's scheduler gives such a thread ~1.5 % of a core others want

logger = logging.getLogger(__name__)
_BACKGROUND: ContextVar[bool] = ContextVar("memo_background_work", default=False)


@contextlib.contextmanager
def background_work() -> Iterator[None]:
    """Within it, and in the tasks started from it, work may wait for the CPU."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def in_background() -> bool:
    return _BACKGROUND.get()


def lowest_cpu_priority() -> None:
    """Make the calling thread the last the scheduler serves; a thread pool's initializer. onnxruntime with one
    intra-op thread (the local embedder's default) computes on the calling thread, so the model runs at it too.

    Per thread on Linux only (`setpriority` with a thread id); elsewhere it would renice the whole process, so the
    thread keeps the process's priority there.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError as error:  # a container may forbid it; indexing then competes as an equal
        logger.warning("background work keeps normal CPU priority: %s", error.strerror or error)


