"""An on-demand fill's budget is named by the fill's own window, not "today" (decision 0047, second round):
a fill of 2026-01-03 08:00 to 09:00 seen in a real browser (Playwright on /usr/bin/chromium, a real server
on loopback, SQLite and PostgreSQL), on the queue page and the task page."""

from __future__ import annotations

from playwright.sync_api import Browser
from tests._fixtures import Running
from tests._fixtures.browser import sign_in
from tests._fixtures.http import client, records, register, traffic
from tests.ui.test_task_page import RANDOM, _reviewer

LABEL = "budget of the fill 2026-01-03 08:00 to 09:00 UTC"


def test_a_fill_of_january_is_labelled_by_its_window(browser: Browser, server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    df = traffic(200, seed=5, start="2026-01-03T08:00:00Z")  # every 3 s: 10 minutes of events
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    assert admin.put("/v1/models/credit/review/policy", json=RANDOM).status_code == 200
    window = {"start": "2026-01-03T08:00:00Z", "end": "2026-01-03T09:00:00Z", "seed": 3}
    filled = admin.post("/v1/models/credit/review/fill", json=window)
    assert filled.status_code == 200
    n = filled.json()["tasks"]
    assert n > 0
    _reviewer(server, "credit")
    page = sign_in(browser, server, "ana")
    budget = page.inner_text("table .budget")  # the queue page
    assert budget == f"{LABEL}: 0 of {n} tasks answered (0%), {n} open", budget
    assert "today's budget" not in page.content()
    page.click("text=Start reviewing")
    page.wait_for_selector("#features")
    assert page.inner_text(".progress .budget").startswith(f"{LABEL}: 0 of {n} tasks answered")
    page.close()
