"""The data dir and the SQLite files are private: created 0700/0600 whatever the umask, and made so at start.

Each test starts the way `memo serve` does (`with_local_secrets`, then `run_with_container`: migrate, open the
container, one request scope) and reads the modes while the database is open, when `-wal` and `-shm` exist.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dishka import AsyncContainer

from memo.adapters.private_files import make_private
from memo.application.manage_keys import EnsureFirstKey
from memo.entrypoints.cli import run_with_container
from memo.entrypoints.local_secrets import with_local_secrets
from memo.entrypoints.settings import Settings

COMPANIONS = ("memo.db-wal", "memo.db-shm")


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start_like_serve(data_dir: Path) -> dict[str, int]:
    """Start on `data_dir` as `memo serve` does; the modes of the dir and the database files while it is open."""
    settings = with_local_secrets(Settings.from_env({"MEMO_DATA_DIR": str(data_dir)}, dotenv=None))

    async def first_key(scope: AsyncContainer) -> dict[str, int]:
        await (await scope.get(EnsureFirstKey))()
        return {name: mode(data_dir / name) for name in (".", "memo.db", *COMPANIONS)}

    return run_with_container(settings, first_key)


def test_a_new_data_dir_and_database_are_private_even_with_an_open_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "not-yet" / "data"
    with umask(0):
        modes = start_like_serve(data_dir)
    assert modes == {".": 0o700, "memo.db": 0o600, "memo.db-wal": 0o600, "memo.db-shm": 0o600}
    assert mode(data_dir / "secrets.json") == 0o600


def test_a_readable_data_dir_and_database_are_made_private_at_start_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "data"
    with umask(0o022):
        data_dir.mkdir(mode=0o755)
        (data_dir / "secrets.json").write_text("{}")
        held = sqlite3.connect(data_dir / "memo.db")  # held open, so its -wal and -shm stay on disk
    try:
        held.execute("PRAGMA journal_mode=WAL")
        held.execute("CREATE TABLE left_by_an_old_version (id INTEGER)")
        held.commit()
        before = {name: mode(data_dir / name) for name in (".", "memo.db", *COMPANIONS, "secrets.json")}
        assert before == dict.fromkeys(before, 0o644) | {".": 0o755}
        with caplog.at_level(logging.WARNING, logger="memo"):
            modes = start_like_serve(data_dir)
    finally:
        held.close()
    assert modes == {".": 0o700, "memo.db": 0o600, "memo.db-wal": 0o600, "memo.db-shm": 0o600}
    assert mode(data_dir / "secrets.json") == 0o600
    warned = {record.getMessage() for record in caplog.records if record.levelno == logging.WARNING}
    assert {f"{data_dir / name} could be read by other users (mode 644); it is now 600"
            for name in ("memo.db", *COMPANIONS, "secrets.json")} | {
        f"{data_dir} could be read by other users (mode 755); it is now 700"} <= warned


def test_a_file_that_cannot_be_made_private_is_reported_as_an_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "memo.db"
    shared.write_text("")
    shared.chmod(0o644)

    def refuse(_path: Path, _mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="memo"):
        make_private(shared)
    reported = f"{shared} can be read by other users (mode 644) and cannot be made private: Operation not permitted"
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [(logging.ERROR, reported)]


def test_a_private_file_is_left_alone_without_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    private = tmp_path / "memo.db"
    private.write_text("")
    private.chmod(0o600)
    with caplog.at_level(logging.DEBUG, logger="memo"):
        make_private(private)
    assert mode(private) == 0o600
    assert caplog.records == []
