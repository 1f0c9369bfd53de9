"""Regenerate the page's screenshots under docs/screenshots/ (by hand, not in CI):

    MEMO_TEST_CHROMIUM=/usr/bin/chromium uv run python -m tests.browser.screenshots

A fresh `memo serve` in a temp data dir, a few memories of an imagined person, then each view as a person sees it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import FloatRect, Page, ViewportSize, expect, sync_playwright

from tests.browser import memo_page
from tests.browser.live_memo import LiveMemo, live_memo

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: ViewportSize = {"width": 1100, "height": 760}
PHONE: ViewportSize = {"width": 360, "height": 740}
MEMORIES = [
    ("My sister Anna's birthday is on the fourth of March; she would love a book on Italian gardens.",
     "note", ["family", "birthdays"]),
    ("The spare house key is under the blue flower pot by the back door.", "note", ["home"]),
    ("Dentist appointment with Dr. Okafor on Thursday at 3 pm; bring the insurance card.", "reminder",
     ["health"]),
    ("The wifi password at the cabin is written inside the kitchen cupboard door.", "note", ["cabin", "home"]),
    ("Renew the car insurance before the end of the month.", "reminder", ["car", "errands"]),
    ("Buy compost and tomato seedlings at the Saturday market.", "reminder", ["garden", "errands"]),
]


def seed(memo: LiveMemo) -> dict[str, str]:
    ids = {}
    for content, kind, tags in MEMORIES:
        answer = memo.request("POST", "/api/memories", {"content": content, "type": kind, "tags": tags})
        ids[content] = answer.json()["data"]["id"]
    deadline = time.monotonic() + 30  # the worker indexes them for search by meaning
    while time.monotonic() < deadline:
        hits = memo.request("POST", "/api/memories/search", {"query": MEMORIES[-1][0], "mode": "semantic"})
        if ids[MEMORIES[-1][0]] in {hit["memory"]["id"] for hit in hits.json()["data"]}:
            break
        time.sleep(0.2)
    return ids


def key_setup(page: Page, memo: LiveMemo) -> None:
    page.goto("/")
    expect(memo_page.key_form(page)).to_be_visible()
    page.get_by_label("Key id", exact=True).fill(memo.key["keyId"])


def filtered_list(page: Page, memo: LiveMemo) -> None:
    memo_page.set_key_by_json(page, memo.key)
    form = memo_page.filters(page)
    form.get_by_label("Of type", exact=True).select_option("reminder")
    form.get_by_label("With tags", exact=True).fill("errands")
    form.get_by_role("button", name="Apply filters", exact=True).click()
    expect(memo_page.memory_list(page).get_by_role("listitem")).to_have_count(2)


def search_by_meaning(page: Page, memo: LiveMemo) -> None:
    memo_page.set_key_by_json(page, memo.key)
    results = memo_page.search(page, "when does my sibling celebrate getting older", "Semantic")
    expect(results.get_by_role("listitem").first).to_be_visible()


def answer_with_citations(page: Page, memo: LiveMemo) -> None:
    memo_page.set_key_by_json(page, memo.key)
    answer = memo_page.ask(page, "Where is the spare key?")
    expect(answer.get_by_role("list", name="Sources", exact=True)).to_be_visible()


def edit_conflict(page: Page, memo: LiveMemo) -> None:
    memory = memo.request("POST", "/api/memories", {"content": "The plumber comes on Monday morning."}).json()["data"]
    memo_page.set_key_by_json(page, memo.key)
    memo_page.memory_item(page, "The plumber").get_by_role("button", name="Edit", exact=True).click()
    memo.request("PUT", f"/api/memories/{memory['id']}", {"content": "The plumber comes on Tuesday at 10."})
    memo_page.editor(page).get_by_label("Content", exact=True).fill("The plumber comes on Friday instead.")
    memo_page.editor(page).get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("group", name="Newer version", exact=True)).to_be_visible()


def phone_list(page: Page, memo: LiveMemo) -> None:
    page.set_viewport_size(PHONE)
    memo_page.set_key_by_json(page, memo.key)
    expect(memo_page.memory_list(page).get_by_role("listitem").first).to_be_visible()


# name -> how to get there, and the height kept of the whole page (None: all of it)
SHOTS: dict[str, tuple[Callable[[Page, LiveMemo], None], int | None]] = {
    "key-setup": (key_setup, None),
    "list-filtered": (filtered_list, None),
    "search-by-meaning": (search_by_meaning, 1000),
    "answer-with-citations": (answer_with_citations, None),
    "edit-conflict": (edit_conflict, None),
    "list-360px": (phone_list, 1400),
}


def main() -> None:
    chromium = os.environ.get("MEMO_TEST_CHROMIUM", "/usr/bin/chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, live_memo(Path(folder)) as memo, sync_playwright() as driver:
        seed(memo)
        browser = driver.chromium.launch(executable_path=chromium, headless=True)
        for name, (show, height) in SHOTS.items():
            context = browser.new_context(base_url=memo.url, viewport=DESKTOP, color_scheme="light",
                                          locale="en-US", timezone_id="UTC")
            page = context.new_page()
            show(page, memo)
            page.evaluate("document.activeElement instanceof HTMLElement && document.activeElement.blur()")
            page.evaluate("window.scrollTo(0, 0)")  # a view moves the focus to its heading, scrolling past the top
            path = OUT / f"{name}.png"
            width = page.viewport_size["width"] if page.viewport_size else DESKTOP["width"]
            whole = page.evaluate("document.documentElement.scrollHeight")
            clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": min(whole, height or whole)}
            page.screenshot(path=path, full_page=True, clip=clip)
            sys.stdout.write(f"{path.relative_to(OUT.parents[1])}\n")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
