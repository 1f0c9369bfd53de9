"""Readiness (`GET /health/ready`): the database check /health runs, the schema revision, and this process's
own worker when it runs one."""

from __future__ import annotations

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.storage.memory_schema_version import InMemorySchemaVersion
from memo.adapters.storage.schema_version import AlembicSchemaVersion
from memo.application.check_readiness import CheckReadiness
from memo.application.ports import Clock, HealthCheck, JobQueue, SchemaVersion
from memo.entrypoints.health import WorkerCheck
from memo.entrypoints.settings import Profile, Settings

# Longer than the longest quiet spell of a busy worker (see WorkerCheck), so readiness never flaps under load.
WORKER_SEEN_WITHIN_S = 300.0


class ReadinessProvider(Provider):
    """Built once: a probe every few seconds should cost a query or two, nothing more."""

    scope = Scope.APP

    @provide
    def check_readiness(self, checks: list[HealthCheck], schema: SchemaVersion, queue: JobQueue, clock: Clock,
                        settings: Settings) -> CheckReadiness:
        database = next((check for check in checks if check.name == "database"), None)
        if database is None:
            msg = "no storage provider gave a `database` health check"
            raise RuntimeError(msg)
        worker = None
        if settings.runs_inprocess_worker:
            backend = "in-memory" if settings.profile is Profile.TEST else "database outbox"
            worker = WorkerCheck(queue, clock, backend=backend, seen_within_s=WORKER_SEEN_WITHIN_S)
        return CheckReadiness(database=database, schema=schema, worker=worker)


class SqlSchemaVersionProvider(Provider):
    scope = Scope.APP

    @provide
    def schema_version(self, engine: AsyncEngine) -> SchemaVersion:
        return AlembicSchemaVersion(engine)


class InMemorySchemaVersionProvider(Provider):
    scope = Scope.APP
    schema_version = provide(InMemorySchemaVersion, provides=SchemaVersion)
