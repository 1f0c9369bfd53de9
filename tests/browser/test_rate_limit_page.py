"""A key over its rate limit: the page says so and how long to wait, from the answer's Retry-After."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Response, expect

from tests.browser import memo_page
from tests.browser.live_memo import LiveMemo
from tests.browser.page_watch import PageWatch

LIMIT = 6


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    # a one-minute window, so the wait is said in seconds
    return {"RATE_LIMIT_MAX_REQUESTS": str(LIMIT), "RATE_LIMIT_WINDOW_MS": "60000"}


def test_a_key_over_its_limit_is_told_how_long_to_wait(watch: PageWatch, memo: LiveMemo) -> None:
    page = watch.page
    watch.expect_status(429)
    refused: list[Response] = []
    page.on("response", lambda answer: refused.append(answer) if answer.status == 429 else None)

    memo_page.set_key_by_json(page, memo.key)
    refresh = page.get_by_role("button", name="Refresh", exact=True)
    for _ in range(LIMIT + 2):
        if refused:
            break
        with page.expect_response(lambda answer: answer.url.startswith(f"{memo.url}/api/")):
            refresh.click()
    assert refused, f"no 429 after {LIMIT + 2} refreshes"
    retry_after = int(refused[0].headers["retry-after"])

    said = memo_page.messages(page)
    expect(said).to_contain_text("Too many requests for now.")
    expect(said).to_contain_text(re.compile(r"Wait \d+ seconds and try again\."))
    waited = int(re.search(r"Wait (\d+) seconds", said.inner_text()).group(1))  # type: ignore[union-attr]
    assert retry_after - 2 <= waited <= retry_after
