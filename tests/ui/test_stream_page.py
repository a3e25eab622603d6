"""The workspace's view of a streamed day (decision 0046), in Chromium (/usr/bin/chromium through
Playwright; never ``playwright install``) against a real server on loopback, on SQLite and PostgreSQL: each
increment with events (when, how many events, budget, tasks, and for a maintainer how many each selector
chose), the day's budget spent and left, the increments without events; every value shown as text."""

from __future__ import annotations

from typing import Any

import pandas as pd
from playwright.sync_api import Browser
from tests._fixtures import Running
from tests._fixtures.browser import PASSWORD, sign_in
from tests._fixtures.http import client, records, register, traffic

from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.users import create_user

XSS_SELECTOR = '<img src=x onerror="window.pwned = 3">'
XSS_USER = '<b>ana<img src=x onerror="window.pwned = 4">'  # no '/': a user name may not hold one
TASKS = 2000  # a day's
EVERY = 300


def _expected(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The increments with events and their paced budgets, from the raw rows with pandas (decision 0042's
    rule: what is left of the day's tasks, in proportion to the increment's part of the day left)."""
    day_end = pd.Timestamp("2026-11-21T00:00:00Z")
    out, spent = [], 0.0
    for start, n in df.groupby(df["ts"].dt.floor(f"{EVERY}s")).size().items():
        budget = (TASKS - spent) * EVERY / (day_end - start).total_seconds()
        out.append({"start": start, "events": int(n), "budget": budget})
        spent += budget
    return out


def test_a_streamed_days_increments_in_the_browser(browser: Browser, server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    df = traffic(300, seed=8)  # 08:00 to 08:15, one event every three seconds
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    policy = {
        "tasks": TASKS,
        "selectors": [
            {"kind": "uncertainty", "share": 0.5},
            {"kind": "random", "share": 0.5, "name": XSS_SELECTOR},
        ],
        "stream": {"every": EVERY, "delay": 0, "since": "2026-11-20T07:50:00Z", "seed": 5},
    }
    assert admin.put("/v1/models/credit/review/policy", json=policy).status_code == 200
    made = admin.post("/v1/models/credit/review/stream", json={"until": "2026-11-20T08:20:00Z"}).json()[
        "fills"
    ]
    assert len(made) == 6  # 07:50 to 08:20: three increments with events, three without
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "mia", PASSWORD, "maintainer", [], actor="test")
        create_user(s, XSS_USER, PASSWORD, "reviewer", ["credit"], actor="test")
    engine.dispose()
    # What the API says was selected, per fill and selector, grouped with pandas.
    tasks = pd.DataFrame(admin.get("/v1/models/credit/review/tasks", params={"limit": 1000}).json()["tasks"])
    chosen = tasks.groupby(["fill_id", "selector"]).size()
    fill_ids = [m["fill_id"] for m in made if m["fill_id"] is not None]  # in time order
    want = _expected(df)
    assert len(want) == 3

    mia = sign_in(browser, server, "mia")
    mia.click("text=Streamed increments")
    mia.wait_for_selector("#increments")
    rows = mia.query_selector_all("#increments tr")[1:]
    assert len(rows) == 3
    for row, w, fid in zip(rows, want, fill_ids, strict=True):
        cells = [c.inner_text() for c in row.query_selector_all("td")]
        start = w["start"]
        assert cells[0] == f"{start:%H:%M:%S} to {start + pd.Timedelta(seconds=EVERY):%H:%M:%S}"
        assert cells[2] == str(w["events"])
        assert cells[3] == f"{w['budget']:.2f}"
        mine = chosen[fid] if fid in chosen.index.get_level_values(0) else pd.Series(dtype=int)
        assert cells[4] == str(int(mine.sum())) and int(mine.sum()) > 0
        shown = dict(part.rsplit(" ", 1) for part in cells[5].split(", ")) if cells[5] else {}
        assert {k: int(v) for k, v in shown.items()} == {k: int(v) for k, v in mine.items()}
    spent = sum(w["budget"] for w in want)
    assert mia.inner_text("#spent") == f"{spent:.2f}" and mia.inner_text("#left") == f"{TASKS - spent:.2f}"
    assert mia.inner_text("#selected") == str(len(tasks))
    assert "6 increments gone through that day, 3 without events" in mia.inner_text("#empty")
    assert XSS_SELECTOR in mia.inner_text("#increments")  # the selector's name as text, never run
    assert mia.evaluate("window.pwned") is None
    assert mia.evaluate("document.querySelectorAll('#increments img').length") == 0

    # A reviewer sees the increments and the budget, not which selector chose what (review is blind).
    ana = sign_in(browser, server, XSS_USER)
    assert XSS_USER in ana.inner_text("header") and ana.evaluate("window.pwned") is None
    ana.goto(server.url + "/ui/models/credit/stream")
    ana.wait_for_selector("#increments")
    assert ana.query_selector_all("#increments th")[-1].inner_text() == "selected"
    assert XSS_SELECTOR not in ana.content() and "maintainers only" in ana.inner_text("#stream")
    assert ana.inner_text("#spent") == f"{spent:.2f}"
    assert ana.evaluate("window.pwned") is None
    mia.close()
    ana.close()
