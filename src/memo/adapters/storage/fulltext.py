"""Keyword search on the SQL stores: the parsed query (memo.domain.search) rendered for each engine.

The user's text never reaches an engine's own query parser. `parse_search` turns it into phrases of normalised
words (letters, marks and digits only), and this module writes each phrase as a double-quoted string in a
syntax built here, so no text typed by a user can be an operator, a column filter or a syntax error.

- PostgreSQL: `memories.content_tsv @@ websearch_to_tsquery('simple', :text)`, where `content_tsv` is the
  generated `to_tsvector('simple', ...)` column of migration 0002 (GIN-indexed) and `:text` is the query
  re-written in websearch syntax: `"w1 w2" "w3" or -"w4"`. One bound parameter, so the statement text is the
  same for every search and asyncpg's prepared statement is reused.
- SQLite: the FTS5 table `memories_fts`, kept in step with `memories` by triggers, queried with
  `MATCH '("w1 w2" AND "w3") OR ...'`; its rows are keyed by `memory_rowids`, a stable integer per memory (an
  implicit rowid could be renumbered by VACUUM). FTS5 has no unary NOT, so a clause made only of exclusions
  becomes `id NOT IN (memories matching any excluded phrase)`.
"""

from __future__ import annotations

from advanced_alchemy.types import GUID
from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Integer,
    Select,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from memo.adapters.storage.orm import MemoryRow
from memo.domain.search import Clause, Phrase, SearchQuery, parse_search

FTS_TABLE = "memories_fts"
ROWID_TABLE = "memory_rowids"

_FTS = table(FTS_TABLE, column("rowid", Integer))
_ROWIDS = table(ROWID_TABLE, column("rowid", Integer), column("memory_id", GUID()))
_CONTENT_TSV = literal_column("memories.content_tsv", TSVECTOR)
_SIMPLE: ColumnClause[str] = literal_column("'simple'::regconfig")


def search_filter(dialect: str, text: str) -> ColumnElement[bool]:
    query = parse_search(text)
    if query.matches_nothing:
        return false()
    if dialect == "postgresql":
        return _CONTENT_TSV.bool_op("@@")(func.websearch_to_tsquery(_SIMPLE, websearch_text(query)))
    return _sqlite_filter(query)


def websearch_text(query: SearchQuery) -> str:
    """The query in `websearch_to_tsquery` syntax, every phrase quoted: AND by juxtaposition, `or`, `-`."""
    return " or ".join(" ".join(_websearch_phrase(phrase) for phrase in clause.phrases) for clause in query.clauses)


def fts5_expression(clauses: tuple[Clause, ...]) -> str:
    """An FTS5 MATCH expression for clauses that each include at least one phrase."""
    return " OR ".join(f"({_fts5_clause(clause)})" for clause in clauses)


def _websearch_phrase(phrase: Phrase) -> str:
    # words hold only letters, marks and digits, so they never contain a quote; websearch has no escape for one
    return ("-" if phrase.excluded else "") + '"' + " ".join(phrase.words) + '"'


def _fts5_phrase(phrase: Phrase) -> str:
    return '"' + " ".join(phrase.words).replace('"', '""') + '"'


def _fts5_any(phrases: tuple[Phrase, ...]) -> str:
    return " OR ".join(_fts5_phrase(phrase) for phrase in phrases)


def _fts5_clause(clause: Clause) -> str:
    included = " AND ".join(_fts5_phrase(phrase) for phrase in clause.included)
    if not clause.excluded:
        return included
    return f"({included}) NOT ({_fts5_any(clause.excluded)})"


def _sqlite_filter(query: SearchQuery) -> ColumnElement[bool]:
    with_inclusions = tuple(clause for clause in query.clauses if clause.included)
    conditions = [MemoryRow.id.not_in(_matching_ids(_fts5_any(clause.excluded)))
                  for clause in query.clauses if not clause.included]
    if with_inclusions:
        conditions.insert(0, MemoryRow.id.in_(_matching_ids(fts5_expression(with_inclusions))))
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


def _matching_ids(expression: str) -> Select[tuple[object]]:
    rows = select(_FTS.c.rowid).where(literal_column(FTS_TABLE).match(expression))
    return select(_ROWIDS.c.memory_id).where(_ROWIDS.c.rowid.in_(rows))
