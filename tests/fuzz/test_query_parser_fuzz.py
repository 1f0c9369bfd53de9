"""The memory list's query parser under any input: a MemoryQuery within its limits, or ValidationFailed naming only
wire fields; never another exception, and through the app never anything but 200 or 400 VALIDATION_ERROR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memo.application.dto import MemoryQuery, SortField, SortOrder
from memo.domain.errors import ValidationFailed
from memo.domain.memory import MemoryType
from memo.entrypoints.http.queries import MAX_LIMIT, MAX_OFFSET, MAX_SEARCH_CHARS, parse_instant, parse_memory_query
from tests.e2e.conftest import Signer

FIELDS = ("search", "type", "tags", "createdAfter", "createdBefore", "limit", "offset", "sortBy", "sortOrder")

# Any text, lone surrogates included: undecodable query bytes reach the parser that way.
chars = st.one_of(st.characters(exclude_categories=()),
                  st.sampled_from(["\x00", "\udcff", "\u0660", "\uff11", "\u00b2", "-", "+", " ", ",", "T", "Z"]))
any_text = st.lists(chars, max_size=40).map("".join)
numbers = st.one_of(st.integers(-(10**25), 10**25).map(str), st.integers(-5, 200).map(str),
                    st.text("0123456789", min_size=1, max_size=5000))  # past Python's 4300-digit int() limit
# any time, and times within a day of the calendar's ends, where an offset pushes them past it
moments = st.one_of(st.datetimes(), st.datetimes(max_value=datetime(1, 1, 2)),  # noqa: DTZ001 - naive, zoned below
                    st.datetimes(min_value=datetime(9999, 12, 30)))  # noqa: DTZ001
instants = st.builds(lambda moment, offset_min: moment.replace(tzinfo=timezone(timedelta(minutes=offset_min))),
                     moments, st.integers(-23 * 60 - 59, 23 * 60 + 59))
values = st.one_of(any_text, numbers, instants.map(datetime.isoformat), st.datetimes().map(datetime.isoformat),
                   st.sampled_from([*(kind.value for kind in MemoryType), "createdAt", "updatedAt", "asc", "desc"]))
queries = st.dictionaries(st.one_of(st.sampled_from(FIELDS), any_text), values, max_size=12)


def holds_its_limits(query: MemoryQuery) -> None:
    assert 1 <= query.limit <= MAX_LIMIT
    assert 0 <= query.offset <= MAX_OFFSET
    assert query.search is None or 0 < len(query.search) <= MAX_SEARCH_CHARS
    assert all(tag and tag == tag.strip().lower() for tag in query.tags)
    assert len(set(query.tags)) == len(query.tags)
    for moment in (query.created_after, query.created_before):
        assert moment is None or moment.utcoffset() == timedelta(0)
    assert isinstance(query.sort_by, SortField)
    assert isinstance(query.sort_order, SortOrder)


@given(params=queries)
def test_any_query_parses_within_its_limits_or_names_only_wire_fields(params: dict[str, str]) -> None:
    try:
        query = parse_memory_query(params)
    except ValidationFailed as refused:
        problems = refused.problems
    else:
        holds_its_limits(query)
        return
    assert problems
    assert {problem.field for problem in problems} <= set(FIELDS)
    assert all(problem.message for problem in problems)


@given(limit=st.integers(1, MAX_LIMIT), offset=st.integers(0, MAX_OFFSET), after=instants,
       kind=st.sampled_from(MemoryType), by=st.sampled_from(SortField), order=st.sampled_from(SortOrder),
       tags=st.lists(st.text("abcXYZ ", min_size=1, max_size=8), max_size=4))
def test_every_documented_value_parses_to_what_it_says(*, limit: int, offset: int, after: datetime, kind: MemoryType,
                                                       by: SortField, order: SortOrder, tags: list[str]) -> None:
    try:
        expected_after = after.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset: refused, checked below
        expected_after = None
    params = {"limit": str(limit), "offset": str(offset), "createdAfter": after.isoformat(), "type": kind.value,
              "sortBy": by.value, "sortOrder": order.value, "tags": ",".join(tags)}
    if expected_after is None:
        with pytest.raises(ValidationFailed) as refused:
            parse_memory_query(params)
        assert [problem.field for problem in refused.value.problems] == ["createdAfter"]
        return
    query = parse_memory_query(params)
    assert (query.limit, query.offset, query.created_after, query.type, query.sort_by, query.sort_order) == (
        limit, offset, expected_after, kind, by, order)
    assert set(query.tags) == {tag.strip().lower() for tag in tags if tag.strip()}


@given(raw=st.one_of(any_text, instants.map(datetime.isoformat), st.datetimes().map(datetime.isoformat)))
def test_an_instant_is_an_aware_utc_time_or_a_value_error(raw: str) -> None:
    try:
        moment = parse_instant(raw)
    except ValueError:
        return
    assert moment.tzinfo is UTC


safe_text = st.lists(st.one_of(chars, st.sampled_from(list(FIELDS))), max_size=30).map(
    lambda parts: quote("".join(parts).encode("utf-8", "surrogatepass"), safe=""))
raw_queries = st.lists(st.tuples(st.one_of(st.sampled_from(FIELDS), safe_text), st.one_of(safe_text, values.map(
    lambda value: quote(value.encode("utf-8", "surrogatepass"), safe="")))), max_size=6).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs))


@given(query=raw_queries)
async def test_any_list_query_through_the_app_is_200_or_400_validation_error(alice: Signer, query: str) -> None:
    answer = await alice.get(f"/api/memories?{query}" if query else "/api/memories")
    assert answer.status_code in {200, 400}, (query, answer.text)
    body = answer.json()
    if answer.status_code == 400:
        assert (body["success"], body["code"]) == (False, "VALIDATION_ERROR")
        assert all(set(problem) == {"field", "message"} for problem in body["details"])
    else:
        assert body["success"] is True
