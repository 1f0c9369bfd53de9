"""The `memo` command against a real SQLite data dir, and a running app seeing what it changes at once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from memo.adapters.crypto.aesgcm import generate_encryption_key
from memo.client import sign_request
from memo.entrypoints.cli import main
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Settings
from tests.support.sealed_v1 import seal_as_format_1


def memo(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_owners_and_keys_round_trip(data_dir: Path) -> None:
    assert "created owner alice" in memo("owners", "create", "alice", "--whatsapp-phone-number-id", "1234567890",
                                         "--whatsapp-number", "4915112345678")
    issued = json.loads(memo("keys", "create", "--owner", "alice", "--label", "laptop", "--json"))
    assert set(issued) == {"keyId", "secret", "owner", "label", "createdAt"}
    assert (issued["owner"], issued["label"]) == ("alice", "laptop")
    listed = json.loads(memo("keys", "list", "--json"))
    assert [(k["keyId"], k["owner"], k["revokedAt"]) for k in listed] == [(issued["keyId"], "alice", None)]
    assert issued["secret"] not in memo("keys", "list")
    memo("keys", "revoke", issued["keyId"])
    assert json.loads(memo("keys", "list", "--json"))[0]["revokedAt"] is not None


def test_generated_secrets_are_private(data_dir: Path) -> None:
    memo("owners", "create", "alice")
    assert stat.S_IMODE((data_dir / "secrets.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize(("args", "message"), [
    (("keys", "create", "--owner", "nobody"), "No owner named 'nobody'"),
    (("keys", "revoke", "mk_missing_key"), "No API key"),
    (("owners", "create", "bad name!"), "The request is invalid"),
])
def test_mistakes_exit_non_zero_with_a_clear_message(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0
    assert message in result.output


def test_a_second_owner_with_the_same_name_is_refused(data_dir: Path) -> None:
    memo("owners", "create", "alice")
    result = CliRunner().invoke(main, ["owners", "create", "alice"])
    assert result.exit_code != 0
    assert "already exists" in result.output


async def test_a_running_server_sees_a_new_key_and_its_revocation_at_once(data_dir: Path) -> None:
    await asyncio.to_thread(memo, "owners", "create", "alice")
    settings = Settings.from_env(dotenv=None)
    async with AsyncTestClient(app=create_app(settings)) as client:
        issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))

        def headers() -> dict[str, str]:
            return sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"",
                                key_id=issued["keyId"], secret=issued["secret"])

        assert (await client.get("/api/memories", headers=headers())).status_code == 200
        await asyncio.to_thread(memo, "keys", "revoke", issued["keyId"])
        refused = await client.get("/api/memories", headers=headers())
        assert (refused.status_code, refused.json()["code"]) == (401, "UNKNOWN_KEY")


async def test_memories_survive_a_restart(data_dir: Path) -> None:
    await asyncio.to_thread(memo, "owners", "create", "alice")
    issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))
    body = b'{"content": "still here after a restart"}'
    settings = Settings.from_env(dotenv=None)
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                               key_id=issued["keyId"], secret=issued["secret"])
        created = await client.post("/api/memories", content=body,
                                    headers={**headers, "Content-Type": "application/json"})
        assert created.status_code == 201
    async with AsyncTestClient(app=create_app(Settings.from_env(dotenv=None))) as client:
        path = f"/api/memories/{created.json()['data']['id']}"
        headers = sign_request(method="GET", url_or_path_and_query=path, body=b"", key_id=issued["keyId"],
                               secret=issued["secret"])
        again = await client.get(path, headers=headers)
        assert again.json()["data"]["content"] == "still here after a restart"


async def signed_get(issued: dict[str, str], path: str = "/api/memories") -> tuple[int, int, str]:
    """(status of a signed GET, status of /health, the hmac check's status) from an app on the current settings."""
    async with AsyncTestClient(app=create_app(Settings.from_env(dotenv=None))) as client:
        headers = sign_request(method="GET", url_or_path_and_query=path, body=b"", key_id=issued["keyId"],
                               secret=issued["secret"])
        response = await client.get(path, headers=headers)
        health = await client.get("/health")
        return response.status_code, health.status_code, health.json()["checks"]["hmac"]["status"]


async def test_encryption_key_rotates_with_the_previous_key_then_reseal(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = generate_encryption_key(), generate_encryption_key()
    monkeypatch.setenv("ENCRYPTION_KEY", old)
    await asyncio.to_thread(memo, "owners", "create", "alice")
    issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))
    revoked = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))
    await asyncio.to_thread(memo, "keys", "revoke", revoked["keyId"])

    monkeypatch.setenv("ENCRYPTION_KEY", new)  # a new key alone: nothing stored opens
    assert await signed_get(issued) == (500, 503, "error")
    monkeypatch.setenv("ENCRYPTION_KEYS_PREVIOUS", f"{generate_encryption_key()},{old}")
    assert await signed_get(issued) == (200, 200, "ok")

    output = await asyncio.to_thread(memo, "keys", "reseal")
    assert "resealed 2 secret(s) under the current ENCRYPTION_KEY" in output  # the revoked key's too
    assert issued["secret"] not in output

    monkeypatch.delenv("ENCRYPTION_KEYS_PREVIOUS")  # the old key can go now
    assert await signed_get(issued) == (200, 200, "ok")
    monkeypatch.setenv("ENCRYPTION_KEY", old)
    assert await signed_get(issued) == (500, 503, "error")


