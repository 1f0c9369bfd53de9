"""Query-string parsing for the memory list, reporting every bad parameter at once under its wire name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from memo.application.dto import MemoryQuery, SortField, SortOrder
from memo.domain.errors import FieldProblem, ValidationFailed
from memo.domain.memory import MemoryType, distinct_tags

T = TypeVar("T")
MAX_LIMIT = 100
MAX_SEARCH_CHARS = 500
MAX_OFFSET = 2**31 - 1  # every database takes it; a larger one would overflow a driver instead of paging


def parse_instant(raw: str) -> datetime:
    """RFC 3339 with an offset or Z; a time without a zone is refused rather than guessed."""
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise ValueError
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        raise ValueError from None


def parse_whole(low: int, high: int | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.isdigit() and not (raw.startswith("-") and raw[1:].isdigit()):
            raise ValueError
        number = int(raw)
        if number < low or (high is not None and number > high):
            raise ValueError
        return number
    return parse


class _Params:
    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params
        self.problems: list[FieldProblem] = []

    def get(self, name: str, parse: Callable[[str], T], expected: str) -> T | None:
        raw = self._params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(FieldProblem(name, expected))
            return None


def parse_memory_query(params: Mapping[str, str]) -> MemoryQuery:
    read = _Params(params)
    search = params.get("search", "").strip() or None
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        read.problems.append(FieldProblem("search", f"must be at most {MAX_SEARCH_CHARS} characters"))
    kinds = ", ".join(kind.value for kind in MemoryType)
    memory_type = read.get("type", MemoryType, f"must be one of {kinds}")
    tags = distinct_tags(params.get("tags", "").split(","))
    after = read.get("createdAfter", parse_instant, "must be an RFC 3339 time with a zone, like 2026-11-28T09:53:13Z")
    before = read.get("createdBefore", parse_instant, "must be an RFC 3339 time with a zone, like 2026-11-28T09:53:13Z")
    limit = read.get("limit", parse_whole(1, MAX_LIMIT), f"must be a whole number from 1 to {MAX_LIMIT}")
    offset = read.get("offset", parse_whole(0, MAX_OFFSET), f"must be a whole number from 0 to {MAX_OFFSET}")
    sort_by = read.get("sortBy", SortField, "must be createdAt or updatedAt")
    sort_order = read.get("sortOrder", SortOrder, "must be asc or desc")
    if read.problems:
        raise ValidationFailed(read.problems)
    return MemoryQuery(search=search, type=memory_type, tags=tags, created_after=after, created_before=before,
                       limit=limit or 20, offset=offset or 0, sort_by=sort_by or SortField.CREATED_AT,
                       sort_order=sort_order or SortOrder.DESC)
