"""The rules of a memory, pinned at their boundaries."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from memo.adapters.system import TEST_NOW
from memo.domain.errors import ValidationFailed
from memo.domain.memory import MAX_METADATA_BYTES, Memory, MemoryType, distinct_tags


def make(**changes: object) -> Memory:
    values: dict[str, object] = {"id": uuid4(), "owner_id": uuid4(), "content": "hello", "type": MemoryType.NOTE,
                                 "now": TEST_NOW}
    values.update(changes)
    return Memory.create(**values)  # type: ignore[arg-type]


def fields_of(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [problem.field for problem in error.value.problems]


def test_content_is_trimmed() -> None:
    assert make(content="  buy milk \n").content == "buy milk"


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
def test_blank_content_is_refused(content: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        make(content=content)
    assert fields_of(error) == ["content"]


def test_content_of_exactly_ten_thousand_chars_after_trimming_is_kept() -> None:
    assert len(make(content="  " + "x" * 10_000 + "  ").content) == 10_000


def test_content_one_char_over_the_limit_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        make(content="x" * 10_001)


def test_tags_are_lower_cased_trimmed_and_deduplicated_in_first_seen_order() -> None:
    assert make(tags=["Home", " work ", "HOME", "work"]).tags == ("home", "work")


def test_a_tags_filter_asks_for_tags_in_the_form_they_are_stored_in() -> None:
    spelled = ["Home", " work ", "", "  ", "HOME", "Ünïcode\t"]
    assert distinct_tags(spelled) == ("home", "work", "ünïcode")
    assert distinct_tags(spelled) == make(tags=[tag for tag in spelled if tag.strip()]).tags


def test_ten_distinct_tags_are_kept_and_eleven_refused() -> None:
    assert len(make(tags=[f"t{i}" for i in range(10)]).tags) == 10
    with pytest.raises(ValidationFailed) as error:
        make(tags=[f"t{i}" for i in range(11)])
    assert fields_of(error) == ["tags"]


def test_duplicates_do_not_count_against_the_tag_limit() -> None:
    assert make(tags=["a"] * 20 + [f"t{i}" for i in range(9)]).tags[0] == "a"


def test_tag_of_fifty_chars_is_kept_and_fifty_one_refused() -> None:
    assert make(tags=["x" * 50]).tags == ("x" * 50,)
    with pytest.raises(ValidationFailed) as error:
        make(tags=["ok", "x" * 51])
    assert fields_of(error) == ["tags[1]"]


def test_empty_tag_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        make(tags=["  "])


def test_metadata_at_the_size_limit_is_kept_and_one_byte_more_refused() -> None:
    overhead = len('{"k":""}')
    assert make(metadata={"k": "x" * (MAX_METADATA_BYTES - overhead)}).metadata
    with pytest.raises(ValidationFailed) as error:
        make(metadata={"k": "x" * (MAX_METADATA_BYTES - overhead + 1)})
    assert fields_of(error) == ["metadata"]


def test_metadata_size_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(ValidationFailed):
        make(metadata={"k": "é" * (MAX_METADATA_BYTES // 2)})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as error:
        make(content="", tags=[""], metadata={"k": "x" * MAX_METADATA_BYTES})
    assert fields_of(error) == ["content", "tags[0]", "metadata"]


def test_new_memory_starts_at_version_one_with_equal_timestamps() -> None:
    memory = make()
    assert memory.version == 1
    assert memory.created_at == memory.updated_at == TEST_NOW


def test_revise_bumps_version_and_touches_updated_at_only() -> None:
    later = TEST_NOW + timedelta(minutes=5)
    revised = make().revise(content="changed", now=later)
    assert (revised.version, revised.content, revised.updated_at, revised.created_at) == (2, "changed", later, TEST_NOW)


def test_revise_merges_metadata_key_by_key() -> None:
    revised = make(metadata={"a": 1, "b": 2}).revise(metadata={"b": 3, "c": 4}, now=TEST_NOW)
    assert revised.metadata == {"a": 1, "b": 3, "c": 4}


def test_revise_keeps_what_it_is_not_given() -> None:
    original = make(tags=["x"], metadata={"a": 1}, type=MemoryType.REMINDER)
    revised = original.revise(content="new", now=TEST_NOW)
    assert (revised.tags, revised.metadata, revised.type) == (("x",), {"a": 1}, MemoryType.REMINDER)


def test_revise_applies_the_same_rules_as_create() -> None:
    with pytest.raises(ValidationFailed):
        make().revise(content="  ", now=TEST_NOW)


def test_merged_metadata_over_the_limit_is_refused() -> None:
    half = "x" * (MAX_METADATA_BYTES // 2)
    with pytest.raises(ValidationFailed):
        make(metadata={"a": half}).revise(metadata={"b": half}, now=TEST_NOW)


def test_updated_at_never_moves_backwards() -> None:
    memory = make()
    assert memory.revise(content="x", now=TEST_NOW - timedelta(seconds=1)).updated_at == TEST_NOW


@pytest.mark.parametrize(("changes", "field"), [
    ({"content": "a\x00b"}, "content"),
    ({"content": "half a pair \ud800"}, "content"),
    ({"tags": ["ok", "nul\x00"]}, "tags[1]"),
    ({"metadata": {"k": "a\x00"}}, "metadata"),
    ({"metadata": {"a\x00": 1}}, "metadata"),
    ({"metadata": {"deep": [{"x": "\udfff"}]}}, "metadata"),
])
def test_text_no_store_can_keep_is_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        make(**changes)
    assert fields_of(error) == [field]


def test_metadata_may_nest_32_deep_and_no_deeper() -> None:
    def nested(depth: int) -> dict[str, object]:
        value: object = "leaf"
        for _ in range(depth - 1):
            value = [value]
        return {"k": value}

    assert make(metadata=nested(32)).metadata
    with pytest.raises(ValidationFailed) as error:
        make(metadata=nested(33))
    assert fields_of(error) == ["metadata"]
