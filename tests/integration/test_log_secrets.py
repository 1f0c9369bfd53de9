"""What `memo serve` and `memo worker` write, read back line by line: after a whole day's traffic, and from
several server processes sharing one rotating LOG_FILE.

A real server and a real worker (SQLite in the data dir, the Graph API and OpenAI as fakes over real HTTP), driven
through signed CRUD and search, refusals (bad signatures, a replay, no signature), Meta's webhook with good and bad
signatures and an unknown business number, the subscription check, sends Meta accepts and refuses, and a media
job that fails until it is parked. Then every line of LOG_FILE and of the worker's stdout must be one JSON object,
and none may hold a secret (the key's, ENCRYPTION_KEY, the WhatsApp app secret, verify token and access token, the
OpenAI key), a signature or nonce that was sent, or any text a memory or message carried.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from memo.adapters.crypto.aesgcm import generate_encryption_key
from memo.client import sign_request
from memo.entrypoints.cli import main
from memo.entrypoints.logs import HELD_AT_WARNING
from tests.e2e.test_whatsapp_webhook_api import fixture, signature, text_message
from tests.support.fake_graph import VERSION, FakeGraph, meta_error, sent
from tests.support.fake_openai import FakeOpenAI
from tests.support.server import free_port, start_server, stop_server, wait_until

pytestmark = pytest.mark.slow  # starts `memo serve` and `memo worker`

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")

NUMBER = "123456789012345"  # the fixtures' business phone_number_id
TO = "4915112345678"
APP_SECRET = "app-secret-Rt5Yu7Io9Pa1Sd3Fg5Hj7Kl9"
VERIFY_TOKEN = "verify-token-Qw2Er4Ty6Ui8"
ACCESS_TOKEN = "EAAGaccess-token-Zx1Cv3Bn5Nm7Lk9Jh2Gf4Ds6"
OPENAI_KEY = "sk-test-Po0Iu9Yt8Re7Wq6Ml5Nk4Bj3"
MEDIA_ID = "3000000000000001"
# every text a memory, a search or a message carries: none may reach a log line
CONTENT = {
    "created": "Created-Kq4Vw8 the spare key is under the blue pot",
    "updated": "Updated-Tz6Hn2 the spare key moved to the shed",
    "tag": "tag-Jm3Rx7",
    "query": "Query-Bf9Lc5 where is the spare key",
    "inbound": "Inbound-Yp2Wd6 dentist on Tuesday",
    "unknown": "Unknown-Gs8Ke1 a number nobody owns",
    "outbound": "Outbound-Nc4Qa9 see you at three",
    "refused": "Refused-Hx7Uv3 this one Meta refuses",
    "caption": "Caption-Df5Mo2 the receipt",
}


class Deployment:
    """A data dir, its environment, the key of its owner, and every signature and nonce sent to it."""

    def __init__(self, folder: Path, graph: FakeGraph, openai: FakeOpenAI) -> None:
        self.folder, self.log_file = folder, folder / "logs" / "memo.log"
        self.log_file.parent.mkdir()
        self.port = free_port()
        self.encryption_key = generate_encryption_key()
        self.env = {"MEMO_DATA_DIR": str(folder / "data"), "LOG_LEVEL": "debug", "LOG_FILE": str(self.log_file),
                    "ENCRYPTION_KEY": self.encryption_key, "MEMO_INPROCESS_WORKER": "false",
                    "MEMO_JOB_MAX_ATTEMPTS": "1",  # the failing media job is parked at once
                    "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                    "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
                    "WHATSAPP_API_BASE_URL": graph.base_url, "WHATSAPP_API_VERSION": VERSION,
                    "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": openai.base_url}
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        self.sent_secrets: list[str] = []  # signatures and nonces, as sent
        self.key: dict[str, str] = {}

    def cli(self, *args: str) -> str:
        unset: dict[str, str | None] = dict.fromkeys(("MEMO_ENV", "MEMO_PROFILE", "DATABASE_URL", "REDIS_URL"))
        result = CliRunner(env={**unset, **self.env}).invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    def signed(self, method: str, path: str, body: dict[str, Any] | None = None, *,
               headers: dict[str, str] | None = None) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body).encode()
        signed = sign_request(method=method, url_or_path_and_query=path, body=raw, key_id=self.key["keyId"],
                              secret=self.key["secret"])
        self.sent_secrets += [signed["X-Memo-Signature"], signed["X-Memo-Nonce"]]
        sent_headers = {**signed, **({"Content-Type": "application/json"} if body is not None else {}),
                        **(headers or {})}
        return self.http.request(method, path, content=raw, headers=sent_headers)

    def replay(self, path: str) -> tuple[httpx.Response, httpx.Response]:
        headers = sign_request(method="GET", url_or_path_and_query=path, body=b"", key_id=self.key["keyId"],
                               secret=self.key["secret"])
        self.sent_secrets += [headers["X-Memo-Signature"], headers["X-Memo-Nonce"]]
        return self.http.get(path, headers=headers), self.http.get(path, headers=headers)

    def deliver(self, notification: dict[str, Any], *, secret: str = APP_SECRET) -> httpx.Response:
        raw = json.dumps(notification).encode()
        sent_signature = signature(raw, secret)
        self.sent_secrets.append(sent_signature)
        return self.http.post("/api/whatsapp/webhook", content=raw, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sent_signature})

    def jobs(self) -> dict[str, int]:
        answer = self.signed("GET", "/api/whatsapp/sync-status")
        assert answer.status_code == 200, answer.text
        figures: dict[str, int] = answer.json()["data"]["jobs"]
        return figures


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def memo(tmp_path: Path, graph: FakeGraph, openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.chdir(tmp_path)  # no .env of the caller's is read by the CLI
    deployment = Deployment(tmp_path, graph, openai)
    try:
        yield deployment
    finally:
        deployment.http.close()


def start_worker(memo: Deployment) -> subprocess.Popen[bytes]:
    """`memo worker` with no LOG_FILE: its lines go to stdout, which must hold nothing else."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    env = {**clean, **{k: v for k, v in memo.env.items() if k != "LOG_FILE"}}
    with (memo.folder / "worker.out").open("wb") as out, (memo.folder / "worker.err").open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "memo", "worker"], cwd=memo.folder, env=env,
                                stdout=out, stderr=err, start_new_session=True)


