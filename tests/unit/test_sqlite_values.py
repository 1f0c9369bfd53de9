"""The driver paths' shortcuts give the very values SQLAlchemy's own processing of the column gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import JSON, TypeEngine

from memo.adapters.storage.orm import JsonDocument
from memo.adapters.storage.sqlite_values import bind_processor, result_processor

DIALECT = sqlite.dialect()


def general_result(column_type: TypeEngine[Any], value: object) -> object:
    process = column_type.dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert process is not None
    return process(value)


@pytest.mark.parametrize("text", [
    "{}", "[]", '["errands", "health"]', '{"n": 3, "nested": {"ok": true}, "x": [1.5e-320, -0.0, null]}',
    '{"a": 1, "a": 2}', "123456789012345678901234567890", '"\\ud800"', "NaN", '{"big": 1e400}', '"é"'])
def test_a_json_document_reads_as_json_loads_reads_it(text: str) -> None:
    for column_type in (JSON(), JsonDocument):
        process = result_processor(column_type, DIALECT)
        assert process is not None
        read, expected = process(text), general_result(column_type, text)
        assert repr(read) == repr(expected)  # repr: NaN is not equal to itself, and -0.0 equals 0.0
        assert type(read) is type(expected)


@pytest.mark.parametrize("text", ["2026-11-28 09:53:13.123456", "0999-01-03 04:30:00.000007", "2026-11-28 09:53:13"])
def test_a_stored_time_reads_as_the_same_utc_time(text: str) -> None:
    process = result_processor(DateTimeUTC(timezone=True), DIALECT)
    assert process is not None
    read, expected = process(text), general_result(DateTimeUTC(timezone=True), text)
    assert read == expected
    assert isinstance(read, datetime)
    assert read.tzinfo is UTC


def test_a_uuid_reads_from_its_sixteen_bytes_and_binds_to_them() -> None:
    value = UUID("01930000-0000-7000-8000-0000000000aa")
    read, bind = result_processor(GUID(), DIALECT), bind_processor(GUID(), DIALECT)
    assert read is not None
    assert bind is not None
    assert bind(value) == value.bytes
    assert read(value.bytes) == value == general_result(GUID(), value.bytes)
    assert type(read(value.bytes)) is UUID


def test_a_zoned_time_binds_as_sqlites_text_of_it_in_utc() -> None:
    bind = bind_processor(DateTimeUTC(timezone=True), DIALECT)
    assert bind is not None
    zoned = datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert bind(zoned) == "2026-03-28 23:59:59.999999"
