"""The log handlers: stdout, and a size-rotated LOG_FILE that every process of a deployment can share."""

from __future__ import annotations

import fcntl
import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO


class LineStreamHandler(logging.StreamHandler[TextIO]):
    """The stdout handler, which also takes lines already rendered (the access lines)."""

    def write_line(self, line: str) -> None:
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
            self.flush()
        finally:
            self.release()


class SharedRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler that several processes can share: `--workers N`, the supervisor and `memo worker`.

    The stdlib handler rotates by its own open file: once one process renames LOG_FILE to LOG_FILE.1, the others
    keep writing into LOG_FILE.1, see it as too big and rotate again, shifting backups and losing lines. Here each
    line is written under an exclusive `flock` of LOG_FILE.lock: the writer first reopens LOG_FILE if another
    process rotated it away, rotates when the file is full, then writes. So one process rotates, once, and every
    line lands whole in the current file. The lock file is reopened after a fork (a `flock` belongs to an open file,
    which a forked child would otherwise share with its parent).
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self._held: tuple[int, int] | None = None  # (device, inode) of the file held open, set by `_open`
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._path = Path(self.baseFilename)
        self._lock_path = f"{self.baseFilename}.lock"
        self._lock_fd, self._lock_pid = -1, -1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must never raise into the caller; stdlib's handleError reports it
            self.handleError(record)

    def write_line(self, line: str) -> None:
        text = line + self.terminator
        self.acquire()
        try:
            with self._exclusive():
                size = self._follow_rotation()
                if self.maxBytes > 0 and size > 0 and size + len(text.encode()) > self.maxBytes:
                    self.doRollover()
                stream = self.stream if self.stream is not None else self._reopen()
                stream.write(text)
                stream.flush()
        finally:
            self.release()

    def doRollover(self) -> None:  # noqa: N802 - the stdlib's name
        if self.backupCount > 0:
            super().doRollover()
            return
        if self.stream is not None:  # no backups kept: the full file is dropped and a new one begun
            self.stream.close()
        self._path.unlink(missing_ok=True)
        self._reopen()

    def close(self) -> None:
        self.acquire()
        try:
            self._close_lock_file()
        finally:
            self.release()
        super().close()

    def _close_lock_file(self) -> None:
        if self._lock_fd >= 0:  # a forked child closes only its copy: the parent's lock is not released
            os.close(self._lock_fd)
        self._lock_fd, self._lock_pid = -1, -1

    def _exclusive(self) -> _Flock:
        if self._lock_pid != os.getpid():  # first use, or a forked child: an open file of its own
            self._close_lock_file()
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._lock_pid = os.getpid()
        return _Flock(self._lock_fd)

    def _follow_rotation(self) -> int:
        """Reopen LOG_FILE if it is not the file held open (another process rotated it); its size in bytes.

        One `stat` a line: the identity of the file held open is kept from when it was opened."""
        try:
            current = self._path.stat()
        except FileNotFoundError:
            return self._size_after_reopen()
        if self.stream is not None and self._held == (current.st_dev, current.st_ino):
            return current.st_size
        return self._size_after_reopen()

    def _size_after_reopen(self) -> int:
        return os.fstat(self._reopen().fileno()).st_size

    def _open(self) -> Any:  # noqa: ANN401 - the text stream of the stdlib's `_open`
        stream = super()._open()
        held = os.fstat(stream.fileno())
        self._held = (held.st_dev, held.st_ino)
        return stream

    def _reopen(self) -> Any:  # noqa: ANN401 - the text stream `_open` returns
        if self.stream is not None:
            self.stream.close()
        self.stream = self._open()
        return self.stream


class _Flock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
