"""The test profile's schema: nothing to migrate, so it is current unless a test says otherwise."""

from __future__ import annotations

from memo.application.ports import SchemaVersion

IN_MEMORY_REVISION = "in-memory"


class InMemorySchemaVersion(SchemaVersion):
    backend = "in-memory"

    def __init__(self) -> None:
        self.revision: str | None = IN_MEMORY_REVISION  # set it to play a database left behind

    def head(self) -> str:
        return IN_MEMORY_REVISION

    async def current(self) -> str | None:
        return self.revision
