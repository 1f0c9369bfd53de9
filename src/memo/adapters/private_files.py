"""Folders and files only their owner can read: Memo's data dir (0700) and what it keeps there (0600).

Modes are set with chmod after creating, never left to the umask, which a service manager or a shell may have
set to anything. An existing folder or file that group or others can reach is made private with a warning, or
reported at error level when it cannot be (another user owns it): the operator learns of it at start either way.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger("memo")


def create_private_dir(path: Path) -> None:
    """Create `path` (0700) if missing, with any missing parents; an existing folder is made private."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        path.chmod(PRIVATE_DIR)
    else:
        make_private(path)


def create_private_file(path: Path) -> None:
    """Create an empty `path` (0600) if missing, so a library that opens it later inherits the mode."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        make_private(path)
        return
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)


def make_private(path: Path) -> None:
    """Take group's and others' access away from an existing folder or file; a missing one is left alone."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    private = mode & PRIVATE_DIR
    try:
        path.chmod(private)
    except OSError as error:
        log.error("%s can be read by other users (mode %o) and cannot be made private: %s", path, mode,  # noqa: TRY400
                  error.strerror)
        return
    log.warning("%s could be read by other users (mode %o); it is now %o", path, mode, private)
