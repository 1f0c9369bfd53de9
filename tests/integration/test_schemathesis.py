"""Schemathesis against a running `memo serve`: every operation of the live OpenAPI document, every request signed.

The embedded default on a fresh data dir, a key made by `memo keys create`, limits raised so the run is not all
429, WhatsApp sending pointed at a fake Cloud API on 127.0.0.1. Schemathesis' own command runs it, with this file
as its hooks module: a `before_call` hook gives each case a `requests` auth that signs the request as prepared
(the final path, query and body bytes), scheme v2 for Memo's routes and Meta's X-Hub-Signature-256 for the
webhook POST, so generated data reaches the handlers instead of stopping at the signature check. Deterministic
(Schemathesis' own mode: no seed, no example database) and bounded: the same cases every run, about a minute on
two cores. docs/openapi.md says how to run more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis

from memo.client import sign_request
from tests.support.fake_graph import MESSAGES_PATH, PHONE_NUMBER_ID, FakeGraph, sent
from tests.support.server import free_port, kill_group, start_server

pytestmark = pytest.mark.slow

APP_SECRET = "schemathesis-app-secret-0123456789abcdef"
WEBHOOK = "/api/whatsapp/webhook"
NOTIFIED_NUMBER = "123456789012345"  # the phone_number_id of the document's webhook example
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "response_headers_conformance")
KEY_VARIABLE = "MEMO_SCHEMATHESIS_KEY"
RUN_TIMEOUT_S = 600
MAX_EXAMPLES = 40  # fuzzing cases per operation and stateful scenarios, beside the examples and coverage phases
MIN_CASES = 800  # what a run of this budget generates at the least (1328 when last counted)


@dataclass(frozen=True, slots=True)
class Running:
    base_url: str
    key_id: str
    secret: str
    folder: Path


class SignedByMemo(requests.auth.AuthBase):
    """Signs the request as prepared, so the signature covers exactly the path, query and body that are sent."""

    def __init__(self, key_id: str, secret: str) -> None:
        self._key_id, self._secret = key_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)  # type: ignore[arg-type]
        target = request.path_url
        if target.split("?", 1)[0] == WEBHOOK:
            if request.method == "POST":
                digest = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
                request.headers["X-Hub-Signature-256"] = f"sha256={digest}"
            return request
        request.headers.update(sign_request(method=str(request.method), url_or_path_and_query=target, body=raw,
                                            key_id=self._key_id, secret=self._secret))
        return request


def memo_cli(folder: Path, *args: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MEMO_", "DATABASE_URL", "REDIS_URL"))}
    done = subprocess.run([sys.executable, "-m", "memo", *args], cwd=folder, env=clean,  # noqa: S603 - our command
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def memo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("schemathesis")
    memo_cli(folder, "owners", "create", "fuzz", "--whatsapp-phone-number-id", NOTIFIED_NUMBER)
    key = json.loads(memo_cli(folder, "keys", "create", "--owner", "fuzz", "--json"))
    graph = FakeGraph()
    graph.reply("POST", MESSAGES_PATH, sent())
    port = free_port()
    process = start_server(folder, port, {
        "RATE_LIMIT_MAX_REQUESTS": "100000000", "RATE_LIMIT_IP_MAX_REQUESTS": "100000000",
        "SEND_RATE_LIMIT_MAX_REQUESTS": "100000000", "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "EAAG" + "s" * 40, "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_API_BASE_URL": graph.base_url, "MEMO_ACCESS_LOG": "false"})
    try:
        yield Running(base_url=f"http://127.0.0.1:{port}", key_id=key["keyId"], secret=key["secret"], folder=folder)
    finally:
        kill_group(process)
        graph.close()


def schemathesis_run(running: Running) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` on the live document, signed through this file's hook; its output says what failed."""
    repository = Path(__file__).parents[2]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": __name__, "PYTHONPATH": str(repository),
           KEY_VARIABLE: json.dumps({"keyId": running.key_id, "secret": running.secret})}
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{running.base_url}/schema/openapi.json",
               "--checks", ",".join(CHECKS), "--mode", "all", "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
               "--generation-with-security-parameters", "false",
               "--workers", "1", "--request-timeout", "10", "--no-color", "--suppress-health-check", "too_slow",
               "--report", "junit", "--report-dir", str(running.folder / "schemathesis-report")]
    return subprocess.run(command, cwd=running.folder, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=RUN_TIMEOUT_S, check=False)


def test_every_operation_answers_as_documented_signed_and_never_5xx(memo_server: Running) -> None:
    done = schemathesis_run(memo_server)
    (memo_server.folder / "schemathesis.out").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]
    ran = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert ran is not None, done.stdout[-5_000:]
    assert int(ran[1]) == int(ran[2]) >= MIN_CASES, ran[0]
    # Signed and Meta-signed cases get through: only the verification GET, whose token nobody can guess, is refused.
    refused = done.stdout.partition("returned only 401/403 responses")[2].partition("💡")[0]
    assert re.findall(r"- (\w+ \S+)", refused) == ["GET /api/whatsapp/webhook"], done.stdout[-5_000:]


if KEY_VARIABLE in os.environ:  # loaded by `schemathesis run` as its hooks module
    _KEY = json.loads(os.environ[KEY_VARIABLE])
    # the import's JSON Lines body is a string: sent as it is, as text/plain would be
    schemathesis.serializer.alias(["application/x-ndjson", "application/jsonl"], "text/plain")

    @schemathesis.hook
    def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
        kwargs["auth"] = SignedByMemo(_KEY["keyId"], _KEY["secret"])
