"""A list's exact `total` on PostgreSQL without counting every match on every request.

Migration 0014's triggers insert a `memory_count_deltas` row per owner for every statement that touches its
memories or their tags; no writer ever changes a row, so concurrent writers never wait on each other. A list's
page is read in one statement with the owner's sums over those rows (one snapshot):

- the unfiltered list's total is the sum of `total`;
- a filtered list (search, type, tags, dates) keeps its count in a per-process LRU, under its owner and filter
  (not limit, offset or order, which do not change a total), with the owner's change version it was counted at.
  The version is the sum of `changes` with the largest row id. When the page reads the version its entry holds,
  the entry's count is exact: every commit that touches an owner's memories or tags adds at least one to the sum
  of `changes` (folding rows keeps the sum, see below), and a PostgreSQL snapshot taken later sees every commit an
  earlier one saw, so an equal sum means that no commit touched the owner in between, hence the same matches.
  The sum alone could meet an old value again only if the owner's rows were all removed (the owner deleted, and
  an owner with the same id made again): the largest id rules that out, since ids are never handed out twice and
  rows made later have larger ones. A count is kept only when read by a transaction that has written nothing,
  whose version therefore holds no uncommitted change that could still roll back. On any other version the
  page is read again with its count (one statement, as without the cache), and that count is kept.
  Each worker process keeps its own entries; each is exact on its own.

When a read sees more than `COMPACT_ABOVE` rows for its owner, their sums are folded into one row, by one
statement in a transaction of its own on another connection, started in the background: never inside the
caller's unit of work, whose writes it would commit or whose locks it would hold. Two folds racing keep the
sums too: the second waits for the first's deleted rows and then skips them. A failed fold changes nothing and
is only logged; the next read over the bound tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Select,
    Table,
    UnaryExpression,
    column,
    func,
    null,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.adapters.storage.fulltext import websearch_text
from memo.adapters.storage.orm import MemoryRow
from memo.adapters.storage.queries import wanted_tags
from memo.application.dto import MemoryQuery
from memo.domain.search import parse_search

logger = logging.getLogger(__name__)

LIST_TOTALS_CAPACITY = 4_096
COMPACT_ABOVE = 64

DELTAS = table("memory_count_deltas", column("id", BigInteger()), column("owner_id", GUID()),
               column("total", BigInteger()), column("changes", BigInteger()))
# One statement: concurrent folds keep the sums, and nothing is inserted when another fold took every row first.
COMPACT = text("""WITH gone AS (DELETE FROM memory_count_deltas WHERE owner_id = CAST(:owner_id AS uuid)
                                RETURNING total, changes)
    INSERT INTO memory_count_deltas (owner_id, total, changes)
    SELECT CAST(:owner_id AS uuid), sum(total), sum(changes) FROM gone HAVING count(*) > 0""")

FilterKey = tuple[UUID, str | None, str | None, tuple[str, ...], datetime | None, datetime | None]
Version = tuple[int, int | None]  # the owner's sum of `changes`, and its largest delta row id


def filter_key(owner_id: UUID, query: MemoryQuery) -> FilterKey:
    """What decides a filtered list's matches, normalised: the search as PostgreSQL receives it, the tags stored."""
    search = websearch_text(parse_search(query.search)) if query.search else None
    kind = None if query.type is None else query.type.value
    return owner_id, search, kind, wanted_tags(query), query.created_after, query.created_before


@dataclass(frozen=True, slots=True)
class Kept:
    version: Version
    total: int


class FilteredTotals:
    """Counts of filtered lists with the version each was counted at; the least recently used go first."""

    def __init__(self, capacity: int = LIST_TOTALS_CAPACITY) -> None:
        self._capacity = capacity
        self._kept: OrderedDict[FilterKey, Kept] = OrderedDict()

    def get(self, key: FilterKey) -> Kept | None:
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
        return kept

    def keep(self, key: FilterKey, version: Version, total: int) -> None:
        self._kept[key] = Kept(version, total)
        self._kept.move_to_end(key)
        if len(self._kept) > self._capacity:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


