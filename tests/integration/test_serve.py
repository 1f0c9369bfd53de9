"""`memo serve` as a user runs it: first start makes a key, a signed request works, a restart keeps everything."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from memo.client import sign_request
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
