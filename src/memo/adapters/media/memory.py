"""Media kept in a dict, for unit tests and the test profile; the contract suite holds it to the disk store.

It records every put, so a test can tell a job that stored its media from one that skipped it, or stored twice.
Its references have a scheme of their own (`memory:`), so a caller that parses them fails in tests, not in production.
"""

from __future__ import annotations

from uuid import UUID

from memo.application.ports import MediaStore


class InMemoryMediaStore(MediaStore):
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.puts: list[tuple[UUID, str]] = []  # (owner, name), in order

    async def put(self, owner_id: UUID, name: str, data: bytes) -> str:
        ref = f"memory:{owner_id}/{name}"  # the owner's fixed length keeps (owner, name) -> ref one-to-one
        self.blobs[ref] = bytes(data)
        self.puts.append((owner_id, name))
        return ref

    async def get(self, ref: str) -> bytes | None:
        return self.blobs.get(ref)