def the_day(memo: Deployment, graph: FakeGraph) -> dict[str, Any]:
    """Everything a day brings, against the running server; the answers, for the asserts."""
    answers: dict[str, Any] = {}
    created = memo.signed("POST", "/api/memories", {"content": CONTENT["created"], "tags": [CONTENT["tag"]]})
    memory_id = created.json()["data"]["id"]
    answers["crud"] = [created.status_code,
                       memo.signed("GET", f"/api/memories?tags={CONTENT['tag']}").status_code,
                       memo.signed("PUT", f"/api/memories/{memory_id}", {"content": CONTENT["updated"]}).status_code,
                       memo.signed("GET", f"/api/memories/{memory_id}").status_code]
    answers["search"] = [memo.signed("POST", "/api/memories/search", {"query": CONTENT["query"], "mode": mode})
                         .status_code for mode in ("keyword", "semantic", "hybrid")]
    answers["delete"] = memo.signed("DELETE", f"/api/memories/{memory_id}").status_code
    answers["refused"] = [
        memo.signed("GET", "/api/memories", headers={"X-Memo-Signature": "v2=" + "ab" * 32}).json()["code"],
        *(answer.status_code for answer in memo.replay("/api/memories")),
        memo.http.get("/api/memories").json()["code"],
        memo.signed("POST", "/api/memories", {"content": ""}).status_code]
    answers["webhook"] = [
        memo.deliver(text_message("wamid.in-1", CONTENT["inbound"])).json(),
        memo.deliver(text_message("wamid.in-2", CONTENT["inbound"]), secret="not-the-app-secret-" * 2).status_code,
        memo.deliver(text_message("wamid.in-3", CONTENT["unknown"], number="999999999999999")).json()]
    image = fixture("image.json")
    image["entry"][0]["changes"][0]["value"]["messages"][0].update(id="wamid.in-4")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["image"].update(id=MEDIA_ID, caption=CONTENT["caption"])
    answers["media"] = memo.deliver(image).json()
    answers["subscribe"] = [memo.http.get("/api/whatsapp/webhook", params={
        "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}).status_code
        for token in (VERIFY_TOKEN, "not-the-verify-token")]
    graph.reply("POST", f"/{VERSION}/{NUMBER}/messages", sent("wamid.out-1", TO),
                meta_error(190, status=401, message=f"Invalid OAuth access token {ACCESS_TOKEN}"))
    answers["send"] = [memo.signed("POST", "/api/whatsapp/send", {"to": TO, "message": text, "type": "text"})
                       .status_code for text in (CONTENT["outbound"], CONTENT["refused"])]
    return answers


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of `path` as a JSON object; a line that is not one fails the test, naming it."""
    parsed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            value = json.loads(line)
        except ValueError:
            pytest.fail(f"{path.name} line {number} is not JSON: {line[:200]!r}")
        assert isinstance(value, dict), f"{path.name} line {number} is not an object: {line[:200]!r}"
        parsed.append(value)
    return parsed


def test_every_line_is_json_and_no_secret_signature_nonce_or_content_reaches_any(
        memo: Deployment, graph: FakeGraph) -> None:
    memo.cli("owners", "create", "anna", "--whatsapp-phone-number-id", NUMBER)
    memo.key = json.loads(memo.cli("keys", "create", "--owner", "anna", "--json"))
    graph.reply("GET", f"/{VERSION}/{MEDIA_ID}", meta_error(1, status=500, message=f"token {ACCESS_TOKEN} refused"))
    server = start_server(memo.folder, memo.port, memo.env)
    worker = start_worker(memo)
    try:
        answers = the_day(memo, graph)
        assert wait_until(lambda: memo.jobs()["pending"] == 0 and memo.jobs()["running"] == 0, timeout_s=30)
        failed_jobs = memo.jobs()["failed"]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        stop_server(server)

    assert answers["crud"] == [201, 200, 200, 200]
    assert answers["search"] == [200, 200, 200]
    assert answers["delete"] == 200
    assert answers["refused"] == ["INVALID_SIGNATURE", 200, 401, "MISSING_SIGNATURE", 400]
    assert answers["webhook"] == [{"success": True, "processed": 1}, 401, {"success": True, "processed": 0}]
    assert answers["media"] == {"success": True, "processed": 1}
    assert answers["subscribe"] == [200, 403]
    assert answers["send"] == [200, 502]
    assert failed_jobs == 1  # the media job, parked
    assert worker.returncode == 0

    served, worked = json_lines(memo.log_file), json_lines(memo.folder / "worker.out")
    by_logger: dict[str, list[dict[str, Any]]] = {}
    for line in served + worked:
        assert {"time", "level", "logger", "message"} <= set(line), line
        by_logger.setdefault(line["logger"], []).append(line)
    # the lines are there to be searched: start-up, access, audit, the worker's own
    messages = {line["message"] for line in by_logger["uvicorn.error"]}
    assert any(message.startswith("Started server process") for message in messages)
    assert "Application startup complete." in messages
    assert len(by_logger["memo.access"]) >= 20
    assert {line["route"] for line in by_logger["memo.access"]} >= {
        "/api/memories", "/api/memories/{memory_id}", "/api/memories/search", "/api/whatsapp/webhook",
        "/api/whatsapp/send", "/health"}
    reasons = {line["reason"].split()[0] for line in by_logger["memo.audit"]}
    assert reasons >= {"API_KEY_ISSUED", "INVALID_SIGNATURE", "REPLAYED_REQUEST", "MISSING_SIGNATURE",
                       "INVALID_WHATSAPP_SIGNATURE", "UNKNOWN_PHONE_NUMBER_ID"}
    assert any(re.fullmatch(r"worker \S+ started", line["message"]) for line in worked)
    held = [line for line in served + worked if line["logger"].split(".")[0] in HELD_AT_WARNING
            and line["level"] in {"debug", "info"}]
    assert held == []  # at LOG_LEVEL=debug too: the HTTP clients' lines show headers and URLs
    assert any("failed on attempt 1" in line["message"] for line in worked)

    written = memo.log_file.read_text(encoding="utf-8") + (memo.folder / "worker.out").read_text(encoding="utf-8")
    decoded = json.dumps(served + worked, ensure_ascii=False)
    never = {"the key's secret": memo.key["secret"], "ENCRYPTION_KEY": memo.encryption_key,
             "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
             "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "OPENAI_API_KEY": OPENAI_KEY,
             **{f"sent {number}": value for number, value in enumerate(memo.sent_secrets)},
             **{f"content {name}": text for name, text in CONTENT.items()},
             **{f"content {name}, its first word": text.split()[0] for name, text in CONTENT.items()}}
    assert len(memo.sent_secrets) > 20
    leaks = [name for name, value in never.items() if value in written or value in decoded]
    assert leaks == []


def log_files(path: Path) -> list[Path]:
    """LOG_FILE and its backups, newest first."""
    return [path, *sorted(path.parent.glob(f"{path.name}.[0-9]*"), key=lambda item: int(item.suffix[1:]))]


@pytest.mark.redis
def test_server_processes_sharing_log_file_rotate_it_once_each_time_and_lose_no_line(tmp_path: Path) -> None:
    if not REDIS_URL:
        pytest.skip("MEMO_TEST_REDIS_URL is not set")
    log_file, port, max_bytes, requests = tmp_path / "memo.log", free_port(), 64 * 1024, 700
    env = {"MEMO_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": REDIS_URL, "LOG_FILE": str(log_file),
           "LOG_FILE_MAX_BYTES": str(max_bytes), "LOG_FILE_BACKUPS": "50"}
    server = start_server(tmp_path, port, env, args=["--workers", "2"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          limits=httpx.Limits(max_keepalive_connections=0)) as client:  # a new connection each
            answers = [client.get("/health/live", headers={"X-Request-ID": f"rotation-{number}"}).status_code
                       for number in range(requests)]
    finally:
        stop_server(server)

    assert answers == [200] * requests
    files = log_files(log_file)
    lines = [line for file in files for line in json_lines(file)]
    started = {line["message"] for line in lines if line["message"].startswith("Started server process")}
    assert len(started) == 2  # both workers wrote to the one file
    ids = sorted(line["request_id"] for line in lines  # start_server's own polls of /health aside
                 if line["logger"] == "memo.access" and line["request_id"].startswith("rotation-"))
    assert ids == sorted(f"rotation-{number}" for number in range(requests))  # each line once, none lost
    assert len(files) >= 3
    longest = max(len(line) + 1 for file in files for line in file.read_bytes().splitlines())
    for backup in files[1:]:  # rotated when full, by one process: never a fresh file rotated again
        assert max_bytes - longest < backup.stat().st_size <= max_bytes, backup.name
