"""memo search, ask, send and status: finding, answering, WhatsApp, and how the server is doing."""

from __future__ import annotations

from typing import cast

import click
from rich.table import Table
from rich.text import Text

from memo.client.models import MemoryType, SearchMode, Source
from memo.entrypoints.client_cli.memories import TYPES
from memo.entrypoints.client_cli.messages import EXIT_SERVER
from memo.entrypoints.client_cli.session import Session, fail, note, signed_command
from memo.entrypoints.client_cli.views import answer_json, hits_table, plain, search_json, sources_table, when


@signed_command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1), default=None, help="Default: the server's (10).")
@click.option("--type", "memory_type", type=TYPES, default=None)
@click.option("--tag", "tags", multiple=True, help="Repeat for several; all must match.")
@click.option("--source", type=click.Choice(["api", "whatsapp", "import"]), default=None)
@click.option("--after", default=None, help="Created after this RFC 3339 time.")
@click.option("--before", default=None, help="Created before this RFC 3339 time.")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "semantic"]), default=None, help="Default: hybrid.")
def search(session: Session, *, query: str, limit: int | None, memory_type: str | None, tags: tuple[str, ...],
           source: str | None, after: str | None, before: str | None, mode: str | None) -> None:
    """Find memories by words and meaning, best first."""
    result = session.client.search(query, limit=limit, type=cast("MemoryType | None", memory_type),
                                   tags=list(tags) or None, source=cast("Source | None", source), created_after=after,
                                   created_before=before, mode=cast("SearchMode | None", mode))
    if session.as_json:
        session.emit(search_json(result))
        return
    if result.degraded:
        note(f"memo: keyword results only ({result.degraded_reason or 'the vector index is unavailable'})")
    session.out.print(hits_table(result))


@signed_command("ask")
@click.argument("question")
@click.option("--limit", type=click.IntRange(1), default=None, help="How many memories to draw on.")
def ask(session: Session, *, question: str, limit: int | None) -> None:
    """Answer a question from your memories only, citing them."""
    answer = session.client.ask(question, limit=limit)
    if session.as_json:
        session.emit(answer_json(answer))
        return
    session.out.print(Text(answer.answer))
    if answer.sources:
        session.out.print(sources_table(answer))


@signed_command("send")
@click.argument("to")
@click.argument("message")
@click.option("--reply-to", default=None, help="The WhatsApp message id this answers.")
def send(session: Session, *, to: str, message: str, reply_to: str | None) -> None:
    """Send a WhatsApp message (TO in international digits) and keep it as a memory."""
    sent = session.client.send_whatsapp(to, message, reply_to=reply_to)
    if session.as_json:
        session.emit(plain(sent))
    else:
        session.out.print(Text(f"sent {sent.message_id} to {sent.to} ({sent.status}); memory {sent.memory_id}"))


@signed_command("status")
def status(session: Session) -> None:
    """The server's health, and your WhatsApp sync status (exit 8 when the server is not healthy)."""
    health = session.client.health()
    sync = session.client.sync_status()
    if session.as_json:
        session.emit({"url": session.profile.url, "keyId": session.profile.key_id, "health": plain(health),
                      "whatsapp": plain(sync)})
    else:
        table = Table(show_header=False)
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value")
        checks = ", ".join(f"{name} {check.get('status', '?')}" for name, check in sorted(health.checks.items()))
        rows = [("server", session.profile.url), ("key", session.profile.key_id),
                ("health", f"{health.status} (version {health.version}, up {health.uptime:.0f} s)"),
                ("checks", checks), ("last webhook", when(sync.last_webhook_at)),
                ("received", str(sync.received)), ("sent", str(sync.sent)),
                ("deliveries", _counts(sync.deliveries)), ("media", _counts(sync.media)), ("jobs", _counts(sync.jobs))]
        for name, value in rows:
            table.add_row(name, Text(value))
        session.out.print(table)
    if not health.healthy:
        fail(f"memo: the server is not healthy ({health.status})", EXIT_SERVER)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
