"""Every python block of docs/monitors.md runs as written, in order, and prints what its comments say."""

from __future__ import annotations

import pytest
from tests._fixtures.docs import run_page


def test_the_snippets_run_and_print_what_they_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # The blocks set these; the test's monkeypatch removes them afterwards.
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "")
    monkeypatch.setenv("HOOK_SECRET", "")
    run_page("monitors.md", 7)
