"""The `memo` client commands against one live `memo serve`: every command, the --json documents, profiles written
by `memo login`, and the exit code and one-line message of each error family."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result

from memo.client import MemoClient
from memo.entrypoints.cli import main
from tests.integration.test_python_client_live import memo
from tests.support.server import free_port, serving

pytestmark = pytest.mark.slow  # starts `memo serve`


@dataclass(frozen=True)
class Live:
    url: str
    keys: dict[str, dict[str, str]]
    folder: Path

    def env(self, owner: str, **extra: str | None) -> dict[str, str | None]:
        key = self.keys[owner]
        return {"MEMO_URL": self.url, "MEMO_KEY_ID": key["keyId"], "MEMO_KEY_SECRET": key["secret"],
                "MEMO_PROFILE": None, "MEMO_CONFIG": str(self.folder / "no-profiles.toml"), **extra}

    def run(self, owner: str, *args: str, env: Mapping[str, str | None] | None = None, stdin: str | None = None,
            ) -> Result:
        result = CliRunner(env={**self.env(owner), **(env or {})}).invoke(main, list(args), input=stdin)
        for key in self.keys.values():  # whatever happened, no secret is ever printed
            assert key["secret"] not in result.stdout + result.stderr
        return result

    def ok(self, owner: str, *args: str) -> Result:
        result = self.run(owner, *args)
        assert result.exit_code == 0, result.stdout + result.stderr
        return result

    def json(self, owner: str, *args: str) -> object:
        return json.loads(self.ok(owner, *args, "--json").stdout)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("cli-client")
    port = free_port()
    with serving(folder, port), ThreadPoolExecutor(max_workers=4) as pool:
        def owner_with_key(owner: str) -> dict[str, str]:  # each CLI start takes seconds: the four run side by side
            memo(folder, "owners", "create", owner)
            return cast("dict[str, str]", json.loads(memo(folder, "keys", "create", "--owner", owner, "--json")))

        owners = ("alice", "bob", "carol", "dave")
        keys = dict(zip(owners, pool.map(owner_with_key, owners), strict=True))
        yield Live(f"http://127.0.0.1:{port}", keys, folder)


def test_add_then_get_list_and_search_find_the_memory_in_tables_and_json(live: Live) -> None:
    made = live.json("alice", "add", "Dentist on Friday at 3 pm", "--type", "reminder", "--tag", "Health",
                     "--metadata", '{"where": "Main Street 4"}')
    assert isinstance(made, dict)
    assert (made["type"], made["tags"], made["metadata"], made["version"]) == (
        "reminder", ["health"], {"where": "Main Street 4"}, 1)
    assert live.json("alice", "get", made["id"]) == made

    shown = live.ok("alice", "get", made["id"]).stdout
    assert "Dentist on Friday at 3 pm" in shown
    assert "Main Street 4" in shown

    page = live.json("alice", "list", "--tag", "health")
    assert isinstance(page, dict)
    assert ([m["id"] for m in page["items"]], page["total"], page["hasMore"]) == ([made["id"]], 1, False)
    assert live.json("alice", "list", "--tags", "health,other") == {**page, "items": [], "total": 0}
    table = live.ok("alice", "list").stdout
    assert made["id"] in table
    assert "1-1 of 1" in table

    hits = live.json("alice", "search", "dentist", "--mode", "keyword")
    assert isinstance(hits, dict)
    assert [hit["memory"]["id"] for hit in hits["hits"]] == [made["id"]]
    assert made["id"] in live.ok("alice", "search", "dentist").stdout


def test_a_memory_content_that_looks_like_markup_is_printed_as_written(live: Live) -> None:
    live.ok("alice", "add", "Buy [bold]oat[/bold] milk", "--tag", "markup")
    assert "Buy [bold]oat[/bold] milk" in live.ok("alice", "list", "--tag", "markup").stdout


def test_ask_answers_from_the_memories_and_cites_them(live: Live) -> None:
    made = live.json("bob", "add", "The plumber appointment is on Tuesday morning")
    assert isinstance(made, dict)
    answer = live.json("bob", "ask", "When is the plumber appointment?")
    assert isinstance(answer, dict)
    assert made["id"] in answer["citations"]
    assert "plumber" in live.ok("bob", "ask", "When is the plumber appointment?").stdout


def test_edit_reads_the_current_version_and_a_stale_if_match_is_a_conflict(live: Live) -> None:
    made = live.json("bob", "add", "Water the plants")
    assert isinstance(made, dict)
    changed = live.json("bob", "edit", made["id"], "--content", "Water the plants twice", "--tag", "home",
                        "--metadata", '{"room": "kitchen"}')
    assert isinstance(changed, dict)
    assert (changed["content"], changed["tags"], changed["metadata"], changed["version"]) == (
        "Water the plants twice", ["home"], {"room": "kitchen"}, 2)

    stale = live.run("bob", "edit", made["id"], "--content", "an old view", "--if-match", "1")
    assert stale.exit_code == 6
    assert stale.stderr.startswith("memo: the memory changed since it was read (VERSION_CONFLICT)")
    assert live.json("bob", "get", made["id"]) == changed

    nothing = live.run("bob", "edit", made["id"])
    assert nothing.exit_code == 2


def test_edit_without_if_match_sends_the_version_it_read_so_an_edit_in_between_is_refused(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    made = live.json("bob", "add", "Book the vet")
    assert isinstance(made, dict)
    read = MemoClient.get_memory

    def read_then_someone_else_edits(client: MemoClient, memory_id: str) -> Any:
        current = read(client, memory_id)
        live.ok("bob", "edit", memory_id, "--content", "Book the vet for Tuesday", "--if-match", "1")
        return current

    monkeypatch.setattr(MemoClient, "get_memory", read_then_someone_else_edits)
    late = live.run("bob", "edit", made["id"], "--content", "Book the vet for Monday")
    monkeypatch.undo()

    assert late.exit_code == 6, late.stdout + late.stderr
    kept = live.json("bob", "get", made["id"])
    assert isinstance(kept, dict)
    assert (kept["content"], kept["version"]) == ("Book the vet for Tuesday", 2)  # the edit in between stands


def test_rm_deletes_and_the_id_is_then_not_found(live: Live) -> None:
    made = live.json("bob", "add", "Cancel the gym")
    assert isinstance(made, dict)
    gone = live.ok("bob", "rm", made["id"], "--yes")
    assert made["id"] in gone.stderr
    missing = live.run("bob", "get", made["id"])
    assert missing.exit_code == 5
    assert missing.stderr == ("memo: no memory of yours has this id (MEMORY_NOT_FOUND): memo list shows your "
                              "memories and their ids\n")
    assert live.run("bob", "rm", made["id"], "--yes").exit_code == 5


def test_rm_on_a_terminal_asks_first_and_keeps_the_memory_on_no(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    made = live.json("bob", "add", "Keep me")
    assert isinstance(made, dict)
    monkeypatch.setattr("memo.entrypoints.client_cli.memories.stdin_is_terminal", lambda: True)
    refused = live.run("bob", "rm", made["id"], stdin="n\n")
    assert refused.exit_code == 1
    assert "Delete memory" in refused.stderr
    assert live.json("bob", "get", made["id"]) == made
    assert live.run("bob", "rm", made["id"], stdin="y\n").exit_code == 0
    assert live.run("bob", "get", made["id"]).exit_code == 5


def test_send_without_whatsapp_configured_is_a_server_error_with_its_line(live: Live) -> None:
    refused = live.run("alice", "send", "15551234567", "hello")
    assert refused.exit_code == 8
    assert refused.stderr.startswith("memo: WhatsApp sending is not configured on the server (WHATSAPP_NOT_CONFIGURED)")
    assert refused.stderr.count("\n") == 1


def test_status_shows_health_sync_status_and_the_key_in_use(live: Live) -> None:
    shown = live.json("carol", "status")
    assert isinstance(shown, dict)
    assert (shown["url"], shown["keyId"], shown["health"]["status"]) == (live.url, live.keys["carol"]["keyId"], "ok")
    assert shown["whatsapp"]["received"] == 0
    table = live.ok("carol", "status").stdout
    assert live.keys["carol"]["keyId"] in table
    assert "last webhook" in table


def test_export_then_import_into_another_owner_creates_then_finds_everything_unchanged(live: Live,
                                                                                       tmp_path: Path) -> None:
    ids = set()
    for content in ("first", "second", "third"):
        made = live.json("carol", "add", f"Carol's {content} memory", "--tag", "moving")
        assert isinstance(made, dict)
        ids.add(made["id"])
    dump = tmp_path / "carol.jsonl"
    exported = live.ok("carol", "export", str(dump))
    assert "exported 3 memories" in exported.stderr
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert {line["id"] for line in lines} == ids
    assert live.ok("carol", "export").stdout == dump.read_text()  # to stdout, the same JSON Lines

    taken = live.run("dave", "import", str(dump), "--json")  # carol still holds these ids
    assert taken.exit_code == 4
    assert [line["code"] for line in json.loads(taken.stdout)["skipped"]] == ["ID_TAKEN"] * 3
    assert "3 line(s) not imported (first: line 1, ID_TAKEN)" in taken.stderr

    for memory_id in ids:
        live.ok("carol", "rm", memory_id, "--yes")
    first = live.json("dave", "import", str(dump), "--batch-size", "2")
    assert first == {"created": 3, "unchanged": 0, "skipped": []}
    second = live.ok("dave", "import", str(dump))
    assert "created 0, unchanged 3, skipped 0" in second.stdout
    restored = live.json("dave", "list", "--tag", "moving", "--order", "asc")
    assert isinstance(restored, dict)
    assert [m["id"] for m in restored["items"]] == [line["id"] for line in lines]
    assert [m["createdAt"][:23] for m in restored["items"]] == [line["createdAt"][:23] for line in lines]


def test_import_reads_stdin_and_a_file_that_is_not_json_lines_is_refused(live: Live) -> None:
    refused = live.run("dave", "import", stdin="not json at all\n")
    assert refused.exit_code == 4
    assert "memo: the file is not JSON Lines (INVALID_JSON_LINES)" in refused.stderr


def test_export_as_markdown_is_grouped_by_day(live: Live) -> None:
    live.ok("carol", "add", "A line for the diary")
    document = live.ok("carol", "export", "--format", "markdown").stdout
    assert document.startswith("# ")
    assert "## 20" in document
    assert "A line for the diary" in document


def test_login_writes_a_private_profile_that_profile_then_uses(live: Live, tmp_path: Path) -> None:
    config = tmp_path / "config"
    key = live.keys["alice"]
    env = {"XDG_CONFIG_HOME": str(config), "MEMO_CONFIG": None}
    saved = live.run("alice", "login", "--profile", "work", "--url", live.url, "--key-id", key["keyId"],
                     env=env, stdin=key["secret"] + "\n")
    assert saved.exit_code == 0, saved.stderr
    path = config / "memo" / "profiles.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key["secret"] in path.read_text()

    without_env = {**env, "MEMO_URL": None, "MEMO_KEY_ID": None, "MEMO_KEY_SECRET": None}
    made = live.run("alice", "add", "Through the work profile", "--profile", "work", "--json", env=without_env)
    assert made.exit_code == 0, made.stderr
    shown = live.run("alice", "status", "--json", env={**without_env, "MEMO_PROFILE": "work"})
    assert json.loads(shown.stdout)["keyId"] == key["keyId"]

    unknown = live.run("alice", "list", "--profile", "home", env=without_env)
    assert unknown.exit_code == 3
    assert "no profile 'home'" in unknown.stderr
    nothing = live.run("alice", "list", env=without_env)
    assert nothing.exit_code == 3
    assert "run memo login" in nothing.stderr


def test_login_with_a_wrong_secret_saves_nothing(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "memo.toml"
    refused = live.run("alice", "login", "--url", live.url, "--key-id", live.keys["alice"]["keyId"],
                       env={"MEMO_CONFIG": str(target)}, stdin="not-the-secret\n")
    assert refused.exit_code == 3
    assert "(INVALID_SIGNATURE)" in refused.stderr
    assert not target.exists()


@pytest.mark.parametrize(("args", "env", "code", "line"), [
    (["list"], {"MEMO_KEY_SECRET": "wrong-secret"}, 3,
     "memo: the signature was refused (INVALID_SIGNATURE): check MEMO_KEY_SECRET or run memo login\n"),
    (["list"], {"MEMO_KEY_ID": "mk_nobodyhasthis"}, 3,
     "memo: the key was refused (UNKNOWN_KEY): check MEMO_KEY_ID or run memo login\n"),
    (["add", "   "], {}, 4,
     ("memo: the request was refused as invalid (VALIDATION_ERROR): content: must not be empty or only white space; "
      "fix the values named\n")),
    (["get", "00000000-0000-0000-0000-000000000000"], {}, 5, None),
    (["list"], {"MEMO_URL": "http://127.0.0.1:9"}, 8,
     ("memo: the server at http://127.0.0.1:9 could not be reached (TRANSPORT_ERROR): is memo serve running? "
      "check MEMO_URL\n")),
])
def test_each_error_family_has_its_exit_code_and_one_line(live: Live, args: list[str], env: dict[str, str],
                                                          code: int, line: str | None) -> None:
    result = live.run("alice", *args, env=env)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("memo: ")
    assert result.stderr.count("\n") == 1
    if line is not None:
        assert result.stderr == line


def test_a_replayed_idempotency_key_with_another_body_is_a_conflict(live: Live) -> None:
    live.ok("alice", "add", "once", "--idempotency-key", "cli-idem-1")
    refused = live.run("alice", "add", "another body", "--idempotency-key", "cli-idem-1")
    assert refused.exit_code == 6
    assert "(IDEMPOTENCY_CONFLICT)" in refused.stderr
