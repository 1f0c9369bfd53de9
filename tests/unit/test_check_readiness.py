"""Readiness: the database, the schema revision and this process's own worker, each bounded by a short timeout."""

from __future__ import annotations

import asyncio
import time

from memo.adapters.storage.memory import InMemoryHealthCheck, InMemoryStore
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.storage.memory_schema_version import InMemorySchemaVersion
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application.check_readiness import CheckReadiness
from memo.application.dto import CheckResult
from memo.application.errors import StorageUnavailable
from memo.entrypoints.health import WorkerCheck


class DownDatabase(InMemoryHealthCheck):
    async def check(self) -> CheckResult:
        return CheckResult(healthy=False, backend="postgresql", detail="unreachable (OSError)")


class UnreadableSchema(InMemorySchemaVersion):
    async def current(self) -> str | None:
        raise StorageUnavailable


class HangingSchema(InMemorySchemaVersion):
    async def current(self) -> str | None:
        await asyncio.sleep(30)
        return self.head()


async def test_a_current_schema_and_a_reachable_database_are_ready_and_no_worker_is_not_asked_for() -> None:
    report = await CheckReadiness(database=InMemoryHealthCheck(), schema=InMemorySchemaVersion())()

    assert report.healthy
    assert set(report.checks) == {"database", "migrations", "worker"}
    assert report.checks["migrations"].figures == {"current": "in-memory", "expected": "in-memory"}
    assert report.checks["worker"].healthy
    assert not report.checks["worker"].enabled


async def test_a_schema_behind_the_code_is_not_ready_and_says_what_to_run() -> None:
    schema = InMemorySchemaVersion()
    schema.revision = "0007"

    report = await CheckReadiness(database=InMemoryHealthCheck(), schema=schema)()

    assert not report.healthy
    migrations = report.checks["migrations"]
    assert not migrations.healthy
    assert migrations.figures == {"current": "0007", "expected": "in-memory"}
    assert migrations.detail is not None
    assert "at revision 0007" in migrations.detail
    assert "memo db upgrade" in migrations.detail
    assert report.checks["database"].healthy


async def test_a_database_without_any_schema_is_not_ready() -> None:
    schema = InMemorySchemaVersion()
    schema.revision = None

    report = await CheckReadiness(database=InMemoryHealthCheck(), schema=schema)()

    assert not report.healthy
    assert report.checks["migrations"].detail == "the database has no schema yet: run `memo db upgrade`"


async def test_an_unreachable_database_fails_both_the_database_and_the_migrations_parts() -> None:
    report = await CheckReadiness(database=DownDatabase(), schema=UnreadableSchema())()

    assert not report.healthy
    assert report.checks["database"].detail == "unreachable (OSError)"
    assert report.checks["migrations"].detail == "the schema revision cannot be read: the database is unavailable"


async def test_a_hanging_schema_read_answers_within_the_timeout() -> None:
    started = time.monotonic()
    report = await CheckReadiness(database=InMemoryHealthCheck(), schema=HangingSchema(), timeout_s=0.05)()

    assert time.monotonic() - started < 1
    assert not report.healthy
    assert report.checks["migrations"].detail == "no answer within 0.05 s"


def worker_check(store: InMemoryStore, clock: FixedClock) -> WorkerCheck:
    return WorkerCheck(InMemoryJobQueue(store), clock, backend="in-memory", seen_within_s=300)


async def test_an_expected_worker_that_never_beat_is_not_ready() -> None:
    report = await CheckReadiness(database=InMemoryHealthCheck(), schema=InMemorySchemaVersion(),
                                  worker=worker_check(InMemoryStore(), FixedClock()))()

    assert not report.healthy
    assert report.checks["worker"].detail == "no worker has written its heartbeat in the last 300 s"


async def test_an_expected_worker_is_ready_while_its_heartbeat_is_fresh_and_not_once_it_is_stale() -> None:
    store, clock = InMemoryStore(), FixedClock()
    store.heartbeats["w1"] = TEST_NOW
    readiness = CheckReadiness(database=InMemoryHealthCheck(), schema=InMemorySchemaVersion(),
                               worker=worker_check(store, clock))
    clock.advance(seconds=299)
    assert (await readiness()).healthy

    clock.advance(seconds=2)
    stale = await readiness()

    assert not stale.healthy
    assert stale.checks["worker"].figures["lastHeartbeatAt"] == TEST_NOW.isoformat()


async def test_health_s_worker_check_asks_for_no_heartbeat() -> None:
    check = WorkerCheck(InMemoryJobQueue(InMemoryStore()), FixedClock(), backend="in-memory")

    assert (await check.check()).healthy


