"""What a page did while a test drove it: console messages, uncaught errors, CSP violations, requests sent.

A test fails on any uncaught error, any CSP violation and any console error, except the browser's own
"Failed to load resource" line for a status the test provoked on purpose (a 401, 412 or 429 it checks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Error, Page, Request

# Chromium reports some violations only through the event, not the console: the event is turned into a console
# error, on every document the page loads (an init script runs before the page's own scripts).
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline code'}`);
});
"""
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PageWatch:
    page: Page
    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    requests: list[SentRequest] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    @classmethod
    def attach(cls, page: Page) -> PageWatch:
        watch = cls(page)
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        page.on("console", watch._console)
        page.on("pageerror", watch._error)
        page.on("request", watch._record)
        return watch

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(message)

    def _error(self, error: Error) -> None:
        self.errors.append(error)

    def _record(self, request: Request) -> None:
        self.requests.append(SentRequest(method=request.method, url=request.url, headers=request.headers,
                                         body=request.post_data_buffer or b""))

    def expect_status(self, *statuses: int) -> None:
        """The test provokes these answers: the browser's console line for them is no fault of the page."""
        self.expected_statuses.update(statuses)

    def faults(self) -> list[str]:
        found = [f"uncaught {error.name}: {error.message}" for error in self.errors]
        for message in self.console:
            text = message.text
            if "Content Security Policy" in text or text.startswith("CSP violation"):
                found.append(f"CSP: {text}")
            elif message.type == "error":
                failed = FAILED_LOAD.search(text)
                if not (failed and int(failed.group(1)) in self.expected_statuses):
                    found.append(f"console error: {text} ({message.location.get('url', '')})")
        return found

    def assert_clean(self) -> None:
        faults = self.faults()
        assert not faults, "the page misbehaved:\n" + "\n".join(faults)
