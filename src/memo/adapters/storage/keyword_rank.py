"""Keyword ranking on the SQL stores: BM25 over any of a question's words (memo.domain.ranking), in one statement.

Both engines read the full-text indexes of migration 0002 (see fulltext.py), which cut and fold words as the
domain does; the words come from `query_words`, so they hold only letters, marks and digits and are quoted into
each engine's syntax without any escaping to get wrong. Filters and the owner are conditions of the same
statement, so a filter never empties a truncated top-k.

SQLite: FTS5's own `bm25()` (k1 1.2, b 0.75, the domain's IDF), `memories_fts MATCH '"w1" OR "w2"'` joined
through `memory_rowids` to `memories`. Two departures from the domain, both of the shared contentless table:
- IDF is over every owner's memories, not the caller's. It leaks nothing (a score says nothing a caller can
  read about another owner, and only the caller's memories come back), but another owner's words move one's
  scores, so scores compare only within a single answer.
- Migration 0002 made the table with `columnsize=0`, so FTS5 keeps no length per document and bm25() sees every
  document as -1 words long: there is no length normalisation (measured: the scores fit |D| = -1 exactly).
  Equal BM25 scores, which that makes common, are ordered by the shorter content first, which orders the plain
  cases as length normalisation would (the same single match in a short and a long memory). Rebuilding the
  table without `columnsize=0` (a migration) would give FTS5 real lengths.

PostgreSQL: BM25 computed in SQL, exactly as the domain does, over `content_tsv` (GIN-indexed):
- candidates: the owner's memories with `content_tsv @@ to_tsquery('simple', $$'w1' | 'w2'$$)`, materialised
  once; N is the owner's count (an index-only scan) and each word's document frequency is counted over the
  candidates, so IDF is the owner's own;
- tf of each word present is `ts_rank_cd('{1,1,1,1}', content_tsv, 'w')`: with unit weights, cover density adds
  exactly 1 per occurrence of a one-word query (a tsvector keeps at most 256 positions per word, far past where
  BM25 saturates). A memory's length is its number of positions (its words, as the domain counts them), read as
  tf over the same call with normalization 2, which divides by that number, for the first word it holds: about
  half the cost of unnesting the tsvector;
- avgdl is estimated from the owner's `LENGTH_SAMPLE` most recent memories (exact below that): the exact mean
  reads every one of the owner's tsvectors (about 65 ms at 100,000 memories), the sample about 2 ms.
So up to `LENGTH_SAMPLE` memories the scores are the domain's to rounding (the contract suite checks it).

Cost (this 2-core machine, shared with other test runs, p50): a question's words in 840 of 100,000 memories of
one owner: 9-21 ms on PostgreSQL (about half of it counting N), 3-8 ms on SQLite; at 10,000 memories, 3 ms and
under 1 ms. Beyond that it grows with the candidates, about 3 us each on PostgreSQL and 1.5 us on SQLite (3 words
in 17,000 memories: 30-100 ms): the reason for memo.domain.ranking's stop words. Statements are built once per
shape (word count, filters present) with everything else bound: building one took longer than running it on
10,000 memories.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    true,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from memo.adapters.storage.fulltext import FTS_TABLE, ROWID_TABLE
from memo.adapters.storage.orm import MemoryRow, MemoryTagRow
from memo.domain.ranking import IDF_FLOOR, K1, B, query_words
from memo.domain.retrieval import Hit, SearchFilters

LENGTH_SAMPLE = 1000
# FTS5's bm25 with no lengths goes negative (and upside down) when the mean memory holds under one word: a found
# memory still scores above 0 there, if in no useful order.
_LEAST_SCORE = 1e-12

_MEMORIES = typing.cast("Table", MemoryRow.__table__)
_FTS = table(FTS_TABLE, column("rowid", Integer))
_ROWIDS = table(ROWID_TABLE, column("rowid", Integer), column("memory_id", GUID()))
_BM25 = func.bm25(literal_column(FTS_TABLE))
_CONTENT_TSV = literal_column("memories.content_tsv", TSVECTOR)
_SIMPLE: ColumnElement[str] = literal_column("'simple'::regconfig")
_UNIT_WEIGHTS: ColumnElement[list[float]] = literal_column("'{1,1,1,1}'::float4[]")
_NORMALISED_BY_LENGTH = 2  # ts_rank_cd's normalization flag: divide by the document's number of positions

_OWNER: BindParameter[UUID] = bindparam("owner", type_=GUID())
_LIMIT: BindParameter[int] = bindparam("limit", type_=Integer)


async def rank(session: AsyncSession, owner_id: UUID, text: str, *, filters: SearchFilters,
               limit: int) -> list[Hit]:
    words = query_words(text)
    if not words or limit <= 0:
        return []
    dialect = session.get_bind().dialect.name
    shape = _Shape.of(len(words), filters)
    statement = _postgres_ranking(shape) if dialect == "postgresql" else _sqlite_ranking(shape)
    rows = await session.execute(statement, _parameters(dialect, owner_id, words, filters, limit))
    return [Hit(memory_id=memory_id, score=float(score)) for memory_id, score in rows]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a statement's text depends on; everything else is a bound parameter, so statements are built, compiled
    and prepared once per shape (building one costs more than running it on a small collection)."""

    words: int
    type: bool
    source: bool
    tags: bool
    after: bool
    before: bool

    @classmethod
    def of(cls, words: int, filters: SearchFilters) -> _Shape:
        return cls(words=words, type=filters.type is not None, source=filters.source is not None,
                   tags=bool(filters.tags), after=filters.created_after is not None,
                   before=filters.created_before is not None)


