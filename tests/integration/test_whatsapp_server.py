"""The whole WhatsApp path through a real `memo serve` (API.md section 4), with the Graph API a fake over real HTTP.

Meta's signed webhook, the in-process worker's media job, sends and their statuses, the sync status, an owner's
number moved by the CLI while the server runs, and a restart: each on the embedded default (SQLite in the data dir),
the media job once more on PostgreSQL when MEMO_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from memo.client import sign_request
from memo.entrypoints.cli import main
from tests.e2e.test_whatsapp_webhook_api import fixture, signature, status, text_message
from tests.integration.conftest import run_in_own_loop
from tests.support.fake_graph import VERSION, FakeGraph, meta_error, sent, text_reply
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, database_url, drop_database
from tests.support.server import free_port, server_output, start_server, stop_server, wait_until

pytestmark = pytest.mark.slow  # every test starts `memo serve` processes

NUMBER = "123456789012345"  # the fixtures' receiving phone_number_id, and the number Memo sends from
MESSAGES_PATH = f"/{VERSION}/{NUMBER}/messages"
TO = "4915112345678"
APP_SECRET = "app-secret-Zq8Rw3Lm5Tx7Vb9Nc2Kd4Hf6Jg1Ps0Ay"
VERIFY_TOKEN = "verify-token-Uo3Ie5Wr7Ty9"
ACCESS_TOKEN = "EAAGaccess-token-Xk2Mv4Bn6Qw8Er1Ty3Ui5Op7As9Df0Gh"
MEDIA_ID = "1284563907712345"  # the image fixture's media id
IMAGE = b"\xff\xd8\xff\xe0 a receipt from today \xff\xd9"


class Memo:
    """One data dir, its environment, and the requests a test makes to the `memo serve` started on it."""

    def __init__(self, folder: Path, graph: FakeGraph) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.env = {"MEMO_DATA_DIR": str(self.data), "LOG_LEVEL": "info",
                    "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                    "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
                    "WHATSAPP_API_BASE_URL": graph.base_url, "WHATSAPP_API_VERSION": VERSION,
                    "RATE_LIMIT_MAX_REQUESTS": "100000"}  # the tests poll the sync status
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def cli(self, *args: str) -> str:
        """`memo ...` on this data dir and environment, in this process (another one than the server's)."""
        unset: dict[str, str | None] = dict.fromkeys(("MEMO_ENV", "MEMO_PROFILE", "DATABASE_URL", "REDIS_URL",
                                                      "ENCRYPTION_KEY", "ENCRYPTION_KEYS_PREVIOUS"))
        result = CliRunner(env={**unset, **self.env}).invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def owner(self, name: str, number: str | None = None) -> dict[str, str]:
        """A new owner (with the business number, if given) and a key of theirs: {keyId, secret, owner, ownerId}."""
        created = self.cli("owners", "create", name, *(["--whatsapp-phone-number-id", number] if number else []))
        owner_id = re.search(r"\(([0-9a-f-]{36})\)", created)
        assert owner_id is not None, created
        issued = json.loads(self.cli("keys", "create", "--owner", name, "--json"))
        return {**issued, "ownerId": owner_id[1]}

    @contextmanager
    def serving(self, *, kill: bool = False) -> Iterator[subprocess.Popen[str]]:
        """`memo serve` on the data dir until the block ends: stopped with SIGINT (or SIGKILL), its group gone."""
        process = start_server(self.folder, self.port, self.env)
        try:
            yield process
        finally:
            stop_server(process, kill=kill)

    def output(self) -> str:
        return server_output(self.folder)

    def deliver(self, notification: dict[str, Any] | bytes, *, secret: str = APP_SECRET,
                headers: dict[str, str] | None = None) -> httpx.Response:
        """POST the webhook as Meta does: the raw bytes, signed with the app secret."""
        raw = notification if isinstance(notification, bytes) else json.dumps(notification).encode()
        return self.http.post("/api/whatsapp/webhook", content=raw, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": signature(raw, secret), **(headers or {})})

    def signed(self, key: dict[str, str], method: str, path: str,
               body: dict[str, Any] | None = None) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = sign_request(method=method, url_or_path_and_query=path, body=raw, key_id=key["keyId"],
                               secret=key["secret"])
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, path, content=raw, headers=headers)

    def send(self, key: dict[str, str], text: str) -> httpx.Response:
        return self.signed(key, "POST", "/api/whatsapp/send", {"to": TO, "message": text, "type": "text"})

    def sync_status(self, key: dict[str, str]) -> dict[str, Any]:
        answer = self.signed(key, "GET", "/api/whatsapp/sync-status")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def memories(self, key: dict[str, str]) -> list[dict[str, Any]]:
        answer = self.signed(key, "GET", "/api/memories?limit=100")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["data"]
        return found

    def settled(self, key: dict[str, str], **expected: Any) -> dict[str, Any]:
        """The sync status once its `expected` parts hold (within 30 s: the worker also indexes every message with
        the local model, which loads on the first one), else the last one read, for the assert."""
        def holds() -> bool:
            figures = self.sync_status(key)
            return all(figures[name] == value for name, value in expected.items())
        wait_until(holds, timeout_s=30)
        return self.sync_status(key)


IDLE = {"pending": 0, "running": 0, "failed": 0}  # every job done: media, indexing


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def memo(tmp_path: Path, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> Iterator[Memo]:
    monkeypatch.chdir(tmp_path)  # no .env of the caller's is read by the CLI
    deployment = Memo(tmp_path, graph)
    try:
        yield deployment
    finally:
        deployment.http.close()


def image_message(message_id: str, media_id: str = MEDIA_ID, caption: str = "Receipt from today") -> dict[str, Any]:
    notification = fixture("image.json")
    message = notification["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = message_id
    message["image"].update(id=media_id, caption=caption)
    return notification


def bearer(graph: FakeGraph, path: str) -> list[str | None]:
    """The Authorization header of every request the fake saw for `path`, in order."""
    return [request.headers.get("authorization") for request in graph.requests_to(path)]


def test_an_image_notification_is_acknowledged_and_its_media_fetched_into_a_private_file(
        memo: Memo, graph: FakeGraph) -> None:
    anna = memo.owner("anna", NUMBER)
    graph.serve_media(MEDIA_ID, IMAGE)
    with memo.serving():
        answer = memo.deliver(image_message("wamid.image-1"))
        assert (answer.status_code, answer.json()) == (200, {"success": True, "processed": 1})

        figures = memo.settled(anna, media={"pending": 0, "stored": 1, "failed": 0}, jobs=IDLE)

    assert figures["media"] == {"pending": 0, "stored": 1, "failed": 0}
    assert figures["jobs"] == {"pending": 0, "running": 0, "failed": 0}
    assert figures["received"] == 1
    assert bearer(graph, f"/{VERSION}/{MEDIA_ID}") == [f"Bearer {ACCESS_TOKEN}"]
    assert bearer(graph, f"/media/{MEDIA_ID}") == [f"Bearer {ACCESS_TOKEN}"]
    kept = memo.data / "media" / anna["ownerId"] / hashlib.sha256(MEDIA_ID.encode()).hexdigest()
    assert kept.read_bytes() == IMAGE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [path.name for path in (memo.data / "media").rglob("*") if path.is_file()] == [kept.name]


def test_a_send_reaches_the_cloud_api_as_metas_request_and_its_read_status_shows_in_the_sync_status(
        memo: Memo, graph: FakeGraph) -> None:
    anna = memo.owner("anna", NUMBER)
    graph.reply("POST", MESSAGES_PATH, sent("wamid.sent-1", TO))
    with memo.serving():
        answer = memo.send(anna, "Dentist at 3pm, see you")
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        read = memo.deliver(status("wamid.sent-1", "read"))
        figures = memo.sync_status(anna)
        memory = memo.signed(anna, "GET", f"/api/memories/{data['memoryId']}").json()["data"]

    assert (data["messageId"], data["to"], data["status"]) == ("wamid.sent-1", TO, "sent")
    [request] = graph.requests_to(MESSAGES_PATH)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO,
                              "type": "text", "text": {"body": "Dentist at 3pm, see you", "preview_url": False}}
    assert (memory["type"], memory["metadata"]["whatsappMessageId"]) == ("whatsapp_sent", "wamid.sent-1")
    assert (read.status_code, read.json()) == (200, {"success": True, "processed": 0})
    assert figures["sent"] == 1
    assert figures["deliveries"] == {"sent": 0, "delivered": 0, "read": 1, "failed": 0}


def test_metas_refusals_of_a_send_answer_their_codes_and_store_nothing(memo: Memo, graph: FakeGraph) -> None:
    anna = memo.owner("anna", NUMBER)
    graph.reply("POST", MESSAGES_PATH, meta_error(131047, message="(#131047) Re-engagement message"),
                meta_error(190, status=401, message="Error validating access token: Session has expired"))
    with memo.serving():
        outside_window, token_refused = memo.send(anna, "hello again"), memo.send(anna, "hello again")
        figures = memo.sync_status(anna)
        stored = memo.memories(anna)

    assert (outside_window.status_code, outside_window.json()["code"]) == (422, "OUTSIDE_CUSTOMER_CARE_WINDOW")
    assert (token_refused.status_code, token_refused.json()["code"]) == (502, "UPSTREAM_AUTH_ERROR")
    assert len(graph.requests_to(MESSAGES_PATH)) == 2
    assert (figures["sent"], stored) == (0, [])


def test_the_access_token_app_secret_and_message_texts_never_reach_the_output_even_on_failures(
        memo: Memo, graph: FakeGraph) -> None:
    memo.env["MEMO_JOB_MAX_ATTEMPTS"] = "1"  # a failing media job is parked at its first failure
    anna = memo.owner("anna", NUMBER)
    incoming, caption, outgoing = "Inbound-Mq7Zr2 the dentist", "Caption-Hv5Ty8 receipt", "Outbound-Lw9Xp4 at three"
    quoting = f"Invalid OAuth access token {ACCESS_TOKEN}"  # Meta quoting the token back must change nothing
    graph.reply("GET", f"/{VERSION}/2000000000000001", meta_error(1, status=500, message=quoting))
    graph.serve_media("2000000000000002", IMAGE)
    graph.reply("GET", "/media/2000000000000002", meta_error(10, status=403, message=quoting))
    graph.reply("POST", MESSAGES_PATH, sent("wamid.sent-1", TO), meta_error(190, status=401, message=quoting),
                meta_error(131047, details=quoting), text_reply(f"<html>{quoting}</html>", status=502))
    with memo.serving():
        refused = [memo.deliver(text_message("wamid.in-1", incoming), secret="not-the-app-secret-" * 2),
                   memo.deliver(text_message("wamid.in-1", incoming), headers={"X-Hub-Signature-256": ""}),
                   memo.deliver(f"{{not json {incoming}".encode())]
        accepted = [memo.deliver(text_message("wamid.in-1", incoming)),
                    memo.deliver(image_message("wamid.in-2", "2000000000000001", caption)),
                    memo.deliver(image_message("wamid.in-3", "2000000000000002", caption))]
        sends = [memo.send(anna, outgoing) for _ in range(4)]
        subscribed = [memo.http.get("/api/whatsapp/webhook", params={
            "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}).status_code
            for token in (VERIFY_TOKEN, "not-the-verify-token")]
        figures = memo.settled(anna, media={"pending": 0, "stored": 0, "failed": 2},
                               jobs={"pending": 0, "running": 0, "failed": 2})
    output = memo.output()

    assert [answer.status_code for answer in refused] == [401, 401, 400]
    assert [answer.json()["processed"] for answer in accepted] == [1, 1, 1]
    assert [answer.status_code for answer in sends] == [200, 502, 422, 502]
    assert not [answer.text for answer in sends if ACCESS_TOKEN in answer.text]
    assert subscribed == [200, 403]
    assert figures["jobs"] == {"pending": 0, "running": 0, "failed": 2}
    assert bearer(graph, "/media/2000000000000002") == [f"Bearer {ACCESS_TOKEN}"]  # the download did fail
    assert "INVALID_WHATSAPP_SIGNATURE" in output
    assert "failed on attempt 1" in output
    for secret in (ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, incoming, caption, outgoing, anna["secret"]):
        assert secret not in output


def test_a_number_moved_by_the_cli_while_the_server_runs_delivers_to_its_new_owner_at_once(
        memo: Memo, graph: FakeGraph) -> None:
    anna, bob = memo.owner("anna", NUMBER), memo.owner("bob")
    with memo.serving() as process:
        before = memo.deliver(text_message("wamid.before", "for anna, before the move"))
        memo.cli("owners", "update", "anna", "--clear-whatsapp-phone-number-id")
        memo.cli("owners", "update", "bob", "--whatsapp-phone-number-id", NUMBER)
        after = memo.deliver(text_message("wamid.after", "for bob, after the move"))
        annas, bobs = memo.memories(anna), memo.memories(bob)
        assert process.poll() is None  # the same server, never restarted

    assert [before.json()["processed"], after.json()["processed"]] == [1, 1]
    assert [memory["content"] for memory in annas] == ["for anna, before the move"]
    assert [memory["content"] for memory in bobs] == ["for bob, after the move"]
    assert bobs[0]["metadata"]["whatsappMessageId"] == "wamid.after"


def test_a_server_restarted_on_its_data_dir_keeps_everything_and_stores_no_redelivery_again(
        memo: Memo, graph: FakeGraph) -> None:
    anna = memo.owner("anna", NUMBER)
    graph.serve_media(MEDIA_ID, IMAGE)
    graph.reply("POST", MESSAGES_PATH, sent("wamid.sent-1", TO))
    notifications = [text_message("wamid.text-1", "kept across the restart"), image_message("wamid.image-1")]
    with memo.serving(kill=True):  # SIGKILL: whatever was acknowledged was durable
        first = [memo.deliver(notification).json()["processed"] for notification in notifications]
        assert memo.send(anna, "sent before the restart").status_code == 200
        memo.deliver(status("wamid.sent-1", "read"))
        before = memo.settled(anna, media={"pending": 0, "stored": 1, "failed": 0}, jobs=IDLE)
        kept = memo.memories(anna)
    with memo.serving():
        again = [memo.deliver(notification).json()["processed"] for notification in notifications]
        after = memo.sync_status(anna)
        still = memo.memories(anna)

    assert (first, again) == ([1, 1], [0, 0])
    assert before["media"] == {"pending": 0, "stored": 1, "failed": 0}
    assert (before["received"], before["sent"], before["deliveries"]["read"]) == (2, 1, 1)
    assert after == before
    assert still == kept
    assert len(kept) == 3
    assert len(graph.requests_to(f"/{VERSION}/{MEDIA_ID}")) == 1  # the redelivered image made no second job


@pytest.mark.postgres
def test_on_postgresql_an_image_notifications_media_is_fetched_by_the_in_process_worker(
        memo: Memo, graph: FakeGraph) -> None:
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run memo serve on PostgreSQL")
    name = run_in_own_loop(lambda: create_database("memo_whatsapp_serve"))
    try:
        memo.env.update(DATABASE_URL=database_url(name), MEMO_INPROCESS_WORKER="true")
        anna = memo.owner("anna", NUMBER)
        graph.serve_media(MEDIA_ID, IMAGE)
        with memo.serving():
            answer = memo.deliver(image_message("wamid.image-1"))
            figures = memo.settled(anna, media={"pending": 0, "stored": 1, "failed": 0}, jobs=IDLE)
    finally:
        run_in_own_loop(lambda: drop_database(name))

    assert (answer.status_code, answer.json()) == (200, {"success": True, "processed": 1})
    assert (figures["media"]["stored"], figures["jobs"]["pending"]) == (1, 0)
    assert bearer(graph, f"/{VERSION}/{MEDIA_ID}") == bearer(graph, f"/media/{MEDIA_ID}") == [f"Bearer {ACCESS_TOKEN}"]
    kept = memo.data / "media" / anna["ownerId"] / hashlib.sha256(MEDIA_ID.encode()).hexdigest()
    assert kept.read_bytes() == IMAGE
