"""Memories in the page: add, the list newest first, its filters and paging, an edit over a newer version,
delete, the export download, and the WhatsApp sync status beside them."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import uuid
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import memo_page
from tests.browser.live_memo import LiveMemo
from tests.browser.page_watch import PageWatch


@pytest.fixture
def word() -> str:
    """A word no other test's memory holds, so a test finds its own memories in the shared server."""
    return "w" + secrets.token_hex(5)


@pytest.fixture
def signed_in(page: Page, memo: LiveMemo) -> Page:
    memo_page.set_key_by_json(page, memo.key)
    return page


def create(memo: LiveMemo, content: str, **fields: Any) -> dict[str, Any]:
    answer = memo.request("POST", "/api/memories", {"content": content, **fields})
    assert answer.status_code == 201, answer.text
    memory: dict[str, Any] = answer.json()["data"]
    return memory


def filter_by(page: Page, **values: str) -> None:
    """Fill the named filter fields (label -> value; `Of type` is the combobox) and apply them."""
    form = memo_page.filters(page)
    for label, value in values.items():
        field = form.get_by_label(label, exact=True)
        if label == "Of type":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Apply filters", exact=True).click()


def items(page: Page) -> Any:
    return memo_page.memory_list(page).get_by_role("listitem")


def test_added_memories_are_listed_newest_first_with_type_tags_and_dates(signed_in: Page, memo: LiveMemo,
                                                                         word: str) -> None:
    page = signed_in
    added = [f"first {word}", f"second {word}", f"third {word}"]
    for content in added:
        memo_page.add_memory(page, content, type_="reminder", tags="Errands, home")
        expect(memo_page.messages(page)).to_have_text("The memory was saved.")
    memo_page.go_to(page, "Memories")
    filter_by(page, **{"Containing the words": word})
    expect(items(page)).to_have_count(3)
    for position, content in enumerate(reversed(added)):
        item = items(page).nth(position)
        expect(item).to_contain_text(content)
        expect(item).to_contain_text(re.compile("Type: reminder", re.IGNORECASE))
        expect(item).to_contain_text("Tags: errands, home")  # stored lower-cased
        expect(item).to_contain_text("Created")
        expect(item).to_contain_text("Updated")


def test_the_filters_narrow_the_list_by_type_tags_and_words(signed_in: Page, memo: LiveMemo, word: str) -> None:
    page, tag = signed_in, f"t{word}"
    create(memo, f"water the tomatoes {word}", type="note", tags=[tag])
    create(memo, f"buy compost {word}", type="reminder", tags=[tag, "errands"])
    create(memo, "a memory without the word", type="note", tags=[tag, "errands"])
    page.get_by_role("button", name="Refresh", exact=True).click()

    filter_by(page, **{"Containing the words": word})
    expect(items(page)).to_have_count(2)
    filter_by(page, **{"Of type": "reminder"})
    expect(items(page)).to_have_count(1)
    expect(items(page).first).to_contain_text("buy compost")

    memo_page.filters(page).get_by_role("button", name="Clear filters", exact=True).click()
    filter_by(page, **{"With tags": f"{tag}, errands"})
    expect(items(page)).to_have_count(2)
    expect(items(page).filter(has_text="water the tomatoes")).to_have_count(0)

    memo_page.filters(page).get_by_role("button", name="Clear filters", exact=True).click()
    expect(items(page).filter(has_text="water the tomatoes")).to_have_count(1)
    expect(items(page).filter(has_text="a memory without the word")).to_have_count(1)


def test_the_date_filters_include_both_days_they_name(signed_in: Page, memo: LiveMemo, word: str) -> None:
    page = signed_in
    created = create(memo, f"dated memory {word}")
    day = date.fromisoformat(created["createdAt"][:10])  # its UTC day; the browser context runs in UTC
    after, before = "Created on or after", "Created on or before"

    filter_by(page, **{"Containing the words": word, after: day.isoformat(), before: day.isoformat()})
    expect(items(page)).to_have_count(1)
    filter_by(page, **{after: (day + timedelta(days=1)).isoformat(), before: ""})
    expect(items(page)).to_have_count(0)
    filter_by(page, **{after: "", before: (day - timedelta(days=1)).isoformat()})
    expect(items(page)).to_have_count(0)


def test_the_list_pages_on_while_the_server_says_there_is_more(signed_in: Page, memo: LiveMemo, word: str) -> None:
    page, total = signed_in, 45
    memo.create_memories(*({"content": f"paged memory {number} {word}"} for number in range(total)))
    filter_by(page, **{"Containing the words": word})
    more = page.get_by_role("button", name="Show more", exact=True)
    expect(more).to_be_visible()
    first_page = items(page).count()
    assert 0 < first_page < total
    while more.is_visible():
        shown = items(page).count()
        more.click()
        expect(items(page)).not_to_have_count(shown)
    expect(items(page)).to_have_count(total)
    expect(items(page).first).to_contain_text(f"paged memory {total - 1} ")
    expect(items(page).last).to_contain_text("paged memory 0 ")


