"""Chromium for the workspace's tests: Debian's at /usr/bin/chromium through Playwright (never ``playwright
install``, which downloads), one per test module (the ``browser`` fixture, registered by tests/conftest.py),
and signing a user in through the sign-in form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests._fixtures import Running

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the test module, closed after it."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(browser: Browser, server: Running, name: str, *, start: str = "/ui/login") -> Page:
    """A new page signed in as ``name`` (password ``PASSWORD``) through the form, on the queues page. From a
    ``start`` other than the sign-in page, the visitor must first have been sent to sign in."""
    page = browser.new_page()
    page.goto(server.url + start)
    if start != "/ui/login":
        assert page.url.endswith("/ui/login"), page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/ui/")
    return page
