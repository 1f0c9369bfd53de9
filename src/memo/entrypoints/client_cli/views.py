"""How answers look: rich tables for a person (user text always as plain Text, never as markup), and the wire's
camelCase shapes for --json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from rich.table import Table
from rich.text import Text

from memo.client import Answer, Memory, Page, SearchResult

PREVIEW = 80


def plain(value: object) -> dict[str, Any]:
    converted: dict[str, Any] = msgspec.to_builtins(value)
    return converted


def when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def preview(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= PREVIEW else line[:PREVIEW - 1] + "…"


def page_json(page: Page) -> dict[str, Any]:
    return {"items": [plain(memory) for memory in page.items], "total": page.total, "limit": page.limit,
            "offset": page.offset, "hasMore": page.has_more}


def search_json(result: SearchResult) -> dict[str, Any]:
    return {"hits": [plain(hit) for hit in result.hits], "degraded": result.degraded,
            "degradedReason": result.degraded_reason}


def answer_json(answer: Answer) -> dict[str, Any]:
    return {"answer": answer.answer, "citations": [str(each) for each in answer.citations],
            "sources": [plain(source) for source in answer.sources]}


def memories_table(memories: list[Memory], *, caption: str | None = None) -> Table:
    table = Table(caption=caption)
    table.add_column("id", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("type")
    table.add_column("tags")
    table.add_column("content")
    for memory in memories:
        table.add_row(Text(str(memory.id)), Text(when(memory.created_at)), Text(memory.type),
                      Text(", ".join(memory.tags)), Text(preview(memory.content)))
    return table


def memory_detail(memory: Memory) -> Table:
    table = Table(show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = [("id", str(memory.id)), ("content", memory.content), ("type", memory.type),
            ("tags", ", ".join(memory.tags)), ("metadata", msgspec.json.encode(memory.metadata).decode()),
            ("source", memory.source), ("created", when(memory.created_at)), ("updated", when(memory.updated_at)),
            ("version", str(memory.version))]
    for field, value in rows:
        table.add_row(field, Text(value))
    return table


def hits_table(result: SearchResult) -> Table:
    table = Table()
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("type")
    table.add_column("matched by")
    table.add_column("content")
    for hit in result.hits:
        table.add_row(f"{hit.score:.3f}", Text(str(hit.memory.id)), Text(hit.memory.type),
                      Text(", ".join(hit.matched_by)), Text(preview(hit.memory.content)))
    return table


def sources_table(answer: Answer) -> Table:
    table = Table(title="sources")
    table.add_column("memory", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("quote")
    for source in answer.sources:
        table.add_row(Text(str(source.memory_id)), Text(when(source.created_at)), Text(preview(source.quote)))
    return table
