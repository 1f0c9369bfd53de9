"""polyfactory factories for commands."""

from __future__ import annotations

from polyfactory.factories import DataclassFactory

from memo.application.dto import CreateMemoryCommand
from memo.domain.memory import MemoryType, Source


class CreateMemoryCommandFactory(DataclassFactory[CreateMemoryCommand]):
    __check_model__ = False
    content = "buy milk"
    type = MemoryType.NOTE
    tags = ("shopping",)
    metadata = {}  # noqa: RUF012
    source = Source.API
    idempotency_key = None
