"""Media bytes on the local disk: one private folder per owner, one file per media name.

The file name is the sha256 of the name, never the name itself: names come from Meta's JSON, so whatever they
hold (`../`, NUL, separators, thousands of characters, lone surrogates) they map to 64 hex digits inside the
owner's folder. References are parsed just as strictly, and resolved against the root before anything is opened, so a
forged one cannot read elsewhere. Writes go to a temporary file in the same folder that is fsynced and renamed over
the old one, then the folder is fsynced: a crash leaves the old bytes or the new, never a torn file. Media runs to
~100 MiB, so the file work is done on a thread rather than on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from uuid import UUID

from memo.adapters.private_files import PRIVATE_FILE, create_private_dir
from memo.application.ports import MediaStore

_REF = re.compile(r"file:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/([0-9a-f]{64})")


class FilesystemMediaStore(MediaStore):
    """References read `file:<owner uuid>/<sha256 hex of the name>`, relative to the root, so the root can move."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    async def put(self, owner_id: UUID, name: str, data: bytes) -> str:
        # surrogatepass: a JSON string may carry a lone surrogate, which plain UTF-8 refuses to encode
        file_name = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        await asyncio.to_thread(self._write, self._root / str(owner_id), file_name, data)
        return f"file:{owner_id}/{file_name}"

    async def get(self, ref: str) -> bytes | None:
        match = _REF.fullmatch(ref)
        return None if match is None else await asyncio.to_thread(self._read, match[1], match[2])

    def _read(self, owner: str, file_name: str) -> bytes | None:
        path = (self._root / owner / file_name).resolve()
        if not path.is_relative_to(self._root):  # a symlink planted in the root must not lead out of it
            return None
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _write(self, folder: Path, file_name: str, data: bytes) -> None:
        for level in (self._root, folder):  # one at a time: mkdir(parents=True) leaves the parents to the umask
            created = not level.is_dir()
            create_private_dir(level)
            if created:
                _fsync_dir(level.parent)  # the new folder must survive a crash, not only the file put in it
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                os.fchmod(file.fileno(), PRIVATE_FILE)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(folder / file_name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