def _parameters(dialect: str, owner_id: UUID, words: tuple[str, ...], filters: SearchFilters,
                limit: int) -> dict[str, object]:
    # words hold only letters, marks and digits (memo.domain.search): no quote to escape in either syntax
    values: dict[str, object] = {"owner": owner_id, "limit": limit}
    if dialect == "postgresql":
        values["any_word"] = " | ".join(f"'{word}'" for word in words)
        values.update((f"word_{index}", f"'{word}'") for index, word in enumerate(words))
    else:
        values["expression"] = " OR ".join(f'"{word}"' for word in words)
    if filters.type is not None:
        values["type"] = filters.type.value
    if filters.source is not None:
        values["source"] = filters.source.value
    if filters.tags:
        tags = list(dict.fromkeys(filters.tags))
        values.update(tags=tags, tag_count=len(tags))
    if filters.created_after is not None:
        values["created_after"] = filters.created_after
    if filters.created_before is not None:
        values["created_before"] = filters.created_before
    return values


def _filter_conditions(shape: _Shape,
                       memories: ReadOnlyColumnCollection[str, ColumnElement[Any]]) -> list[ColumnElement[bool]]:
    """SearchFilters.admits as SQL over `memories`' columns: tags all-of through `memory_tags`, as the list query
    does, dates strict."""
    conditions: list[ColumnElement[bool]] = []
    if shape.type:
        conditions.append(memories["type"] == bindparam("type", type_=String))
    if shape.source:
        conditions.append(memories["source"] == bindparam("source", type_=String))
    if shape.tags:
        conditions.append(memories["id"].in_(
            select(MemoryTagRow.memory_id)
            .where(MemoryTagRow.owner_id == _OWNER, MemoryTagRow.tag.in_(bindparam("tags", expanding=True)))
            .group_by(MemoryTagRow.memory_id)
            .having(func.count() == bindparam("tag_count", type_=Integer))))
    if shape.after:
        conditions.append(memories["created_at"] > bindparam("created_after", type_=MemoryRow.created_at.type))
    if shape.before:
        conditions.append(memories["created_at"] < bindparam("created_before", type_=MemoryRow.created_at.type))
    return conditions


@functools.lru_cache(maxsize=256)
def _sqlite_ranking(shape: _Shape) -> Select[UUID, float]:
    return (
        select(MemoryRow.id, func.max(-_BM25, _float(_LEAST_SCORE)).label("score"))
        .select_from(_FTS)
        .join(_ROWIDS, _ROWIDS.c.rowid == _FTS.c.rowid)
        .join(MemoryRow, MemoryRow.id == _ROWIDS.c.memory_id)
        .where(literal_column(FTS_TABLE).match(bindparam("expression", type_=String)), MemoryRow.owner_id == _OWNER,
               *_filter_conditions(shape, _MEMORIES.c))
        .order_by(_BM25, func.length(MemoryRow.content), MemoryRow.created_at.desc(), MemoryRow.id.desc())
        .limit(_LIMIT))


def _float(value: float) -> ColumnElement[float]:
    return literal(value, Float)


