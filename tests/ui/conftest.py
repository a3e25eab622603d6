"""One Chromium per test module of the workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from tests._fixtures.browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()
