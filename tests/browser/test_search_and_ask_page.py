"""Search by meaning and ask in the page, against the embedded default's local embedder and extractive answerer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import memo_page
from tests.browser.live_memo import LiveMemo

BIRTHDAY = "My sister Anna's birthday is on the fourth of March."
SPARE_KEY = "The spare house key is under the blue flower pot by the back door."
MEMORIES = [BIRTHDAY, SPARE_KEY, "Dentist appointment with Dr. Okafor on Thursday at 3 pm.",
            "The wifi password at the cabin is written inside the kitchen cupboard."]
INDEXED_WITHIN_S = 30


def shown_date(instant: str) -> str:
    """An instant as the page writes it for en-US in UTC (the browser context's locale and zone)."""
    moment = datetime.fromisoformat(instant).astimezone(UTC)
    return moment.strftime("%b %-d, %Y, %-I:%M %p")


@pytest.fixture(scope="module")
def remembered(memo: LiveMemo) -> dict[str, dict[str, Any]]:
    """The memories by content, once the worker has indexed every one of them for search by meaning."""
    memories = {}
    for content in MEMORIES:
        memories[content] = memo.request("POST", "/api/memories", {"content": content}).json()["data"]
    ids = {content: memory["id"] for content, memory in memories.items()}
    deadline = time.monotonic() + INDEXED_WITHIN_S
    waiting = dict(ids)
    while waiting and time.monotonic() < deadline:
        for content, memory_id in list(waiting.items()):
            hits = memo.request("POST", "/api/memories/search", {"query": content, "mode": "semantic"}).json()
            if memory_id in {hit["memory"]["id"] for hit in hits["data"]}:
                del waiting[content]
        time.sleep(0.2)
    if not waiting:
        return memories
    pytest.fail(f"the memories were not indexed within {INDEXED_WITHIN_S} s")


@pytest.fixture
def signed_in(page: Page, memo: LiveMemo, remembered: dict[str, dict[str, Any]]) -> Page:
    memo_page.set_key_by_json(page, memo.key)
    return page


def test_search_by_meaning_finds_a_memory_that_shares_no_word_with_the_query(signed_in: Page) -> None:
    results = memo_page.search(signed_in, "when does my sibling celebrate getting older", "Semantic")
    expect(results.get_by_role("listitem").first).to_contain_text(BIRTHDAY)
    expect(results.get_by_role("listitem").first).to_contain_text("Score")


@pytest.mark.parametrize("mode", ["Keyword", "Hybrid"])
def test_the_other_modes_find_a_memory_by_its_words(signed_in: Page, mode: str) -> None:
    results = memo_page.search(signed_in, "dentist", mode)
    expect(results.get_by_role("listitem").first).to_contain_text("Dr. Okafor")


def test_an_answer_links_each_citation_to_the_cited_memory_with_its_date(
        signed_in: Page, remembered: dict[str, dict[str, Any]]) -> None:
    page, cited = signed_in, remembered[SPARE_KEY]
    answer = memo_page.ask(page, "Where is the spare key?")
    expect(answer).to_contain_text("blue flower pot")
    sources = answer.get_by_role("list", name="Sources", exact=True)
    link = sources.get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_text(f"Memory of {shown_date(cited['createdAt'])}")
    expect(link).to_have_attribute("href", f"#memory/{cited['id']}")
    expect(sources).to_contain_text(SPARE_KEY)

    link.click()
    expect(page.get_by_role("heading", name="Memory", exact=True)).to_be_visible()
    expect(page.get_by_text(SPARE_KEY, exact=True).filter(visible=True)).to_have_count(1)
    assert page.url.endswith(f"#memory/{cited['id']}")


def test_a_question_no_memory_answers_is_shown_as_not_known(signed_in: Page) -> None:
    answer = memo_page.ask(signed_in, "What is the capital of Peru?")
    expect(answer.get_by_text("Memo does not know: none of your memories holds the answer.", exact=True)
           ).to_be_visible()
    expect(answer.get_by_role("list", name="Sources", exact=True)).to_have_count(0)
