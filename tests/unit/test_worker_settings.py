"""Where background jobs run (`memo serve` on the embedded default, `memo worker` elsewhere) and as whom."""

from __future__ import annotations

import socket

import pytest

from memo.domain.jobs import MAX_WORKER_ID_CHARS
from memo.entrypoints.settings import Settings, SettingsError
from memo.entrypoints.worker import worker_id


@pytest.mark.parametrize(("environ", "in_process"), [
    ({}, True),
    ({"MEMO_PROFILE": "test"}, False),
    ({"MEMO_INPROCESS_WORKER": "false"}, False),
    ({"MEMO_PROFILE": "test", "MEMO_INPROCESS_WORKER": "true"}, True),
])
def test_the_server_runs_the_job_loop_on_the_embedded_default_unless_told(
        environ: dict[str, str], *, in_process: bool) -> None:
    assert Settings.from_env(environ, dotenv=None).runs_inprocess_worker is in_process


@pytest.mark.parametrize("attempts", ["0", "101", "many"])
def test_max_attempts_outside_1_to_100_is_refused(attempts: str) -> None:
    with pytest.raises(SettingsError, match="MEMO_JOB_MAX_ATTEMPTS"):
        Settings.from_env({"MEMO_JOB_MAX_ATTEMPTS": attempts}, dotenv=None)


def test_max_attempts_defaults_to_8() -> None:
    assert Settings.from_env({}, dotenv=None).job_max_attempts == 8


def test_a_worker_id_fits_the_lease_column_whatever_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 300)

    first, second = worker_id(), worker_id()

    assert len(first) <= MAX_WORKER_ID_CHARS
    assert first != second  # a restarted worker is another lease owner