def test_reseal_names_the_keys_no_configured_key_opens_and_exits_non_zero(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", generate_encryption_key())
    memo("owners", "create", "alice")
    lost = json.loads(memo("keys", "create", "--owner", "alice", "--json"))
    monkeypatch.setenv("ENCRYPTION_KEY", generate_encryption_key())
    kept = json.loads(memo("keys", "create", "--owner", "alice", "--json"))

    result = CliRunner().invoke(main, ["keys", "reseal"])

    assert result.exit_code != 0
    assert "resealed 1 secret(s)" in result.output
    assert f"1 secret(s) open under no configured key and were left as they are: {lost['keyId']}" in result.output
    assert kept["keyId"] not in result.output.split("left as they are")[1]


async def test_a_format_1_secret_still_opens_and_reseal_rewrites_it_bound_to_its_key_id(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encryption_key = generate_encryption_key()
    monkeypatch.setenv("ENCRYPTION_KEY", encryption_key)
    await asyncio.to_thread(memo, "owners", "create", "alice")
    issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))

    def stored_sealed(new: bytes | None = None) -> bytes:
        with sqlite3.connect(data_dir / "memo.db") as database:
            if new is not None:
                database.execute("UPDATE api_keys SET sealed_secret = ? WHERE key_id = ?", (new, issued["keyId"]))
            row = database.execute("SELECT sealed_secret FROM api_keys WHERE key_id = ?",
                                   (issued["keyId"],)).fetchone()
        return bytes(row[0])

    assert stored_sealed()[0] == 0x02
    stored_sealed(seal_as_format_1(encryption_key, issued["secret"].encode()))
    assert await signed_get(issued) == (200, 200, "ok")

    assert "resealed 1 secret(s)" in await asyncio.to_thread(memo, "keys", "reseal")
    assert stored_sealed()[0] == 0x02
    assert await signed_get(issued) == (200, 200, "ok")


async def test_a_rotated_key_signs_with_both_secrets_in_a_running_server_and_after_a_reseal(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_encryption_key = generate_encryption_key()
    monkeypatch.setenv("ENCRYPTION_KEY", old_encryption_key)
    await asyncio.to_thread(memo, "owners", "create", "alice")
    issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--label", "phone",
                                                "--json"))
    assert await signed_get(issued) == (200, 200, "ok")

    output = await asyncio.to_thread(memo, "keys", "rotate", issued["keyId"], "--grace", "3600", "--json")
    rotated = json.loads(output)
    assert output.count(rotated["secret"]) == 1
    assert rotated["secret"] != issued["secret"]
    assert {name: rotated[name] for name in ("keyId", "owner", "label", "createdAt")} == {
        name: issued[name] for name in ("keyId", "owner", "label", "createdAt")}
    assert (datetime.fromisoformat(rotated["previousValidUntil"]) - datetime.now(UTC)).total_seconds() == (
        pytest.approx(3600, abs=60))
    assert await signed_get(rotated) == (200, 200, "ok")
    assert await signed_get(issued) == (200, 200, "ok")  # the previous secret, within its grace

    [listed] = json.loads(await asyncio.to_thread(memo, "keys", "list", "--json"))
    assert listed["previousValidUntil"] == rotated["previousValidUntil"]
    table = await asyncio.to_thread(memo, "keys", "list")
    assert f"rotated: previous secret until {rotated['previousValidUntil']}" in table
    assert rotated["secret"] not in table
    assert issued["secret"] not in table

    monkeypatch.setenv("ENCRYPTION_KEY", generate_encryption_key())
    monkeypatch.setenv("ENCRYPTION_KEYS_PREVIOUS", old_encryption_key)
    assert "resealed 2 secret(s)" in await asyncio.to_thread(memo, "keys", "reseal")  # current and previous
    monkeypatch.delenv("ENCRYPTION_KEYS_PREVIOUS")
    assert await signed_get(rotated) == (200, 200, "ok")
    assert await signed_get(issued) == (200, 200, "ok")


async def test_rotating_without_grace_refuses_the_previous_secret_at_once_and_revoking_ends_both(
        data_dir: Path) -> None:
    await asyncio.to_thread(memo, "owners", "create", "alice")
    issued = json.loads(await asyncio.to_thread(memo, "keys", "create", "--owner", "alice", "--json"))
    output = await asyncio.to_thread(memo, "keys", "rotate", issued["keyId"], "--grace", "0")
    assert "(the secret is not shown again)" in output
    secret = output.split("secret: ", 1)[1].split("\n", 1)[0]
    rotated = {"keyId": issued["keyId"], "secret": secret}
    assert (await signed_get(issued))[0] == 401
    assert await signed_get(rotated) == (200, 200, "ok")

    again = json.loads(await asyncio.to_thread(memo, "keys", "rotate", issued["keyId"], "--json"))
    await asyncio.to_thread(memo, "keys", "revoke", issued["keyId"])
    assert (await signed_get(again))[0] == 401
    assert (await signed_get(rotated))[0] == 401


@pytest.mark.parametrize(("args", "message"), [
    (("keys", "rotate", "mk_missing_key"), "No API key"),
    (("keys", "rotate", "mk_missing_key", "--grace", "-1"), "--grace"),
])
def test_rotating_a_missing_key_or_with_a_negative_grace_exits_non_zero(
        data_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0
    assert message in result.output
