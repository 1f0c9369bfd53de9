"""LOG_FILE rotation by size, with one process writing it or several (`--workers N`, `memo worker`) at once."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from memo.entrypoints.log_handlers import SharedRotatingFileHandler
from memo.entrypoints.logs import json_formatter

LINE_PAD = "x" * 60


def handler_on(path: Path, *, max_bytes: int, backups: int) -> SharedRotatingFileHandler:
    handler = SharedRotatingFileHandler(path, max_bytes=max_bytes, backups=backups)
    handler.setFormatter(json_formatter())
    return handler


def write(handler: logging.Handler, writer: str, count: int) -> None:
    for number in range(count):
        handler.handle(logging.makeLogRecord({"name": "memo.test", "levelno": logging.INFO, "levelname": "INFO",
                                              "msg": "line", "writer": writer, "number": number, "pad": LINE_PAD}))


def files_of(path: Path) -> list[Path]:
    """LOG_FILE and its backups, oldest last."""
    backups = sorted(path.parent.glob(f"{path.name}.[0-9]*"), key=lambda item: int(item.suffix[1:]))
    return [path, *backups]


def written(path: Path) -> list[tuple[str, int]]:
    """(writer, number) of every line in LOG_FILE and its backups, oldest first; each must be one JSON object."""
    return [(line["writer"], line["number"]) for file in reversed(files_of(path))
            for line in map(json.loads, file.read_text(encoding="utf-8").splitlines())]


def longest_line(path: Path) -> int:
    return max(len(line) + 1 for file in files_of(path) for line in file.read_bytes().splitlines())


def test_the_file_is_rotated_before_it_would_pass_max_bytes_keeping_that_many_backups(tmp_path: Path) -> None:
    path = tmp_path / "memo.log"
    handler = handler_on(path, max_bytes=4096, backups=3)
    write(handler, "one", 400)
    handler.close()

    files = files_of(path)
    assert [file.name for file in files] == ["memo.log", "memo.log.1", "memo.log.2", "memo.log.3"]
    assert all(file.stat().st_size <= 4096 for file in files)
    kept = [number for _, number in written(path)]
    assert kept[0] > 0  # the oldest lines went with the fourth backup
    assert kept == list(range(kept[0], 400))  # and of the newest, none is missing


def test_with_no_backups_a_full_file_is_dropped_and_begun_again(tmp_path: Path) -> None:
    path = tmp_path / "memo.log"
    handler = handler_on(path, max_bytes=4096, backups=0)
    write(handler, "one", 400)
    handler.close()

    assert files_of(path) == [path]
    assert 0 < path.stat().st_size <= 4096
    assert written(path)[-1] == ("one", 399)


def test_a_file_rotated_away_by_another_process_is_followed_not_written_after_it(tmp_path: Path) -> None:
    path = tmp_path / "memo.log"
    handler = handler_on(path, max_bytes=1 << 20, backups=2)
    write(handler, "before", 1)
    path.rename(tmp_path / "memo.log.1")  # what another process's rotation does

    write(handler, "after", 1)
    handler.close()

    assert written(path) == [("before", 0), ("after", 0)]


def test_processes_sharing_one_file_lose_no_line_split_none_and_rotate_each_file_once(tmp_path: Path) -> None:
    """Forked from one parent that opened the handler, as `memo serve --workers N` forks its workers."""
    path, max_bytes, each, processes = tmp_path / "memo.log", 4096, 800, 4
    handler = handler_on(path, max_bytes=max_bytes, backups=400)  # enough never to drop a backup
    children = []
    for writer in range(processes):
        pid = os.fork()
        if pid == 0:  # the child writes and leaves, whatever happens
            code = 1
            try:
                write(handler, f"w{writer}", each)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    handler.close()

    assert statuses == [0] * processes
    lines = written(path)
    assert sorted(lines) == sorted((f"w{writer}", number) for writer in range(processes) for number in range(each))
    files = files_of(path)
    assert len(files) > processes  # it did rotate, many times
    longest = longest_line(path)
    for backup in files[1:]:  # each backup was rotated once, when full: never a fresh file rotated again
        assert max_bytes - longest < backup.stat().st_size <= max_bytes, backup.name


class SlowRotation(SharedRotatingFileHandler):
    """Rotates half a second late in the process that made it: the lock is held that long."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, max_bytes=300, backups=2)
        self.setFormatter(json_formatter())
        self.maker = os.getpid()

    def doRollover(self) -> None:  # noqa: N802 - the stdlib's name
        if os.getpid() == self.maker:
            time.sleep(0.5)
        super().doRollover()


def test_a_forked_child_waits_for_the_lock_its_parent_holds_mid_rotation(tmp_path: Path) -> None:
    """A flock belongs to an open file: a child that kept its parent's would take the lock beside it."""
    path = tmp_path / "memo.log"
    handler = SlowRotation(path)
    write(handler, "parent", 2)  # the next line rotates
    rotating = threading.Thread(target=write, args=(handler, "parent-late", 1))
    rotating.start()
    time.sleep(0.1)  # the parent is asleep in doRollover, under the lock
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            began = time.monotonic()
            write(handler, "child", 1)
            code = 0 if time.monotonic() - began > 0.3 else 2  # it waited out the rotation
        finally:
            os._exit(code)
    rotating.join()
    _, status = os.waitpid(pid, 0)
    handler.close()

    assert os.waitstatus_to_exitcode(status) == 0
    assert written(path)[-2:] == [("parent-late", 0), ("child", 0)]
