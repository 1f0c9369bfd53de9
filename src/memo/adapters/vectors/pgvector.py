"""The vector index on PostgreSQL with pgvector, beside the memories: a PostgreSQL deployment needs no third service.

Why it is shaped the way it is:

* One table per dimension, `memory_vectors_<n>`, because a `vector(n)` column has one size: a change to an
  embedder of another size starts a table of its own, and a change of model at one size is told apart by `model`,
  which every query filters on. HNSW indexes `vector` up to 2,000 dimensions, so a larger embedder (OpenAI's
  3,072) gets `halfvec(n)`, half-precision floats that HNSW indexes up to 4,000: ample for ranking by cosine.
  `memory_id` references `memories` with ON DELETE CASCADE, so a deleted memory's vector goes in the same
  transaction, before its delete job runs.
* The adapter makes its table at first use (`CREATE EXTENSION IF NOT EXISTS vector`, the table, an HNSW index
  `USING hnsw (embedding vector_cosine_ops)` and one on `owner_id`) under a transaction-scoped advisory lock, so
  processes starting together do it once. A server without pgvector, or a role that may not create it, is a
  `VectorIndexUnavailable` that says what to do (docs/operations.md), raised again on every call until it is
  done (nothing is cached but success).
* Vectors travel as pgvector's text form, `'[0.1,0.2,...]'` cast to `vector` in the SQL, rather than through
  `pgvector.asyncpg.register_vector`: that needs a connect hook on the shared engine, and the hook fails on every
  new connection to a database where the extension does not exist yet. The text is a few KB a vector; parsing it
  costs microseconds beside the HNSW insert (about a millisecond a vector here).
* Filters sit in the same SQL as the distance (`tags @> ...` for "every tag"), never after a truncated top-k.
  An owner holding at most `exact_scan_max_rows` vectors is searched exactly (about 2 ms at 1,000 vectors of
  384 dimensions and 12 ms at 10,000 here, and always right). A larger owner goes through the HNSW index
  (`enable_sort` off for that one statement, so the planner takes the index) with `hnsw.ef_search` set for the
  query and `hnsw.iterative_scan = relaxed_order` (pgvector 0.8): when the owner and filters leave fewer than
  `limit` of the candidates, the scan goes on through the graph instead of answering short, and the relaxed
  order is sorted again by distance. If the scan still stops short (it gives up after `hnsw.max_scan_tuples`,
  20,000 by default), the query is answered again exactly, so a filter never loses results.
* An upsert is one transaction of one statement per `upsert_batch_size` rows (`INSERT ... SELECT FROM
  unnest(...) ON CONFLICT DO UPDATE`), joined to `memories` on id and owner: a vector is only ever stored under
  the owner of its memory, and one whose memory is gone is skipped, not an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import Float, Uuid, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry

MAX_VECTOR_DIMENSIONS = 2000  # pgvector's limits for an HNSW index on `vector`, and on `halfvec`
MAX_HALFVEC_DIMENSIONS = 4000
MAX_EF_SEARCH = 1000  # pgvector's limit for hnsw.ef_search
DEFAULT_EF_SEARCH = 100
DEFAULT_EXACT_SCAN_MAX_ROWS = 10_000
DEFAULT_UPSERT_BATCH_SIZE = 200  # at 1 to 3 ms a vector, well inside a 5 s statement timeout on a busy machine
INSTALL_HINT = "install pgvector on the PostgreSQL server (see docs/operations.md)"
MIN_VERSION = (0, 8)  # hnsw.iterative_scan, without which a selective filter returns fewer than `limit`
_SETUP_LOCK_KEY = 0x6D656D6F_76656374  # "memovect": shared by every Memo process
# SQLSTATE classes a retry can cure: 08 connection, 40 rollback (deadlock), 53 resources, 57 operator
# intervention (statement timeout, shutdown), 58 system (I/O) error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_INSUFFICIENT_PRIVILEGE = "42501"

_log = logging.getLogger(__name__)


def vector_literal(vector: Sequence[float], dimensions: int) -> str:
    """pgvector's text form of `vector`, refusing a wrong length or a component PostgreSQL would refuse."""
    if len(vector) != dimensions:
        raise ValueError(f"a {len(vector)}-dimensional vector for a {dimensions}-dimensional index")
    values = [float(value) for value in vector]
    if not all(map(math.isfinite, values)):
        raise ValueError("a vector with a NaN or infinite component")
    return "[" + ",".join(map(repr, values)) + "]"


