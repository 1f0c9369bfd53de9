"""Shared test settings: one fixed instant and asyncio for every async test, and, when the suite runs in several
pytest-xdist workers (as CI does, `-n 2`), a Redis database of each worker's own."""

from __future__ import annotations

import os

from memo.adapters.system import TEST_NOW


def _own_redis_database(url: str, worker: str) -> str:
    """redis://host:port/15 for worker gw0, /14 for gw1, ...: the modules read the URL when they are imported."""
    base, _, database = url.rpartition("/")
    number = int(database) if database.isdigit() else 15
    return f"{base}/{number - int(worker.removeprefix('gw'))}"


if (_WORKER := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw") and os.environ.get("MEMO_TEST_REDIS_URL"):
    os.environ["MEMO_TEST_REDIS_URL"] = _own_redis_database(os.environ["MEMO_TEST_REDIS_URL"], _WORKER)

NOW = TEST_NOW
