"""`memo reindex`: the vector index rebuilt from the database, with the embedded default's real local parts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand
from memo.application.ports import KeyStore
from memo.entrypoints.cli import main
from memo.entrypoints.container import make_container
from memo.entrypoints.local_secrets import with_local_secrets
from memo.entrypoints.settings import Settings


def memo(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def remember(owner: str, *contents: str) -> None:
    async def go() -> None:
        container = make_container(with_local_secrets(Settings.from_env()))
        try:
            async with container() as scope:
                owner_id = await (await scope.get(KeyStore)).owner_id_by_name(owner)
                assert owner_id is not None
                for content in contents:
                    async with container() as each:
                        await (await each.get(CreateMemory))(CreateMemoryCommand(owner_id=owner_id, content=content))
        finally:
            await container.close()

    asyncio.run(go())


def indexed(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "memo.db") as db:
        count: int = db.execute("SELECT count(*) FROM memory_vectors").fetchone()[0]
        return count


def test_reindex_embeds_what_the_index_lacks_and_then_nothing(data_dir: Path) -> None:
    memo("owners", "create", "alice")
    memo("owners", "create", "bob")
    remember("alice", "Dentist on Friday at 3pm", "Buy milk and bread")
    remember("bob", "The wifi password is sunflower42")
    assert indexed(data_dir) == 0  # no worker ran: the index jobs are still pending

    assert "indexed 3 memories" in memo("reindex")
    assert indexed(data_dir) == 3
    assert "indexed 0 memories" in memo("reindex")  # resumable: what is done stays done


def test_reindex_of_one_owner_leaves_the_others(data_dir: Path) -> None:
    memo("owners", "create", "alice")
    memo("owners", "create", "bob")
    remember("alice", "Dentist on Friday at 3pm")
    remember("bob", "The wifi password is sunflower42")

    assert "indexed 1 memory" in memo("reindex", "--owner", "bob")
    assert indexed(data_dir) == 1


def test_reindex_of_an_unknown_owner_fails_clearly(data_dir: Path) -> None:
    result = CliRunner().invoke(main, ["reindex", "--owner", "nobody"])

    assert result.exit_code != 0
    assert "No owner named 'nobody'" in result.output


def test_reindex_with_model_re_embeds_what_another_model_indexed(data_dir: Path) -> None:
    memo("owners", "create", "alice")
    remember("alice", "Dentist on Friday at 3pm", "Buy milk and bread")
    memo("reindex")
    with sqlite3.connect(data_dir / "memo.db") as db:
        db.execute("UPDATE memory_index_states SET model = 'an-older-model'")

    assert "indexed 0 memories" in memo("reindex")  # without --model, what is held under any model stays
    assert "indexed 2 memories" in memo("reindex", "--model")
    with sqlite3.connect(data_dir / "memo.db") as db:
        assert {row[0] for row in db.execute("SELECT model FROM memory_index_states")} == {"all-MiniLM-L6-v2-int8"}
