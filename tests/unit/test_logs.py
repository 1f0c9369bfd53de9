"""Log lines as `memo serve` and `memo worker` write them: one JSON object a line, whoever logs."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import structlog

from memo.entrypoints.logs import (
    access_logger,
    configure_logging,
    json_formatter,
    logging_for_command,
    restored_logging,
)
from memo.entrypoints.settings import Settings

OWNER = UUID("0192a0c4-0000-7000-8000-000000000001")


@pytest.fixture
def configured() -> Iterator[None]:
    """The test configures logging as the server does; whatever it changed is put back afterwards."""
    with restored_logging():
        yield


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log file, each parsed as one JSON object (a line that is not fails the test)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def log_to(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "memo.log"
    configure_logging(Settings.for_tests(log_file=path, **changes))
    return path


def format_one(record: logging.LogRecord) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(json_formatter().format(record))
    return parsed


def record(name: str, message: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_object_with_its_extra_fields_at_top_level() -> None:
    line = format_one(record("memo.audit", "security event", level=logging.WARNING, reason="BAD_SIGNATURE",
                             key_id="mk_1", owner=OWNER))

    assert line["level"] == "warning"
    assert line["logger"] == "memo.audit"
    assert line["message"] == "security event"
    assert (line["reason"], line["key_id"], line["owner"]) == ("BAD_SIGNATURE", "mk_1", str(OWNER))
    assert line["time"].endswith("Z")
    assert list(line)[:4] == ["time", "level", "logger", "message"]


def test_a_message_with_arguments_is_rendered_and_uvicorns_ansi_copy_is_left_out() -> None:
    line = format_one(record("uvicorn.error", "Started server process [%d]", 4242,
                             color_message="Started server process [\x1b[36m%d\x1b[0m]"))

    assert line["message"] == "Started server process [4242]"
    assert "color_message" not in line


def test_an_exception_is_rendered_into_the_line_as_its_traceback() -> None:
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        failed = logging.LogRecord("memo.http", logging.ERROR, __file__, 1, "fault outside any route", (),
                                   exc_info=sys.exc_info())

    line = format_one(failed)

    assert line["message"] == "fault outside any route"
    assert "ZeroDivisionError: division by zero" in line["exception"]


def test_a_value_json_cannot_hold_is_written_as_its_text() -> None:
    line = format_one(record("memo", "odd", where=Path("/srv/memo"), pair=frozenset({"a"})))

    assert line["where"] == "/srv/memo"
    assert line["pair"] == ["a"]


@pytest.mark.usefixtures("configured")
def test_every_line_goes_to_log_file_as_json_memos_and_libraries_alike(tmp_path: Path) -> None:
    logging.captureWarnings(capture=False)  # as in a fresh process: an earlier test may have left capture half on
    path = log_to(tmp_path)

    logging.getLogger("memo.serve").info("started worker %d", 7)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s://%s:%d", "http", "127.0.0.1", 8000)
    structlog.get_logger("memo.native").info("bound %s", "event", answer=42)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)

    found = {line["logger"]: line for line in lines(path)}
    assert found["memo.serve"]["message"] == "started worker 7"
    assert found["uvicorn.error"]["message"] == "Uvicorn running on http://127.0.0.1:8000"
    assert (found["memo.native"]["message"], found["memo.native"]["answer"]) == ("bound event", 42)
    assert "a deprecated call" in found["py.warnings"]["message"]


@pytest.mark.usefixtures("configured")
def test_without_log_file_lines_go_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings.for_tests())

    logging.getLogger("memo").warning("to stdout")

    captured = capsys.readouterr()
    assert [json.loads(line)["message"] for line in captured.out.splitlines()] == ["to stdout"]
    assert captured.err == ""


@pytest.mark.usefixtures("configured")
def test_a_field_bound_in_context_joins_every_line_until_unbound(tmp_path: Path) -> None:
    path = log_to(tmp_path)

    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        logging.getLogger("memo.audit").warning("security event", extra={"reason": "BAD_SIGNATURE"})
    logging.getLogger("memo").warning("after the request")

    inside, after = lines(path)
    assert inside["request_id"] == "req-1"
    assert "request_id" not in after


@pytest.mark.usefixtures("configured")
def test_libraries_that_log_payloads_stay_at_warning_even_at_debug(tmp_path: Path) -> None:
    path = log_to(tmp_path, log_level="debug")

    for name in ("openai._base_client", "httpx", "httpcore.http11", "httpx2", "httpcore2.http11", "pinecone",
                 "urllib3.connectionpool"):
        logging.getLogger(name).debug("Request options: {'json_data': {'input': ['a private memory']}}")
    logging.getLogger("memo.worker").debug("a debug line of memo's own")

    assert [line["logger"] for line in lines(path)] == ["memo.worker"]


@pytest.mark.parametrize("to_stdout", [False, True])
@pytest.mark.usefixtures("configured")
def test_an_access_line_goes_where_every_other_line_goes_as_json_of_the_same_shape(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], *, to_stdout: bool) -> None:
    path = tmp_path / "memo.log"
    configure_logging(Settings.for_tests(log_file=None if to_stdout else path))
    access = access_logger()
    assert access is not None

    logging.getLogger("memo.audit").warning("security event", extra={"request_id": "req-1"})
    access.info("request", request_id="req-1", status=201, owner_id=str(OWNER))

    written = capsys.readouterr().out if to_stdout else path.read_text(encoding="utf-8")
    audit, line = (json.loads(text) for text in written.splitlines())
    assert {key: line[key] for key in ("level", "logger", "message", "request_id", "status", "owner_id")} == {
        "level": "info", "logger": "memo.access", "message": "request", "request_id": "req-1", "status": 201,
        "owner_id": str(OWNER)}
    assert line["time"].endswith("Z")
    assert set(audit) >= {"time", "level", "logger", "message", "request_id"}


@pytest.mark.usefixtures("configured")
def test_the_audit_stream_and_access_lines_are_written_whatever_log_level_holds_back(tmp_path: Path) -> None:
    path = log_to(tmp_path, log_level="error")
    access = access_logger()
    assert access is not None

    logging.getLogger("memo.audit").warning("security event")
    access.info("request")
    logging.getLogger("memo").warning("held back")

    assert [line["logger"] for line in lines(path)] == ["memo.audit", "memo.access"]


@pytest.mark.usefixtures("configured")
def test_memo_access_log_false_leaves_no_access_logger_and_the_audit_stream_on(tmp_path: Path) -> None:
    path = log_to(tmp_path, access_log=False)

    logging.getLogger("memo.audit").warning("security event")

    assert access_logger() is None
    assert [line["logger"] for line in lines(path)] == ["memo.audit"]


@pytest.mark.usefixtures("configured")
def test_configuring_again_closes_the_previous_file_and_writes_only_the_new_one(tmp_path: Path) -> None:
    first = log_to(tmp_path)
    [handler] = logging.getLogger().handlers
    second = tmp_path / "again.log"
    configure_logging(Settings.for_tests(log_file=second))

    logging.getLogger("memo").warning("once")

    assert handler.stream is None  # type: ignore[attr-defined] # closed
    assert first.read_text() == ""
    assert [line["message"] for line in lines(second)] == ["once"]


def test_restored_logging_puts_back_the_handlers_and_levels_it_found(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level, access_logger(), structlog.is_configured())

    with restored_logging():
        log_to(tmp_path, log_level="debug")
        [handler] = root.handlers

    assert (list(root.handlers), root.level, access_logger(), structlog.is_configured()) == before
    assert handler.stream is None  # type: ignore[attr-defined] # closed


def test_a_command_logs_to_the_process_stderr_not_into_its_output_and_keeps_only_warnings(
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    caught_by_a_runner = io.StringIO()
    monkeypatch.setattr("sys.stderr", caught_by_a_runner)  # as click's CliRunner does

    with logging_for_command(Settings.for_tests(log_level="debug")):
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("memo.audit").warning("security event", extra={"reason": "API_KEY_ISSUED"})

    assert caught_by_a_runner.getvalue() == ""
    captured = capfd.readouterr()
    assert [json.loads(line)["reason"] for line in captured.err.splitlines()] == ["API_KEY_ISSUED"]
    assert captured.out == ""
