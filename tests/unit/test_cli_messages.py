"""The command line's error table: every code the server can answer has its sentence, and each family its exit."""

from __future__ import annotations

import pytest

from memo.client import (
    AuthError,
    Conflict,
    FieldError,
    MemoError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from memo.client.errors import family_of
from memo.entrypoints.client_cli.messages import MESSAGES, exit_code, one_line
from memo.entrypoints.http.errors import FRAMEWORK_CODES
from memo.entrypoints.http.openapi import CATALOG

SERVER_CODES = sorted({*CATALOG, *(code for code, _ in FRAMEWORK_CODES.values()), "CLIENT_ERROR"})


@pytest.mark.parametrize("code", SERVER_CODES)
def test_every_code_the_server_answers_has_a_sentence_and_a_next_step(code: str) -> None:
    sentence, advice = MESSAGES[code]
    assert sentence
    assert advice
    assert not sentence.endswith(".")  # the line goes on with the code and the advice


@pytest.mark.parametrize("code", SERVER_CODES)
def test_the_line_for_each_server_code_is_one_line_naming_the_code(code: str) -> None:
    status = CATALOG[code].status if code in CATALOG else 400
    line = one_line(family_of(status)("Server sentence.\nsecond line", code=code, status=status,
                                      details="detail\nacross lines"))
    assert line.startswith(f"memo: {MESSAGES[code][0]} ({code})")
    assert "\n" not in line


def test_the_table_holds_no_code_the_server_does_not_have() -> None:
    assert set(MESSAGES) - set(SERVER_CODES) == {"TRANSPORT_ERROR"}


@pytest.mark.parametrize(("error", "expected"), [
    (AuthError("x", code="UNKNOWN_KEY", status=401), 3),
    (ValidationError("x", code="VALIDATION_ERROR", status=400), 4),
    (NotFound("x", code="MEMORY_NOT_FOUND", status=404), 5),
    (Conflict("x", code="VERSION_CONFLICT", status=412), 6),
    (RateLimited("x", code="RATE_LIMIT_EXCEEDED", status=429), 7),
    (ServerError("x", code="INTERNAL_ERROR", status=500), 8),
    (TransportError("x", code="TRANSPORT_ERROR"), 8),
    (MemoError("x", code="REQUEST_TIMEOUT", status=408), 1),
])
def test_each_family_has_its_exit_code(error: MemoError, expected: int) -> None:
    assert exit_code(error) == expected


def test_the_unknown_key_line_says_what_to_check() -> None:
    line = one_line(AuthError("No active API key has this id.", code="UNKNOWN_KEY", status=401))
    assert line == "memo: the key was refused (UNKNOWN_KEY): check MEMO_KEY_ID or run memo login"


def test_a_validation_line_names_each_bad_field() -> None:
    refused = ValidationError("The request is invalid.", code="VALIDATION_ERROR", status=400, details=[
        FieldError("content", "must not be empty"), FieldError("tags[3]", "at most 50 characters")])
    assert one_line(refused) == ("memo: the request was refused as invalid (VALIDATION_ERROR): content: must not be "
                                 "empty; tags[3]: at most 50 characters; fix the values named")


def test_a_rate_limited_line_gives_the_wait_and_a_server_error_its_request_id() -> None:
    limited = one_line(RateLimited("Too many.", code="RATE_LIMIT_EXCEEDED", status=429, retry_after=12.0))
    assert "retry in 12 s" in limited
    failed = one_line(ServerError("Oops.", code="INTERNAL_ERROR", status=500, request_id="abc123"))
    assert "request abc123" in failed


def test_a_transport_line_names_the_address_tried() -> None:
    line = one_line(TransportError("ConnectError: refused", code="TRANSPORT_ERROR"), url="http://memo.example:3001")
    assert line.startswith("memo: the server at http://memo.example:3001 could not be reached (TRANSPORT_ERROR)")


def test_an_answer_without_memos_envelope_is_explained_and_a_new_code_keeps_the_servers_sentence() -> None:
    proxy = one_line(ServerError("Bad Gateway", code="HTTP_502", status=502))
    assert proxy.startswith("memo: the server answered HTTP 502 without Memo's error envelope")
    newer = one_line(ValidationError("A rule this client has not heard of.", code="SOME_NEW_CODE", status=400))
    assert newer == "memo: A rule this client has not heard of (SOME_NEW_CODE)"


def test_a_version_conflict_line_carries_the_current_version() -> None:
    line = one_line(Conflict("The memory has changed: its current version is 3.", code="VERSION_CONFLICT", status=412))
    assert "current version is 3" in line