class ListTotals:
    """PostgreSQL's list totals of one process: the filtered counts it keeps and the folds it starts."""

    def __init__(self, engine: AsyncEngine, *, capacity: int = LIST_TOTALS_CAPACITY,
                 compact_above: int = COMPACT_ABOVE) -> None:
        self._engine = engine
        self.filtered = FilteredTotals(capacity)
        self._compact_above = compact_above
        self._folding: dict[UUID, asyncio.Task[None]] = {}

    def saw(self, owner_id: UUID, delta_rows: int) -> None:
        """A read found `delta_rows` rows for the owner: over the bound, fold them (one fold per owner at a time)."""
        if delta_rows <= self._compact_above or owner_id in self._folding:
            return
        task = asyncio.get_running_loop().create_task(self._fold_quietly(owner_id))
        self._folding[owner_id] = task
        task.add_done_callback(lambda _: self._folding.pop(owner_id, None))

    async def compact(self, owner_id: UUID) -> None:
        """Fold the owner's rows into one, in a transaction of its own (autocommit) on a connection of its own."""
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(COMPACT, {"owner_id": owner_id})

    async def _fold_quietly(self, owner_id: UUID) -> None:
        try:
            await self.compact(owner_id)
        except (SQLAlchemyError, OSError) as error:  # the rows stay as they were: the sums are still right
            logger.warning("folding an owner's memory count deltas failed (%s); the next read retries",
                           type(error).__name__)

    async def settled(self) -> None:
        """Return once the folds started so far are over."""
        while self._folding:
            await asyncio.gather(*self._folding.values(), return_exceptions=True)

    async def aclose(self) -> None:
        await self.settled()


@dataclass(frozen=True, slots=True)
class Sums:
    """The owner's sums over its delta rows, and the list's count of matches when it was asked for."""

    total: int
    version: Version
    delta_rows: int
    unwritten: bool  # the reading transaction has written nothing, so the version holds no uncommitted change
    matches: int | None

    @classmethod
    def of(cls, row: Row[Any]) -> Sums:
        return cls(total=row.owner_total, version=(row.owner_changes, row.last_delta), delta_rows=row.delta_rows,
                   unwritten=row.unwritten, matches=row.matches)


@dataclass(frozen=True, slots=True)
class Listing:
    """One list query on PostgreSQL: the owner, the filters of `memories`, the page's order and bounds."""

    owner_id: UUID
    filters: Sequence[ColumnElement[bool]]
    order_by: Sequence[UnaryExpression[Any]]
    limit: int
    offset: int

    def _sums(self, *, counted: bool) -> list[Any]:
        """The owner's sums as scalar subqueries of one CTE (read once), and the count of matches if `counted`."""
        sums = select(
            func.coalesce(func.sum(DELTAS.c.total), 0).cast(BigInteger).label("owner_total"),
            func.coalesce(func.sum(DELTAS.c.changes), 0).cast(BigInteger).label("owner_changes"),
            func.max(DELTAS.c.id).label("last_delta"),
            func.count().label("delta_rows"),
            func.pg_current_xact_id_if_assigned().is_(None).label("unwritten"),
        ).where(DELTAS.c.owner_id == self.owner_id).cte("owner_sums")
        columns: list[Any] = [select(each).scalar_subquery().label(each.name) for each in sums.c]
        memories = cast("Table", MemoryRow.__table__)
        matches = (select(func.count()).select_from(memories).where(*self.filters).correlate(None)
                   .scalar_subquery() if counted else None)
        columns.append((matches if matches is not None else type_coerce(null(), BigInteger())).label("matches"))
        return columns

    def page(self, *, counted: bool) -> Select[Any]:
        memories = cast("Table", MemoryRow.__table__)
        return (select(memories, *self._sums(counted=counted)).where(*self.filters).order_by(*self.order_by)
                .limit(self.limit).offset(self.offset))

    def sums_alone(self, *, counted: bool) -> Select[Any]:
        return select(*self._sums(counted=counted))


async def _read(connection: AsyncConnection, listing: Listing, *, counted: bool) -> tuple[Sequence[Row[Any]], Sums]:
    rows = (await connection.execute(listing.page(counted=counted))).all()
    if rows:
        return rows, Sums.of(rows[0])
    # no row to carry the sums (past the last match, or none at all): they are read on their own
    return rows, Sums.of((await connection.execute(listing.sums_alone(counted=counted))).one())


async def unfiltered_page(connection: AsyncConnection, listing: Listing,
                          totals: ListTotals | None) -> tuple[Sequence[Row[Any]], int]:
    rows, sums = await _read(connection, listing, counted=False)
    if totals is not None:
        totals.saw(listing.owner_id, sums.delta_rows)
    return rows, sums.total


async def filtered_page(connection: AsyncConnection, listing: Listing, key: FilterKey,
                        totals: ListTotals | None) -> tuple[Sequence[Row[Any]], int]:
    kept = totals.filtered.get(key) if totals is not None else None  # before the read: kept from an earlier one
    rows, sums = await _read(connection, listing, counted=kept is None)
    if kept is not None and kept.version != sums.version:
        kept = None
        rows, sums = await _read(connection, listing, counted=True)
    if totals is not None:
        totals.saw(listing.owner_id, sums.delta_rows)
    if kept is not None:
        return rows, kept.total
    matches = cast("int", sums.matches)
    if totals is not None and sums.unwritten:
        totals.filtered.keep(key, sums.version, matches)
    return rows, matches
