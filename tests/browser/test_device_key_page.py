"""Setting up a device in the page: the key form, where the secret goes (nowhere a script can read it back),
forgetting the device, a revoked key, a device clock running fast, the page's CSP, and the narrow screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, Route, ViewportSize, expect

from tests.browser import memo_page
from tests.browser.device_secrets import READABLE_PLACES, STORED_KEYS
from tests.browser.live_memo import LiveMemo
from tests.browser.page_watch import PageWatch

NARROW: ViewportSize = {"width": 360, "height": 780}


@pytest.fixture(scope="module", autouse=True)
def laptop_key(memo: LiveMemo) -> Iterator[Future[dict[str, str]]]:
    """A second key of the same owner, for the test that revokes it; `memo keys create` takes seconds to start,
    so it runs beside the first tests."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(memo.create_key, "browser test laptop")


def tab_to(page: Page, field: Locator, *, presses: int = 25) -> None:
    """Press Tab until `field` has the focus, as a person without a mouse would."""
    for _ in range(presses):
        if field.evaluate("(element) => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(field).to_be_focused()


def set_key_by_fields(page: Page, key_id: str, secret: str) -> None:
    page.goto("/")
    form = memo_page.key_form(page)
    form.get_by_label("Key id", exact=True).fill(key_id)
    form.get_by_label("Secret", exact=True).fill(secret)
    form.get_by_role("button", name="Save the key", exact=True).click()
    memo_page.expect_set_up(page, key_id)


def test_the_page_is_served_with_its_own_csp_and_the_apis_security_headers(page: Page) -> None:
    answer = page.goto("/")
    assert answer is not None
    assert answer.status == 200
    headers = answer.headers
    policy = [directive.strip() for directive in headers["content-security-policy"].split(";")]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "'unsafe-eval'" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", name="Set up this device", exact=True)).to_be_visible()


def test_the_key_form_is_filled_and_submitted_with_the_keyboard_alone(page: Page, memo: LiveMemo) -> None:
    page.goto("/")
    form = memo_page.key_form(page)
    tab_to(page, form.get_by_label("Key id", exact=True))
    page.keyboard.type(memo.key["keyId"])
    tab_to(page, form.get_by_label("Secret", exact=True))
    page.keyboard.type(memo.key["secret"])
    page.keyboard.press("Enter")
    memo_page.expect_set_up(page, memo.key["keyId"])
    expect(page.get_by_role("heading", name="Memories", exact=True)).to_be_visible()
    expect(memo_page.key_form(page)).to_be_hidden()


def test_a_view_chosen_while_the_new_key_is_being_checked_is_kept(page: Page, memo: LiveMemo) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:  # the key's check waits until the test lets it go
        held.append(route)

    page.route(lambda url: "/api/memories?limit=1&" in url, hold)
    page.goto("/")
    memo_page.key_form(page).get_by_label("Key JSON", exact=True).fill(json.dumps(memo.key))
    memo_page.key_form(page).get_by_role("button", name="Save the key", exact=True).click()
    memo_page.go_to(page, "Ask")  # the navigation shows before the check answers
    expect(page.get_by_role("heading", name="Ask", exact=True)).to_be_visible()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never checked the key"

    held[0].continue_()

    expect(memo_page.messages(page)).to_have_text(f"This device is set up: it signs with the key {memo.key['keyId']}.")
    expect(page.get_by_role("heading", name="Ask", exact=True)).to_be_visible()


@pytest.mark.parametrize("way", ["pasted JSON", "key id and secret"])
def test_after_setup_the_secret_is_nowhere_the_pages_scripts_can_read_it(watch: PageWatch, memo: LiveMemo,
                                                                         way: str) -> None:
    page, secret = watch.page, memo.key["secret"]
    if way == "pasted JSON":
        memo_page.set_key_by_json(page, memo.key)
    else:
        set_key_by_fields(page, memo.key["keyId"], secret)
    expect(memo_page.memory_list(page)).to_be_attached()  # a signed list answered: the key works

    stored = page.evaluate(STORED_KEYS, secret)
    assert stored["keys"], "no CryptoKey in IndexedDB"
    assert all(not key["extractable"] and key["algorithm"] == "HMAC" for key in stored["keys"]), stored
    assert stored["exported"] == [], "crypto.subtle.exportKey gave the key out"
    assert not stored["secretStored"]
    for place, text in page.evaluate(READABLE_PLACES).items():
        assert secret not in text, f"the secret is readable in {place}"
    assert watch.requests, "the page sent no request"
    for sent in watch.requests:
        assert secret not in sent.url, f"the secret is in the URL of {sent.method} {sent.url}"
        assert secret not in "\n".join(sent.headers.values()), f"the secret is in a header of {sent.url}"
        assert secret.encode() not in sent.body, f"the secret is in the body of {sent.url}"


def test_forgetting_the_device_asks_for_a_key_again_after_reload(page: Page, memo: LiveMemo) -> None:
    memo_page.set_key_by_json(page, memo.key)
    page.reload()
    expect(memo_page.views(page)).to_be_visible()  # kept across a reload until forgotten
    expect(page.get_by_role("heading", name="Memories", exact=True)).to_be_visible()

    memo_page.go_to(page, "This device")
    expect(page.get_by_text(f"This device signs with the key {memo.key['keyId']}.")).to_be_visible()
    page.get_by_role("button", name="Forget this device", exact=True).click()
    # the record is gone once the page says so: a reload before that could come back to the key
    expect(memo_page.messages(page)).to_have_text(
        "This device has forgotten its key. Paste a key to use Memo here again.")
    page.reload()
    expect(memo_page.key_form(page)).to_be_visible()
    expect(memo_page.views(page)).to_be_hidden()
    assert page.evaluate(STORED_KEYS, memo.key["secret"])["keys"] == []


def test_a_revoked_key_is_met_with_the_offer_to_set_the_key_again(watch: PageWatch, memo: LiveMemo,
                                                                  laptop_key: Future[dict[str, str]]) -> None:
    page = watch.page
    watch.expect_status(401)
    laptop = laptop_key.result(timeout=60)
    memo_page.set_key_by_json(page, laptop)
    expect(memo_page.memory_list(page)).to_be_attached()

    memo.cli("keys", "revoke", laptop["keyId"])
    page.get_by_role("button", name="Refresh", exact=True).click()
    again = memo_page.messages(page).get_by_role("button", name="Set the key again", exact=True)
    expect(again).to_be_visible()
    again.click()
    expect(memo_page.key_form(page)).to_be_visible()
    memo_page.paste_key(page, memo.key)
    expect(memo_page.memory_list(page)).to_be_attached()
    page.reload()  # the new key is the one kept
    expect(memo_page.memory_list(page)).to_be_attached()
    expect(memo_page.messages(page).get_by_role("button", name="Set the key again", exact=True)).to_have_count(0)


def test_a_device_clock_ten_minutes_fast_is_corrected_from_the_servers_date(watch: PageWatch, memo: LiveMemo) -> None:
    page = watch.page
    watch.expect_status(401)  # the first signed request's EXPIRED_TIMESTAMP, before the signer learns the offset
    page.clock.set_system_time(datetime.now(UTC) + timedelta(minutes=10))
    memo_page.set_key_by_json(page, memo.key)
    expect(memo_page.memory_list(page)).to_be_attached()
    memo_page.add_memory(page, "written from a device whose clock runs fast")
    expect(memo_page.memory_item(page, "written from a device whose clock runs fast")).to_be_visible()
    expect(memo_page.messages(page)).to_have_text("The memory was saved.")
    stamps = [int(sent.headers["x-memo-timestamp"]) for sent in watch.requests if "x-memo-timestamp" in sent.headers]
    now = datetime.now(UTC).timestamp()
    assert stamps[0] > now + 500, "the first request should carry the fast clock's time"
    assert abs(stamps[-1] - now) < 60, "later requests should carry the server's time"


def test_at_360_px_wide_no_view_scrolls_sideways(page: Page, memo: LiveMemo) -> None:
    long_link = "https://example.org/" + "a_long_path_with_no_place_to_break_" * 5
    memo.request("POST", "/api/memories", {"content": f"Read later: {long_link}", "type": "reminder",
                                           "tags": ["reading", "a-rather-long-tag-name", "links", "later"]})
    page.set_viewport_size(NARROW)

    def assert_fits(view: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{view}: the document is {width} px wide at 360 px"

    page.goto("/")
    expect(memo_page.key_form(page)).to_be_visible()
    assert_fits("Set up this device")
    memo_page.set_key_by_json(page, memo.key)
    expect(memo_page.memory_item(page, "Read later")).to_be_visible()
    assert_fits("Memories")
    for view, heading in [("Add a memory", "Add a memory"), ("Search", "Search by meaning"), ("Ask", "Ask"),
                          ("WhatsApp", "WhatsApp sync"), ("Export", "Export"), ("This device", "This device")]:
        memo_page.go_to(page, view)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert_fits(view)