def _once(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    """An uncorrelated scalar subquery: PostgreSQL evaluates it once (to_tsquery is only stable, and would
    otherwise be parsed again for every row)."""
    return select(expression).scalar_subquery()


def _tsquery(name: str) -> ColumnElement[Any]:
    return _once(func.to_tsquery(_SIMPLE, bindparam(name, type_=String)))


@functools.lru_cache(maxsize=256)
def _postgres_ranking(shape: _Shape) -> Select[UUID, float]:
    any_word = _tsquery("any_word")
    each_word = [_tsquery(f"word_{index}") for index in range(shape.words)]
    counted = (
        select(
            MemoryRow.id, MemoryRow.type, MemoryRow.source, MemoryRow.created_at, _CONTENT_TSV.label("tsv"),
            *(case((_CONTENT_TSV.bool_op("@@")(word), cast(func.ts_rank_cd(_UNIT_WEIGHTS, _CONTENT_TSV, word), Float)),
                   else_=_float(0.0)).label(f"tf_{index}")
              for index, word in enumerate(each_word)))
        .where(MemoryRow.owner_id == _OWNER, _CONTENT_TSV.bool_op("@@")(any_word))
        .offset(0)  # a fence: pulled up, each tf expression would be computed again where the length uses it
        .subquery("counted"))
    # the length from the first word present: its tf over its tf normalised by length (one more call, not n)
    length = case(*((counted.c[f"tf_{index}"] > 0,
                     func.round(counted.c[f"tf_{index}"] / cast(func.nullif(cast(func.ts_rank_cd(
                         _UNIT_WEIGHTS, counted.c.tsv, word, _NORMALISED_BY_LENGTH), Float), _float(0.0)), Float)))
                    for index, word in enumerate(each_word)))
    matching = (
        select(counted.c.id, counted.c.type, counted.c.source, counted.c.created_at,
               *(counted.c[f"tf_{index}"] for index in range(shape.words)), length.label("length"))
        .cte("matching")
        .prefix_with("MATERIALIZED"))
    occurrences = [matching.c[f"tf_{index}"] for index in range(shape.words)]

    totals = select(
        cast(select(func.count()).where(MemoryRow.owner_id == _OWNER).scalar_subquery(), Float).label("documents"),
        _sampled_average_length().label("average_length"),
    ).cte("totals").prefix_with("MATERIALIZED")  # else inlined, and the count run once per use
    per_word = select(
        totals.c.average_length,
        *(_idf(totals.c.documents, cast(func.count().filter(tf > 0), Float)).label(f"idf_{index}")
          for index, tf in enumerate(occurrences)),
    ).select_from(matching.join(totals, true())).group_by(totals.c.documents, totals.c.average_length)
    corpus = per_word.cte("corpus").prefix_with("MATERIALIZED")

    saturation = _float(K1) * (_float(1 - B) + _float(B) * matching.c.length / corpus.c.average_length)
    score = sum((case((tf > 0, corpus.c[f"idf_{index}"] * (tf * _float(K1 + 1)) / (tf + saturation)),
                      else_=_float(0.0))
                 for index, tf in enumerate(occurrences)), _float(0.0)).label("score")
    return (
        select(matching.c.id, score)
        .select_from(matching.join(corpus, true()))
        .where(*_filter_conditions(shape, matching.c))
        .order_by(score.desc(), matching.c.created_at.desc(), matching.c.id.desc())
        .limit(_LIMIT))


def _idf(documents: ColumnElement[float], containing: ColumnElement[float]) -> ColumnElement[float]:
    return func.greatest(func.ln((documents - containing + _float(0.5)) / (containing + _float(0.5))),
                         _float(IDF_FLOOR))


def _sampled_average_length() -> ColumnElement[float]:
    """The mean length of the owner's most recent LENGTH_SAMPLE memories, each read as the tf trick above reads
    it, with the memory's first lexeme as the query; a memory without words is 0 long."""
    first_lexeme = func.to_tsquery(_SIMPLE, func.quote_literal(literal_column("(tsvector_to_array(content_tsv))[1]")))
    sample = (select(_CONTENT_TSV.label("tsv"), first_lexeme.label("lexeme"))
              .where(MemoryRow.owner_id == _OWNER)
              .order_by(MemoryRow.created_at.desc())
              .limit(LENGTH_SAMPLE)
              .subquery("sample"))
    occurrences = cast(func.ts_rank_cd(_UNIT_WEIGHTS, sample.c.tsv, sample.c.lexeme), Float)
    density = cast(func.ts_rank_cd(_UNIT_WEIGHTS, sample.c.tsv, sample.c.lexeme, _NORMALISED_BY_LENGTH), Float)
    length = case((func.length(sample.c.tsv) == 0, _float(0.0)),
                  else_=func.round(occurrences / cast(func.nullif(density, _float(0.0)), Float)))
    average = cast(select(func.avg(length)).select_from(sample).scalar_subquery(), Float)
    return func.coalesce(func.nullif(average, _float(0.0)), _float(1.0))  # 0 or none only for an unlucky sample
