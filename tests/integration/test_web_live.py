"""`memo serve` serves the page as a browser meets it: every answer, the page's and the API's refusals alike,
carries the `Date` header the signer corrects its clock from (docs/frontend.md, "Clocks")."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path
from time import time

import pytest

from tests.support.server import free_port, serving

pytestmark = pytest.mark.slow  # starts `memo serve`

PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, {k.lower(): v for k, v in refused.headers.items()}, refused.read()


def test_the_page_and_the_api_answer_with_the_date_the_signer_corrects_its_clock_from(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port):
        answers = {path: fetch(port, path) for path in ("/", "/app/main.js", "/app/signer/signed-fetch.js",
                                                         "/api/memories")}

    for path, (status, headers, _) in answers.items():
        assert status == (401 if path.startswith("/api/") else 200), path
        assert abs(parsedate_to_datetime(headers["date"]).timestamp() - time()) < 60, path
    _, page_headers, page_body = answers["/"]
    assert page_headers["content-security-policy"] == PAGE_CSP
    assert page_headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/app/main.js"></script>' in page_body
    assert answers["/api/memories"][1]["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
