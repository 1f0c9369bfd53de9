"""Browser tests: Debian's Chromium, headless, driven by Playwright against a live `memo serve`.

They run when MEMO_TEST_CHROMIUM names the browser (`.ci/run` sets /usr/bin/chromium) and are skipped without it;
once it is set, a browser that does not start is a failure, never a skip. Playwright's own browser downloads are
never used. One server, one Playwright driver and one browser per module; a fresh browser context (so an empty
IndexedDB: a device that has never seen a key) and page for every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from tests.browser.live_memo import LiveMemo, live_memo
from tests.browser.page_watch import PageWatch

HERE = Path(__file__).parent
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
WAIT_MS = 10_000  # one step of the page (a signed request and its rendering) never takes this long here


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = os.environ.get("MEMO_TEST_CHROMIUM")
    if not path:
        pytest.skip("set MEMO_TEST_CHROMIUM to a Chromium executable (e.g. /usr/bin/chromium) to run browser tests")
    if not os.access(path, os.X_OK):
        pytest.fail(f"MEMO_TEST_CHROMIUM={path} is not an executable file")
    return path


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    # per module, not per session: the driver's event loop never outlives the module's sync tests
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright, chromium_executable: str) -> Iterator[Browser]:
    try:
        launched = playwright_driver.chromium.launch(executable_path=chromium_executable, headless=True)
    except Exception as failure:  # noqa: BLE001 - any failure to start is the test's failure, said plainly
        pytest.fail(f"Chromium at {chromium_executable} did not start: {failure}")
    expect.set_options(timeout=WAIT_MS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Settings for this module's server; a module overrides it (e.g. a small rate limit)."""
    return {}


@pytest.fixture(scope="module")
def memo(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str],
         chromium_executable: str) -> Iterator[LiveMemo]:
    with live_memo(tmp_path_factory.mktemp("memo"), server_env) as server:
        yield server


@pytest.fixture
def watch(browser: Browser, memo: LiveMemo) -> Iterator[PageWatch]:
    context = browser.new_context(base_url=memo.url, viewport=DESKTOP, accept_downloads=True, locale="en-US",
                                  timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    watched = PageWatch.attach(context.new_page())
    try:
        yield watched
    finally:
        context.close()
    watched.assert_clean()


@pytest.fixture
def page(watch: PageWatch) -> Page:
    return watch.page
