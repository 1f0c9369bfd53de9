"""The page as a person sees it: its regions and controls found by role and accessible name, as docs/frontend.md
("The page") lists them, never by CSS class or id. A renamed control is changed here once."""

from __future__ import annotations

import json
from collections.abc import Mapping

from playwright.sync_api import Locator, Page, expect


def set_key_by_json(page: Page, key: Mapping[str, str]) -> None:
    """Open the page on a device without a key and paste what `memo keys create --json` printed."""
    page.goto("/")
    paste_key(page, key)


def paste_key(page: Page, key: Mapping[str, str]) -> None:
    """Paste the JSON into the key form the page shows now, and save it."""
    setup = key_form(page)
    setup.get_by_label("Key JSON", exact=True).fill(json.dumps(dict(key)))
    setup.get_by_role("button", name="Save the key", exact=True).click()
    expect_set_up(page, key["keyId"])


def expect_set_up(page: Page, key_id: str) -> None:
    """The page has checked the key with Memo and moved to the list (the navigation shows before that check
    answers: a view chosen in between would be left for the list)."""
    expect(messages(page)).to_have_text(f"This device is set up: it signs with the key {key_id}.")
    expect(views(page)).to_be_visible()


def key_form(page: Page) -> Locator:
    return page.get_by_role("form", name="Set up this device", exact=True)


def views(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Views", exact=True)


def messages(page: Page) -> Locator:
    """Where every success, error and wait sentence lands (aria-live)."""
    return page.get_by_role("status", name="Messages", exact=True)


def go_to(page: Page, view: str) -> None:
    """Follow one of the navigation's links: Memories, Add a memory, Search, Ask, WhatsApp, Export, This device."""
    views(page).get_by_role("link", name=view, exact=True).click()


def memory_list(page: Page) -> Locator:
    return page.get_by_role("list", name="Memory list", exact=True)


def memory_item(page: Page, content: str) -> Locator:
    return memory_list(page).get_by_role("listitem").filter(has_text=content)


def filters(page: Page) -> Locator:
    return page.get_by_role("form", name="Filter memories", exact=True)


def editor(page: Page) -> Locator:
    return page.get_by_role("form", name="Memory editor", exact=True)


def add_memory(page: Page, content: str, *, type_: str = "note", tags: str = "") -> None:
    go_to(page, "Add a memory")
    form = editor(page)
    form.get_by_label("Content", exact=True).fill(content)
    form.get_by_label("Type", exact=True).select_option(type_)
    form.get_by_label("Tags", exact=True).fill(tags)
    form.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Memories", exact=True)).to_be_visible()  # saved: back to the list


def answer(page: Page) -> Locator:
    return page.get_by_role("region", name="Answer", exact=True)


def ask(page: Page, question: str) -> Locator:
    go_to(page, "Ask")
    form = page.get_by_role("form", name="Ask a question", exact=True)
    form.get_by_label("Question", exact=True).fill(question)
    form.get_by_role("button", name="Ask", exact=True).click()
    return answer(page)


def search(page: Page, query: str, mode: str) -> Locator:
    """Search by meaning in one of the modes `Hybrid`, `Semantic`, `Keyword`; the results list."""
    go_to(page, "Search")
    form = page.get_by_role("form", name="Search memories", exact=True)
    form.get_by_label("Search for", exact=True).fill(query)
    form.get_by_role("radio", name=mode, exact=True).check()
    form.get_by_role("button", name="Search", exact=True).click()
    return page.get_by_role("list", name="Search results", exact=True)