def recent_enough(version: str) -> bool:
    """Whether pgvector `version` (pg_extension.extversion, such as '0.8.0') has what this adapter uses."""
    try:
        return tuple(int(part) for part in version.split(".")[:2]) >= MIN_VERSION
    except ValueError:
        return False


def _is_unreachable(error: BaseException) -> bool:
    if isinstance(error, (PoolTimeoutError, DisconnectionError, OSError)):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(error, (OperationalError, InterfaceError))


@contextmanager
def _reachable() -> Iterator[None]:
    """Connection loss, timeouts and a server shutting down are `VectorIndexUnavailable`; anything else is a bug."""
    try:
        yield
    except (DBAPIError, PoolTimeoutError, DisconnectionError, OSError) as exc:
        if _is_unreachable(exc):
            raise VectorIndexUnavailable from exc
        raise


class PgVectorIndex(VectorIndex):
    """Vectors of one embedder (`model`, `dimensions`) in `memory_vectors_<dimensions>` on the given engine."""

    def __init__(self, engine: AsyncEngine, *, model: str, dimensions: int, ef_search: int = DEFAULT_EF_SEARCH,
                 exact_scan_max_rows: int = DEFAULT_EXACT_SCAN_MAX_ROWS,
                 upsert_batch_size: int = DEFAULT_UPSERT_BATCH_SIZE) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"pgvector needs a PostgreSQL engine, not {engine.dialect.name}")
        if not model:
            raise ValueError("the embedder's model name is required")
        if not 1 <= dimensions <= MAX_HALFVEC_DIMENSIONS:
            raise ValueError(f"pgvector's HNSW index takes 1..{MAX_HALFVEC_DIMENSIONS} dimensions, not {dimensions}")
        if not 1 <= ef_search <= MAX_EF_SEARCH:
            raise ValueError(f"hnsw.ef_search must be 1..{MAX_EF_SEARCH}, not {ef_search}")
        if exact_scan_max_rows < 0:
            raise ValueError(f"exact_scan_max_rows must not be negative, not {exact_scan_max_rows}")
        if upsert_batch_size < 1:
            raise ValueError(f"upsert_batch_size must be at least 1, not {upsert_batch_size}")
        self._engine = engine
        self._model = model
        self._dimensions = dimensions
        self._ef_search = ef_search
        self._exact_scan_max_rows = exact_scan_max_rows
        self._upsert_batch_size = upsert_batch_size
        self.table = f"memory_vectors_{dimensions}"
        self._type = "vector" if dimensions <= MAX_VECTOR_DIMENSIONS else "halfvec"
        self._ready = False
        self._setup_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.table!r}, model={self._model!r})"

    async def upsert(self, entries: Sequence[VectorEntry]) -> None:
        """Every entry in one transaction, `upsert_batch_size` rows a statement: each statement links its vectors
        into the HNSW graph (1 to 3 ms a vector here) and must finish inside the engine's statement timeout."""
        latest = {entry.memory_id: entry for entry in entries}  # one row may not be updated twice in one statement
        if not latest:
            return
        rows = list(latest.values())
        batches = [self._upsert_parameters(rows[start:start + self._upsert_batch_size])
                   for start in range(0, len(rows), self._upsert_batch_size)]
        await self._ensure_table()
        with _reachable():
            async with self._engine.begin() as connection:
                for parameters in batches:
                    await connection.execute(text(f"""
                        INSERT INTO {self.table} (memory_id, owner_id, model, embedding, type, tags, source,
                                                  created_at)
                        SELECT e.memory_id, e.owner_id, :model, CAST(e.embedding AS {self._type}), e.type,
                               ARRAY(SELECT jsonb_array_elements_text(e.tags)), e.source, e.created_at
                        FROM unnest(CAST(:ids AS uuid[]), CAST(:owners AS uuid[]), CAST(:embeddings AS text[]),
                                    CAST(:types AS text[]), CAST(:tags AS jsonb[]), CAST(:sources AS text[]),
                                    CAST(:created AS timestamptz[]))
                             AS e (memory_id, owner_id, embedding, type, tags, source, created_at)
                        JOIN memories AS m ON m.id = e.memory_id AND m.owner_id = e.owner_id
                        ON CONFLICT (memory_id) DO UPDATE SET
                            owner_id = EXCLUDED.owner_id, model = EXCLUDED.model, embedding = EXCLUDED.embedding,
                            type = EXCLUDED.type, tags = EXCLUDED.tags, source = EXCLUDED.source,
                            created_at = EXCLUDED.created_at"""), parameters)  # noqa: S608 - the table name is ours

    def _upsert_parameters(self, batch: Sequence[VectorEntry]) -> dict[str, Any]:
        return {
            "model": self._model,
            "ids": [entry.memory_id for entry in batch],
            "owners": [entry.owner_id for entry in batch],
            "embeddings": [vector_literal(entry.vector, self._dimensions) for entry in batch],
            "types": [entry.type.value for entry in batch],
            "tags": [json.dumps(list(entry.tags)) for entry in batch],
            "sources": [entry.source.value for entry in batch],
            "created": [entry.created_at for entry in batch],
        }

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        literal = vector_literal(vector, self._dimensions)
        if limit < 1:
            return []
        where, parameters = self._where(owner_id, filters)
        parameters |= {"q": literal, "limit": limit}
        await self._ensure_table()
        with _reachable():
            async with self._engine.begin() as connection:  # one transaction: the set_config(..., true) are local
                rows: Sequence[Any] = []
                owned = await self._owned_rows(connection, owner_id)
                if owned > self._exact_scan_max_rows:
                    rows = await self._nearest_by_index(connection, where, parameters)
                    if len(rows) < limit:
                        _log.debug("pgvector: the HNSW scan found %d of %d; searching the owner exactly",
                                   len(rows), limit)
                if len(rows) < limit:
                    rows = await self._nearest_exactly(connection, where, parameters)
        return [Hit(memory_id=row.memory_id, score=1.0 - row.distance) for row in rows]

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        if not memory_ids:
            return
        await self._ensure_table()
        with _reachable():
            async with self._engine.begin() as connection:
                await connection.execute(
                    text(f"DELETE FROM {self.table} WHERE owner_id = :owner "  # noqa: S608 - the table name is ours
                         "AND memory_id = ANY(CAST(:ids AS uuid[]))"),
                    {"owner": owner_id, "ids": list(memory_ids)})

    def _where(self, owner_id: UUID, filters: SearchFilters) -> tuple[str, dict[str, Any]]:
        clauses = ["owner_id = :owner", "model = :model"]
        parameters: dict[str, Any] = {"owner": owner_id, "model": self._model}
        if filters.type is not None:
            clauses.append("type = :type")
            parameters["type"] = filters.type.value
        if filters.tags:
            clauses.append("tags @> CAST(:tags AS text[])")
            parameters["tags"] = list(filters.tags)
        if filters.source is not None:
            clauses.append("source = :source")
            parameters["source"] = filters.source.value
        if filters.created_after is not None:
            clauses.append("created_at > :created_after")
            parameters["created_after"] = filters.created_after
        if filters.created_before is not None:
            clauses.append("created_at < :created_before")
            parameters["created_before"] = filters.created_before
        return " AND ".join(clauses), parameters

    async def _owned_rows(self, connection: AsyncConnection, owner_id: UUID) -> int:
        """How many vectors the owner has, counted no further than what decides exact or HNSW (the owner index)."""
        counted = await connection.scalar(
            text(f"SELECT count(*) FROM (SELECT 1 FROM {self.table} WHERE owner_id = :owner LIMIT :cap) AS owned"),  # noqa: S608
            {"owner": owner_id, "cap": self._exact_scan_max_rows + 1})
        return int(counted or 0)

    async def _nearest_by_index(self, connection: AsyncConnection, where: str,
                                parameters: Mapping[str, Any]) -> Sequence[Any]:
        ef_search = min(MAX_EF_SEARCH, max(self._ef_search, int(parameters["limit"])))
        # enable_sort off: of the plans for `ORDER BY distance LIMIT k`, only the HNSW index scan needs no sort. Its
        # penalty lifts every plan's cost over jit_above_cost, and JIT would add 100 ms to a 1 ms scan: jit off.
        await connection.execute(text(
            "SELECT set_config('hnsw.ef_search', :ef_search, true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('enable_sort', 'off', true), "
            "set_config('jit', 'off', true)"), {"ef_search": str(ef_search)})
        result = await connection.execute(text(f"""
            WITH nearest AS MATERIALIZED (
                SELECT memory_id, embedding <=> CAST(:q AS {self._type}) AS distance FROM {self.table}
                WHERE {where} ORDER BY distance LIMIT :limit)
            SELECT memory_id, distance FROM nearest ORDER BY distance""").columns(  # noqa: S608 - our clauses
                memory_id=Uuid(), distance=Float()), parameters)
        return result.all()

    async def _nearest_exactly(self, connection: AsyncConnection, where: str,
                               parameters: Mapping[str, Any]) -> Sequence[Any]:
        # OFFSET 0 keeps the subquery apart, so its ordering cannot be handed to the (approximate) HNSW index
        # jit off: compiling takes about 100 ms, more than this scan takes for the owners it is meant for
        await connection.execute(text("SELECT set_config('enable_sort', 'on', true), set_config('jit', 'off', true)"))
        result = await connection.execute(text(f"""
            SELECT memory_id, distance FROM (
                SELECT memory_id, embedding <=> CAST(:q AS {self._type}) AS distance FROM {self.table}
                WHERE {where} OFFSET 0) AS owned
            ORDER BY distance LIMIT :limit""").columns(  # noqa: S608 - our clauses
                memory_id=Uuid(), distance=Float()), parameters)
        return result.all()

    async def _ensure_table(self) -> None:
        if self._ready:
            return
        async with self._setup_lock:
            if self._ready:
                return
            with _reachable():
                async with self._engine.begin() as connection:
                    await self._create_table(connection)
            self._ready = True

    async def _create_table(self, connection: AsyncConnection) -> None:
        """The table and its indexes in one transaction, so other processes see all of them or none.

        An index missing from a table that exists was dropped by hand (to load faster, say): it is named in a
        warning and left to the operator, never built here on a full table, inside a statement timeout.
        """
        table, embedding_index, owner_index = self.table, f"ix_{self.table}_embedding", f"ix_{self.table}_owner_id"
        names = {"table": table, "embedding_index": embedding_index, "owner_index": owner_index}
        indexes = {embedding_index: f"ON {table} USING hnsw (embedding {self._type}_cosine_ops)",
                   owner_index: f"ON {table} (owner_id)"}
        found = (await connection.execute(text(
            "SELECT to_regclass(:table) IS NOT NULL, to_regclass(:embedding_index) IS NOT NULL, "
            "to_regclass(:owner_index) IS NOT NULL"), names)).one()
        if not found[0]:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK_KEY})
            await self._create_extension(connection)
            await connection.execute(text(f"""
                CREATE TABLE IF NOT EXISTS {table} (
                    memory_id uuid NOT NULL,
                    owner_id uuid NOT NULL,
                    model text NOT NULL,
                    embedding {self._type}({self._dimensions}) NOT NULL,
                    type text NOT NULL,
                    tags text[] NOT NULL DEFAULT '{{}}',
                    source text NOT NULL,
                    created_at timestamptz NOT NULL,
                    CONSTRAINT pk_{table} PRIMARY KEY (memory_id),
                    CONSTRAINT fk_{table}_memory_id_memories FOREIGN KEY (memory_id)
                        REFERENCES memories (id) ON DELETE CASCADE)"""))
            for name, definition in indexes.items():  # on the empty table just made (or a racer made): instant
                await connection.execute(text(f"CREATE INDEX IF NOT EXISTS {name} {definition}"))
        else:
            for (name, definition), present in zip(indexes.items(), found[1:], strict=True):
                if not present:
                    _log.warning("pgvector: %s has no index %s, so searches scan rows instead; build it with "
                                 "CREATE INDEX CONCURRENTLY %s %s", table, name, name, definition)
        version = await connection.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        if not recent_enough(str(version)):
            raise VectorIndexUnavailable(
                f"pgvector {version} is too old: Memo needs {'.'.join(map(str, MIN_VERSION))} or later; "
                f"{INSTALL_HINT}, then run ALTER EXTENSION vector UPDATE in Memo's database")
        held = await connection.scalar(text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(:table) AND attname = 'embedding' AND NOT attisdropped"), names)
        if held != f"{self._type}({self._dimensions})":
            raise VectorIndexUnavailable(
                f"{table}.embedding holds {held}, not the embedder's {self._type}({self._dimensions}): "
                f"drop or rename {table}, then reindex (memo reindex)")

    async def _create_extension(self, connection: AsyncConnection) -> None:
        if await connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")):
            return
        if not await connection.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")):
            raise VectorIndexUnavailable(f"pgvector is not installed on this PostgreSQL server: {INSTALL_HINT}")
        try:
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
                raise VectorIndexUnavailable(
                    "Memo's database role may not create the pgvector extension: have a superuser run "
                    "CREATE EXTENSION vector in this database (see docs/operations.md)") from exc
            raise
