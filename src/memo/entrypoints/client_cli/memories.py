"""memo add, list, get, edit, rm: the memories routes, one command each."""

from __future__ import annotations

import json
import sys
from typing import Any, cast

import click

from memo.client.models import MemoryType, SortBy, SortOrder
from memo.entrypoints.client_cli.session import Session, note, signed_command
from memo.entrypoints.client_cli.views import memories_table, memory_detail, page_json, plain

TYPES = click.Choice(["note", "reminder", "whatsapp_received", "whatsapp_sent", "voice_memo"])


def metadata_object(_: click.Context, __: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter('a JSON object, e.g. {"where": "home"}')
    return cast("dict[str, Any]", parsed)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@signed_command("add")
@click.argument("content")
@click.option("--type", "memory_type", type=TYPES, default=None, help="Default: note.")
@click.option("--tag", "tags", multiple=True, help="Repeat for several.")
@click.option("--metadata", callback=metadata_object, help="A JSON object.")
@click.option("--idempotency-key", default=None, help="The same key and body saves once (24 h), e.g. on a retry.")
def add(session: Session, *, content: str, memory_type: str | None, tags: tuple[str, ...],
        metadata: dict[str, Any] | None, idempotency_key: str | None) -> None:
    """Save a memory."""
    memory = session.client.create_memory(content, type=cast("MemoryType | None", memory_type), tags=list(tags),
                                          metadata=metadata, idempotency_key=idempotency_key)
    if session.as_json:
        session.emit(plain(memory))
    else:
        session.out.print(memory_detail(memory))


@signed_command("list")
@click.option("--search", default=None, help="Words the content must hold.")
@click.option("--type", "memory_type", type=TYPES, default=None)
@click.option("--tag", "tags", multiple=True, help="Repeat for several; all must match.")
@click.option("--tags", "tag_list", default=None, hidden=True, help="A comma list, as earlier versions took.")
@click.option("--after", default=None, help="Created after this RFC 3339 time.")
@click.option("--before", default=None, help="Created before this RFC 3339 time.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--sort-by", type=click.Choice(["createdAt", "updatedAt"]), default=None, help="Default: createdAt.")
@click.option("--order", type=click.Choice(["asc", "desc"]), default=None, help="Default: desc, newest first.")
def list_memories(session: Session, *, search: str | None, memory_type: str | None, tags: tuple[str, ...],
                  tag_list: str | None, after: str | None, before: str | None, limit: int, offset: int,
                  sort_by: str | None,
                  order: str | None) -> None:
    """List memories, a page at a time (newest first unless --order asc)."""
    wanted = [*tags, *(tag for tag in (tag_list or "").split(",") if tag.strip())]
    page = session.client.list_memories(search=search, type=cast("MemoryType | None", memory_type),
                                        tags=wanted or None, created_after=after, created_before=before,
                                        limit=limit, offset=offset, sort_by=cast("SortBy | None", sort_by),
                                        sort_order=cast("SortOrder | None", order))
    if session.as_json:
        session.emit(page_json(page))
        return
    shown = f"{page.offset + 1}-{page.offset + len(page.items)}" if page.items else "none"
    more = f"; next: --offset {page.next_offset}" if page.next_offset is not None else ""
    session.out.print(memories_table(page.items, caption=f"{shown} of {page.total}{more}"))


@signed_command("get")
@click.argument("memory_id", metavar="ID")
def get(session: Session, *, memory_id: str) -> None:
    """Show one memory in full."""
    memory = session.client.get_memory(memory_id)
    if session.as_json:
        session.emit(plain(memory))
    else:
        session.out.print(memory_detail(memory))


@signed_command("edit")
@click.argument("memory_id", metavar="ID")
@click.option("--content", default=None)
@click.option("--type", "memory_type", type=TYPES, default=None)
@click.option("--tag", "tags", multiple=True, help="The new tags, replacing the old; repeat for several.")
@click.option("--metadata", callback=metadata_object, help="A JSON object, merged key by key into the stored one.")
@click.option("--if-match", "if_match", type=click.IntRange(1), default=None,
              help="The version you read. Default: the current one, read first, so a concurrent edit is refused.")
def edit(session: Session, *, memory_id: str, content: str | None, memory_type: str | None, tags: tuple[str, ...],
         metadata: dict[str, Any] | None, if_match: int | None) -> None:
    """Change a memory; refused (exit 6) if it changed since the version it names."""
    if content is None and memory_type is None and not tags and metadata is None:
        raise click.UsageError("nothing to change: give --content, --type, --tag or --metadata")
    version = if_match if if_match is not None else session.client.get_memory(memory_id).version
    memory = session.client.update_memory(memory_id, content=content, type=cast("MemoryType | None", memory_type),
                                          tags=list(tags) or None, metadata=metadata, if_match=version)
    if session.as_json:
        session.emit(plain(memory))
    else:
        session.out.print(memory_detail(memory))


@signed_command("rm")
@click.argument("memory_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask (asked only on a terminal).")
def rm(session: Session, *, memory_id: str, yes: bool) -> None:
    """Delete a memory."""
    if not yes and stdin_is_terminal():
        click.confirm(f"Delete memory {memory_id}?", abort=True, err=True)
    session.client.delete_memory(memory_id)
    if session.as_json:
        session.emit({"deleted": memory_id})
    else:
        note(f"memo: deleted {memory_id}")