def test_a_save_over_a_version_changed_elsewhere_shows_the_conflict_and_changes_nothing(
        watch: PageWatch, memo: LiveMemo, word: str) -> None:
    page = watch.page
    watch.expect_status(412)
    memory = create(memo, f"the plumber comes on Monday {word}")
    memo_page.set_key_by_json(page, memo.key)
    filter_by(page, **{"Containing the words": word})
    memo_page.memory_item(page, "the plumber").get_by_role("button", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit the memory", exact=True)).to_be_visible()
    content = memo_page.editor(page).get_by_label("Content", exact=True)
    expect(content).to_have_value(memory["content"])

    elsewhere = memo.request("PUT", f"/api/memories/{memory['id']}", {"content": f"the plumber comes Tuesday {word}"})
    assert elsewhere.json()["data"]["version"] == 2
    content.fill(f"the plumber comes on Friday {word}")
    memo_page.editor(page).get_by_role("button", name="Save", exact=True).click()

    newer = page.get_by_role("group", name="Newer version", exact=True)
    expect(newer).to_be_visible()
    expect(newer).to_contain_text("the plumber comes Tuesday")
    expect(memo_page.messages(page)).not_to_be_empty()
    saved = memo.request("GET", f"/api/memories/{memory['id']}").json()["data"]
    assert (saved["content"], saved["version"]) == (f"the plumber comes Tuesday {word}", 2)
    puts = [sent for sent in watch.requests if sent.method == "PUT"]
    assert [sent.headers.get("if-match") for sent in puts] == ["1"]


def test_a_memory_is_deleted_once_the_deletion_is_confirmed(signed_in: Page, memo: LiveMemo, word: str) -> None:
    page = signed_in
    memory = create(memo, f"an old shopping list {word}")
    filter_by(page, **{"Containing the words": word})
    delete = memo_page.memory_item(page, "an old shopping list").get_by_role("button", name="Delete", exact=True)

    delete.click()
    dialog = page.get_by_role("dialog", name="Delete this memory?", exact=True)
    dialog.get_by_role("button", name="Keep it", exact=True).click()
    expect(dialog).to_be_hidden()
    assert memo.request("GET", f"/api/memories/{memory['id']}").status_code == 200

    delete.click()
    dialog.get_by_role("button", name="Delete it", exact=True).click()
    expect(items(page)).to_have_count(0)
    assert memo.request("GET", f"/api/memories/{memory['id']}").status_code == 404


def test_the_export_downloads_every_memory_one_json_line_each(signed_in: Page, memo: LiveMemo, word: str) -> None:
    page = signed_in
    create(memo, f"exported with its tags {word}", tags=["export"])
    memo_page.go_to(page, "Export")
    with page.expect_download() as started:
        page.get_by_role("button", name="Download JSON Lines", exact=True).click()
    download = started.value
    lines = download.path().read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    expected = [json.loads(line) for line in memo.request("GET", "/api/export").text.splitlines()]
    assert sorted(m["id"] for m in exported) == sorted(m["id"] for m in expected)
    assert any(m["content"] == f"exported with its tags {word}" and m["tags"] == ["export"] for m in exported)

    with page.expect_download() as started:
        page.get_by_role("button", name="Download Markdown", exact=True).click()
    assert f"exported with its tags {word}" in started.value.path().read_text()


def test_the_whatsapp_view_tells_of_a_background_job_that_failed(signed_in: Page, memo: LiveMemo) -> None:
    page, job_id = signed_in, uuid.uuid4().bytes
    with closing(sqlite3.connect(Path(memo.env["MEMO_DATA_DIR"]) / "memo.db")) as database, database:
        owner_id = database.execute("SELECT owner_id FROM api_keys WHERE key_id = ?",
                                    (memo.key["keyId"],)).fetchone()[0]
        database.execute(  # parked after its last attempt, as the worker leaves a job that keeps failing
            "INSERT INTO jobs (id, kind, owner_id, payload, state, attempts, run_after, last_error, created_at, "
            "updated_at) VALUES (?, 'whatsapp.media', ?, '{}', 'failed', 5, '2026-12-01 10:00:00.000000', "
            "'media gone', '2026-12-01 09:00:00.000000', '2026-12-01 10:00:00.000000')", (job_id, owner_id))
    try:
        assert memo.request("GET", "/api/whatsapp/sync-status").json()["data"]["jobs"]["failed"] == 1
        memo_page.go_to(page, "WhatsApp")
        region = page.get_by_role("region", name="Sync status", exact=True)
        expect(region).to_contain_text("One background job failed and stopped retrying")
        expect(region).to_contain_text("memo jobs retry")
    finally:
        with closing(sqlite3.connect(Path(memo.env["MEMO_DATA_DIR"]) / "memo.db")) as database, database:
            database.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def test_the_whatsapp_view_shows_the_sync_status_the_api_reports(signed_in: Page, memo: LiveMemo) -> None:
    page = signed_in
    status = memo.request("GET", "/api/whatsapp/sync-status").json()["data"]
    memo_page.go_to(page, "WhatsApp")
    region = page.get_by_role("region", name="Sync status", exact=True)
    expect(region).to_contain_text(f"{status['received']} received, {status['sent']} sent.")
    expect(region).to_contain_text("No background job has failed.")
