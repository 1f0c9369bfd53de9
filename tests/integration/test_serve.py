"""`memo serve` as a user runs it: first start makes a key, a signed request works, a restart keeps everything."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from memo.client import sign_request
from memo.entrypoints.cli import main
from tests.support.server import free_port, server_output, serving

pytestmark = pytest.mark.slow  # each test starts `memo serve` processes


def signed(port: int, method: str, path: str, key: dict[str, str], body: bytes = b"") -> dict[str, object]:
    headers = sign_request(method=method, url_or_path_and_query=path, body=body, key_id=key["keyId"],
                           secret=key["secret"])
    if body:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body or None, method=method,
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1 only
        result: dict[str, object] = json.loads(answer.read())
        return result


def test_first_start_creates_a_key_and_a_restart_keeps_it_and_the_data(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port):
        key_file = tmp_path / ".memo" / "default-key.json"
        key = json.loads(key_file.read_text())
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        created = signed(port, "POST", "/api/memories", key, b'{"content": "remember the milk"}')
    output = server_output(tmp_path)
    assert key["keyId"] in output
    assert str(key_file) in output
    assert key["secret"] not in output

    first_output = server_output(tmp_path)
    with serving(tmp_path, port):
        listed = signed(port, "GET", "/api/memories", key)
    assert listed["data"] == [created["data"]]
    assert "Created owner" not in server_output(tmp_path).removeprefix(first_output)


def test_client_commands_add_list_export_and_import_through_the_signed_api(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    with serving(tmp_path, port):
        key = json.loads((tmp_path / ".memo" / "default-key.json").read_text())
        monkeypatch.setenv("MEMO_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("MEMO_KEY_ID", key["keyId"])
        monkeypatch.setenv("MEMO_KEY_SECRET", key["secret"])
        runner = CliRunner()
        added = runner.invoke(main, ["add", "Call the plumber", "--type", "reminder", "--tag", "Home"])
        assert added.exit_code == 0, added.output
        assert json.loads(added.output)["tags"] == ["home"]
        listed = runner.invoke(main, ["list", "--tags", "home"])
        assert [json.loads(line)["content"] for line in listed.output.splitlines()] == ["Call the plumber"]
        exported = runner.invoke(main, ["export"])
        assert exported.exit_code == 0, exported.output
        dump = tmp_path / "dump.jsonl"
        dump.write_text(exported.output)
        for _ in range(2):  # the second import finds every memory already imported
            imported = runner.invoke(main, ["import", str(dump)])
            assert imported.exit_code == 0, imported.output
        everything = runner.invoke(main, ["list"])
        sources = sorted(json.loads(line)["source"] for line in everything.output.splitlines())
        assert sources == ["api", "import"]
        refused = CliRunner(env={"MEMO_KEY_SECRET": "wrong"}).invoke(main, ["list"])
        assert refused.exit_code != 0
        assert "INVALID_SIGNATURE" in refused.output
