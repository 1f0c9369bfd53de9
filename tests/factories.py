"""polyfactory factories for domain objects, commands and request bodies."""

from __future__ import annotations

from polyfactory.factories import DataclassFactory
from polyfactory.factories.msgspec_factory import MsgspecFactory

from memo.adapters.system import TEST_NOW
from memo.application.dto import CreateMemoryCommand
from memo.domain.memory import Memory, MemoryType, Source
from memo.entrypoints.http.schemas import CreateMemoryBody


class MemoryFactory(DataclassFactory[Memory]):
    __check_model__ = False
    content = "a memory worth keeping"
    type = MemoryType.NOTE
    tags = ("home",)
    metadata = {}  # noqa: RUF012
    source = Source.API
    created_at = TEST_NOW
    updated_at = TEST_NOW
    version = 1


class CreateMemoryCommandFactory(DataclassFactory[CreateMemoryCommand]):
    __check_model__ = False
    content = "buy milk"
    type = MemoryType.NOTE
    tags = ("shopping",)
    metadata = {}  # noqa: RUF012
    source = Source.API
    idempotency_key = None


class CreateMemoryBodyFactory(MsgspecFactory[CreateMemoryBody]):
    __check_model__ = False
    content = "call the plumber about the kitchen sink"
    type = MemoryType.REMINDER
    source = "api"

    @classmethod
    def tags(cls) -> list[str]:
        return ["home", "todo"]

    @classmethod
    def metadata(cls) -> dict[str, object]:
        return {"priority": "high"}
