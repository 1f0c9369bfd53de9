"""The job outbox on SQL: written inside the unit of work's session, claimed by workers on the engine.

A claim is one statement, `UPDATE jobs ... WHERE id IN (the due ids) RETURNING ...`, so choosing the jobs and
taking their lease cannot be split by another claimer:

- PostgreSQL picks the due ids with `FOR UPDATE SKIP LOCKED` in a CTE (locking CTEs are evaluated once, so the
  `LIMIT` holds): any number of workers on one database, each row locked by one claimer, the others skip it;
- SQLite has no row locks: the statement runs under the database's single write lock, which makes it atomic too.
  The embedded profile runs one in-process claimer; several would be correct, only serialised.

Every later write is a compare-and-set on (state running, lease owner), so a worker that lost its lease (it
stalled past it and another worker claimed the job) cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from sqlalchemy import ColumnElement, RowMapping, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from memo.adapters.sqlite_writer import writing
from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import JobRow, WorkerHeartbeatRow
from memo.adapters.storage.rows import affected
from memo.application.ports import JobQueue, Outbox
from memo.domain.jobs import Job, JobCounts, JobState

_COLUMNS = tuple(JobRow.__table__.c)
# Built once: an insert built and coerced per write cost more than SQLite's own work (19 % of a signed create)
_INSERT_JOB = insert(cast("Table", JobRow.__table__))


def job_values(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "owner_id": job.owner_id, "payload": dict(job.payload),
            "state": job.state.value, "attempts": job.attempts, "run_after": job.run_after,
            "last_error": job.last_error, "lease_owner": job.lease_owner,
            "lease_expires_at": job.lease_expires_at, "created_at": job.created_at, "updated_at": job.updated_at}


def job_from_row(row: RowMapping) -> Job:
    return Job(id=row["id"], kind=row["kind"], owner_id=row["owner_id"], payload=dict(row["payload"]),
               state=JobState(row["state"]), attempts=row["attempts"], run_after=row["run_after"],
               last_error=row["last_error"], lease_owner=row["lease_owner"],
               lease_expires_at=row["lease_expires_at"], created_at=row["created_at"],
               updated_at=row["updated_at"])


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(and_(JobRow.state == JobState.PENDING.value, JobRow.run_after <= now),
               and_(JobRow.state == JobState.RUNNING.value, JobRow.lease_expires_at < now))


class SqlAlchemyOutbox(Outbox):
    """On the unit of work's session: the job commits or rolls back with the data that causes it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @translating
    async def enqueue(self, job: Job) -> None:
        # Core on the session's own connection (same transaction), past the ORM's DML bookkeeping
        connection = await self._session.connection()
        await connection.execute(_INSERT_JOB, job_values(job))


class SqlJobQueue(JobQueue):
    """Each call is a short transaction of its own on the engine, never a request's session."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    @translating
    async def claim(self, worker_id: str, *, limit: int, lease_s: float, now: datetime) -> Sequence[Job]:
        due = select(JobRow.id).where(_due(now)).order_by(JobRow.run_after, JobRow.id).limit(limit)
        taking = update(JobRow).values(
            state=JobState.RUNNING.value, attempts=JobRow.attempts + 1, lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)
        if self._postgres:
            locked = due.with_for_update(skip_locked=True).cte("due")
            statement = taking.where(JobRow.id == locked.c.id)
        else:
            statement = taking.where(JobRow.id.in_(due.scalar_subquery()))
        async with writing(self._engine) as connection:
            rows = (await connection.execute(statement.returning(*_COLUMNS))).mappings().all()
        return sorted((job_from_row(row) for row in rows), key=lambda job: (job.run_after, job.id))

    @translating
    async def settle(self, job: Job, *, worker_id: str) -> bool:
        statement = update(JobRow).where(
            JobRow.id == job.id, JobRow.state == JobState.RUNNING.value, JobRow.lease_owner == worker_id,
        ).values(**{name: value for name, value in job_values(job).items() if name not in {"id", "created_at"}})
        async with writing(self._engine) as connection:
            return affected(await connection.execute(statement)) == 1

    @translating
    async def get(self, job_id: UUID) -> Job | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(*_COLUMNS).where(JobRow.id == job_id))).mappings().one_or_none()
        return None if row is None else job_from_row(row)

    @translating
    async def by_state(self, state: JobState | None = None, *, limit: int = 100) -> Sequence[Job]:
        statement = select(*_COLUMNS).order_by(JobRow.created_at, JobRow.id).limit(limit)
        if state is not None:
            statement = statement.where(JobRow.state == state.value)
        async with self._engine.connect() as connection:
            return [job_from_row(row) for row in (await connection.execute(statement)).mappings()]

    @translating
    async def retry(self, job_id: UUID, now: datetime) -> bool:
        async with writing(self._engine) as connection:
            return await self._retry(connection, now, JobRow.id == job_id) == 1

    @translating
    async def retry_all_failed(self, now: datetime) -> int:
        async with writing(self._engine) as connection:
            return await self._retry(connection, now)

    @staticmethod
    async def _retry(connection: AsyncConnection, now: datetime, *where: ColumnElement[bool]) -> int:
        statement = update(JobRow).where(JobRow.state == JobState.FAILED.value, *where).values(
            state=JobState.PENDING.value, attempts=0, run_after=now, updated_at=now)
        return affected(await connection.execute(statement))

    @translating
    async def counts(self, now: datetime) -> JobCounts:
        live = [JobState.PENDING.value, JobState.RUNNING.value, JobState.FAILED.value]
        by_state = select(JobRow.kind, JobRow.state, func.count()).where(JobRow.state.in_(live)).group_by(
            JobRow.kind, JobRow.state)
        oldest_due = select(func.min(JobRow.run_after)).where(
            JobRow.state == JobState.PENDING.value, JobRow.run_after <= now)
        last_beat = select(func.max(WorkerHeartbeatRow.seen_at))
        async with self._engine.connect() as connection:
            by_kind: dict[tuple[str, str], int] = {(kind, state): count
                                                   for kind, state, count in await connection.execute(by_state)}
            oldest = (await connection.execute(oldest_due)).scalar_one_or_none()
            beat = (await connection.execute(last_beat)).scalar_one_or_none()
        counts = Counter[str]()
        for (_, state), count in by_kind.items():
            counts[state] += count
        return JobCounts(pending=counts[JobState.PENDING.value], running=counts[JobState.RUNNING.value],
                         failed=counts[JobState.FAILED.value], oldest_due_at=oldest, last_heartbeat_at=beat,
                         by_kind=by_kind)

    @translating
    async def prune_done(self, finished_before: datetime, *, limit: int) -> int:
        finished = select(JobRow.id).where(JobRow.state == JobState.DONE.value,
                                           JobRow.updated_at < finished_before).limit(limit)
        async with writing(self._engine) as connection:
            return affected(await connection.execute(delete(JobRow).where(JobRow.id.in_(finished.scalar_subquery()))))

    @translating
    async def heartbeat(self, worker_id: str, now: datetime) -> None:
        values = {"worker_id": worker_id, "seen_at": now}
        statement = (postgresql.insert(WorkerHeartbeatRow).values(values).on_conflict_do_update(
            index_elements=["worker_id"], set_={"seen_at": now}) if self._postgres else
            sqlite.insert(WorkerHeartbeatRow).values(values).on_conflict_do_update(
                index_elements=["worker_id"], set_={"seen_at": now}))
        async with writing(self._engine) as connection:
            await connection.execute(statement)
