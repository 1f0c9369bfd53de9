"""Client-side commands: talk to a running Memo over the signed API (MEMO_URL, MEMO_KEY_ID, MEMO_KEY_SECRET)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

import click
import httpx

from memo.client import sign_request

PAGE = 100


class SignedClient:
    def __init__(self) -> None:
        missing = [name for name in ("MEMO_KEY_ID", "MEMO_KEY_SECRET") if not os.environ.get(name)]
        if missing:
            raise click.ClickException(f"set {' and '.join(missing)} (and MEMO_URL, default http://127.0.0.1:3001)")
        self._key_id, self._secret = os.environ["MEMO_KEY_ID"], os.environ["MEMO_KEY_SECRET"]
        self._http = httpx.Client(base_url=os.environ.get("MEMO_URL", "http://127.0.0.1:3001"), timeout=30)

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None,
             params: dict[str, str] | None = None, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
        body = json.dumps(payload).encode() if payload is not None else b""
        url = httpx.URL(path, params=params)
        target = url.raw_path.decode()
        headers = sign_request(method=method, url_or_path_and_query=target, body=body, key_id=self._key_id,
                               secret=self._secret)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers or {})
        response = self._http.request(method, target, content=body, headers=headers)
        answer: dict[str, Any] = response.json()
        if not answer.get("success"):
            raise click.ClickException(f"{response.status_code} {answer.get('code')}: {answer.get('error')}")
        return answer


@click.command("add")
@click.argument("content")
@click.option("--type", "memory_type", default="note", show_default=True)
@click.option("--tag", "tags", multiple=True)
def add(content: str, memory_type: str, tags: tuple[str, ...]) -> None:
    """Save a memory."""
    answer = SignedClient().call("POST", "/api/memories", {"content": content, "type": memory_type, "tags": list(tags)})
    click.echo(json.dumps(answer["data"]))


@click.command("list")
@click.option("--search", default=None)
@click.option("--type", "memory_type", default=None)
@click.option("--tags", default=None, help="Comma list; all must match.")
@click.option("--limit", default=20, show_default=True)
def list_memories(search: str | None, memory_type: str | None, tags: str | None, limit: int) -> None:
    """List memories, newest first, one JSON object a line."""
    params = {k: v for k, v in {"search": search, "type": memory_type, "tags": tags, "limit": str(limit)}.items() if v}
    for memory in SignedClient().call("GET", "/api/memories", params=params)["data"]:
        click.echo(json.dumps(memory))


@click.command("export")
@click.argument("output", type=click.File("w"), default="-")
def export(output: TextIO) -> None:
    """Write every memory as JSON lines, oldest first."""
    client, offset = SignedClient(), 0
    while True:
        answer = client.call("GET", "/api/memories", params={"limit": str(PAGE), "offset": str(offset),
                                                             "sortOrder": "asc"})
        output.writelines(json.dumps(memory) + "\n" for memory in answer["data"])
        if not answer["pagination"]["hasMore"]:
            return
        offset += PAGE


@click.command("import")
@click.argument("source", type=click.File("r"), default="-")
def import_memories(source: TextIO) -> None:
    """Read JSON lines as `memo export` writes them and save each as a memory (source "import").

    Each line's id becomes the Idempotency-Key, so importing the same file twice within a day adds nothing.
    """
    client, count = SignedClient(), 0
    for line in source:
        if not line.strip():
            continue
        memory = json.loads(line)
        payload = {"content": memory["content"], "type": memory.get("type", "note"), "tags": memory.get("tags", []),
                   "metadata": memory.get("metadata", {}), "source": "import"}
        extra = {"Idempotency-Key": f"import:{memory['id']}"} if memory.get("id") else None
        client.call("POST", "/api/memories", payload, extra_headers=extra)
        count += 1
    click.echo(f"imported {count} memories", err=sys.stderr.isatty())


client_commands = [add, list_memories, export, import_memories]
