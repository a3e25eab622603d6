"""The evidence an alert links to, in Chromium (/usr/bin/chromium through Playwright; never ``playwright
install``) against a real server on loopback, on SQLite and PostgreSQL (decision 0052): the webhook's link is
the workspace's run page; a person who follows it signs in and lands there; the page shows the run's window,
verdict, each check whole and per segment as the API stores them, the incident it opened and the failing
check's windows drawn; a viewer reads it, a user of another model gets 404, and every value from the data
or the suite (a check's title, a segment's value) is shown as text, never run."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from playwright.sync_api import Browser
from tests._fixtures import Running
from tests._fixtures.browser import PASSWORD
from tests._fixtures.http import SCHEMA, traffic
from tests.alerts.receiver import receiver

import loopwise as lw
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.users import create_user
from loopwise.ui.monitoring import LISTED_RUNS

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
XSS_CHECK = '<img src=x onerror="window.pwned = 1">'
XSS_SEGMENT = "<script>window.pwned = 2</script>"
HOURS, ROWS, DRIFTED = 6, 400, range(3, 5)


def _traffic() -> pd.DataFrame:
    """Six hours of ``ROWS`` events each; in hours 3 and 4 incomes are 2.5 times larger. A tenth of the
    rows' segment value is markup."""
    frames = []
    for h in range(HOURS):
        df = traffic(ROWS, 200 + h, (T0 + dt.timedelta(hours=h)).isoformat())
        df["ts"] = T0 + dt.timedelta(hours=h) + (df["ts"] - df["ts"].iloc[0]) * 3  # spread over the hour
        if h in DRIFTED:
            df["income"] = df["income"] * 2.5
        df.loc[df.index % 10 == 0, "race"] = XSS_SEGMENT
        df["request_id"] = [f"{h}-{i}" for i in range(ROWS)]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_an_alerts_link_opens_the_runs_page(
    browser: Browser, server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWISE_ALERT_ALLOW", "127.0.0.1")
    monkeypatch.setenv("LOOPWISE_PUBLIC_URL", server.url + "/")
    df = _traffic()
    with lw.Client.local(server.db_url) as c, receiver() as rec:
        m = c.register("credit", SCHEMA)
        c.register("other", SCHEMA)
        m.set_reference(traffic(4000, 1, "2026-11-01T00:00:00Z").drop(columns=["repaid"]))
        m.log(df.drop(columns=["repaid"]))
        suite = {
            "suite": "watch",
            "checks": [
                {"metric": "psi", "column": "income", "condition": {"lt": 0.2}, "name": XSS_CHECK},
                {"metric": "row_count", "condition": {"ge": 1}},
            ],
        }
        m.add_monitor(
            name="hourly",
            suite=suite,
            window="1h",
            step="1h",
            anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
            segments=["race"],
            channels=[{"type": "webhook", "name": "ops", "url": f"{rec.url}/hook"}],
        )
        m.run_monitors("hourly")
        bodies = [json.loads(g.body) for g in rec.got]
        opened = next(b for b in bodies if b["event"] == "incident.opened" and not b["incident"]["segment"])
        run = m.monitor_run("hourly", opened["run_id"])
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "vic", PASSWORD, "viewer", ["credit"], actor="test")
        create_user(s, "oli", PASSWORD, "reviewer", ["other"], actor="test")
    engine.dispose()

    path = f"/ui/models/credit/monitors/hourly/runs/{run['id']}"
    assert opened["link"] == server.url + path and path in opened["text"]
    assert run["window_start"] == (T0 + dt.timedelta(hours=3)).isoformat()

    # Following the link: the sign-in page first, then the run itself.
    page = browser.new_page()
    page.goto(opened["link"])
    assert page.url.startswith(server.url + "/ui/login?next=")
    page.fill("input[name=name]", "vic")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(opened["link"])
    window = page.inner_text("#window")
    assert run["window_start"] in window and run["window_end"] in window
    assert "fail" in page.inner_text("#verdict")
    hour = df[(df["ts"] >= T0 + dt.timedelta(hours=3)) & (df["ts"] < T0 + dt.timedelta(hours=4))]
    assert f"{len(hour)} events" in page.inner_text("#verdict")  # the window's rows, counted by pandas

    # Each check of the whole traffic as stored, failures first, its value to four digits.
    cells = [r.query_selector_all("td") for r in page.query_selector_all("#whole tr")]
    rows = [[c.inner_text() for c in r] for r in cells if r]
    stored = {c["name"]: c for c in run["result"]["all"]["checks"]}
    counted = next(n for n in stored if n.startswith("row_count"))
    assert [r[1] for r in rows] == [XSS_CHECK, counted]  # the failure first
    for r in rows:
        want = stored[r[1]]
        assert r[0].lower() == want["status"] and r[2] == f"{want['actual']:.4g}"
        assert r[3] == want["condition"]
    assert stored[counted]["actual"] == len(hour)
    # Each segment's section, the markup value among them as text.
    titles = [h.inner_text() for h in page.query_selector_all(".segment h2")]
    assert titles == [f"Segment {k}" for k in sorted(run["result"]["segments"])]
    assert f"Segment race={XSS_SEGMENT}" in titles
    # The incident it opened, and the failing check's windows up to this one, this one ringed.
    assert str(opened["incident"]["id"]) in page.inner_text("#incidents")
    chart = page.query_selector("#charts .chart")
    assert chart is not None and XSS_CHECK in chart.inner_text()
    dots = chart.query_selector_all("circle")
    assert len(dots) == 4  # the windows ending at hours 1 to 4, this run's
    assert dots[-1].get_attribute("r") == "5" and all(d.get_attribute("r") == "3" for d in dots[:-1])
    ours = _series(server, run["id"])
    assert [d.query_selector("title").text_content() for d in dots] == ours
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("document.querySelectorAll('main img, main script').length") == 0

    # The home page lists the monitors of the models the viewer may see; the monitor's page: its latest
    # runs (hourly since T0 up to now, so the last LISTED_RUNS, newest first) and its failing ones, linked.
    assert page.query_selector("#run a[href='/ui/models/credit/monitors/hourly']") is not None
    page.goto(server.url + "/ui/")
    assert [r.inner_text() for r in page.query_selector_all("#monitors td")][:2] == ["credit", "hourly"]
    page.click("#monitors a")
    page.wait_for_selector("#monitor")
    with lw.Client.local(server.db_url) as c:
        listed = c.model("credit").monitor_history("hourly", limit=LISTED_RUNS)
        every = c.model("credit").monitor_history("hourly", limit=1000)
    failing = [r for r in every if r["status"] in ("fail", "warn", "error")]
    # Of the latest LISTED_RUNS windows, those with traffic are listed, the others counted.
    traffic_runs = [r for r in listed if r["state"] != "empty"]
    shown = [r.query_selector("a").inner_text() for r in page.query_selector_all("#runs tr")[1:]]
    assert shown == [str(r["id"]) for r in traffic_runs]
    assert f"{LISTED_RUNS - len(traffic_runs)} of its latest {LISTED_RUNS} windows had no traffic" in (
        page.inner_text("#empty")
    )
    shown = [r.query_selector("a").inner_text() for r in page.query_selector_all("#failing tr")[1:]]
    assert shown == [str(r["id"]) for r in failing] and str(run["id"]) in shown
    # Older windows, page by page, down to the first: every run with traffic is listed once.
    pages, seen = 1, [*traffic_runs]
    while (older := page.query_selector("#older")) is not None:
        older.click()
        page.wait_for_load_state()
        seen += [r.query_selector("a").inner_text() for r in page.query_selector_all("#runs tr")[1:]]
        pages += 1
    assert seen == [str(r["id"]) for r in every if r["state"] != "empty"] and len(seen) == HOURS
    assert pages == -(-len(every) // LISTED_RUNS)
    assert page.query_selector(f"#failing a[href='{path}']") is not None

    # A user of another model: as if it did not exist.
    other = browser.new_page()
    other.goto(server.url + "/ui/login")
    other.fill("input[name=name]", "oli")
    other.fill("input[name=password]", PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(server.url + "/ui/")
    assert other.query_selector("#monitors") is None  # the other model has none; credit's are not shown
    resp = other.goto(opened["link"])
    assert resp is not None and resp.status == 404
    assert "No model named 'credit'" in other.inner_text("#message")
    resp = other.goto(server.url + "/ui/models/other/monitors/hourly/runs/1")
    assert resp is not None and resp.status == 404 and "hourly" in other.inner_text("#message")
    page.close()
    other.close()


def _series(server: Running, run_id: int) -> list[str]:
    """The titles the chart's dots should carry: the API's series of the check, up to the run's window."""
    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}) as h:
        run = h.get(f"/v1/models/credit/monitors/hourly/runs/{run_id}").json()
        series = h.get("/v1/models/credit/monitors/hourly/series").json()["checks"]
    (points,) = [c["points"] for c in series if c["check"] == XSS_CHECK and not c["segment"]]
    return [
        f"{p['window_end']}: {p['value']:.4g} ({p['status']})"
        for p in points
        if p["window_end"] <= run["window_end"]
    ]


def test_sign_in_goes_back_only_to_a_workspace_page(browser: Browser, server: Running) -> None:
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "ada", PASSWORD, "admin", [], actor="test")
    engine.dispose()
    for given in ("//evil.example/ui/", "https://evil.example/", "/v1/models", "/ui/\\evil.example"):
        page = browser.new_page()
        page.goto(server.url + "/ui/login?next=" + given.replace("/", "%2F").replace("\\", "%5C"))
        assert page.query_selector("input[name=next]") is None
        page.fill("input[name=name]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/ui/")
        page.close()


def test_a_runs_page_names_only_the_drift_its_checks_found(browser: Browser, server: Running) -> None:
    """The trial: a suite checking PSI on income showed "Drifted columns (8)", every column the comparison
    behind the check flagged (the target among them), none of which the suite checked. Now the line names
    what the suite's own checks found, and which check found it; and a check's title spells its condition
    as the condition column does (``row_count >= 500``, not ``row_count ge(500.0)``)."""
    ref = traffic(4000, 1, "2026-11-01T00:00:00Z")
    cur = traffic(ROWS, 7, (T0 + dt.timedelta(minutes=5)).isoformat())
    cur["income"] *= 2.5
    cur["age"] += 15
    cur["loan_amount"] *= 2
    cur["repaid"] = ~cur["repaid"]
    # Independently: scipy's two-sample KS test on the raw rows finds the unchecked columns moved too.
    from scipy import stats

    for col in ("age", "loan_amount"):
        assert stats.ks_2samp(ref[col], cur[col]).pvalue < 1e-6
    with lw.Client.local(server.db_url) as c:
        m = c.register("credit", SCHEMA)
        m.set_reference(ref)
        m.log(cur.drop(columns=["repaid"]))
        m.log_feedback(cur["request_id"], cur["repaid"])
        suite = {
            "suite": "watch",
            "checks": [
                {"metric": "psi", "column": "income", "condition": {"lt": 0.2}},
                {"metric": "psi", "column": "region", "condition": {"lt": 0.2}},
                {"metric": "row_count", "condition": {"ge": 500}},
            ],
        }
        m.add_monitor(name="hourly", suite=suite, window="1h", step="1h", anchor=T0.isoformat())
        m.run_monitors("hourly")
        (run,) = [r for r in m.monitor_history("hourly", limit=1000) if r["state"] != "empty"]
        stored = m.monitor_run("hourly", run["id"])["result"]["all"]
    assert stored["drifted_columns"] == ["income"]
    assert stored["drift_found"] == [{"check": "psi[income] < 0.2", "columns": ["income"]}]
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "ada", PASSWORD, "admin", [], actor="test")
    engine.dispose()
    page = browser.new_page()
    page.goto(server.url + f"/ui/models/credit/monitors/hourly/runs/{run['id']}")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#whole")
    assert page.inner_text("#whole .drifted") == "Drifted columns (1): income (by psi[income] < 0.2)"
    # Each check's title ends in the condition its row shows: one spelling.
    cells = [r.query_selector_all("td") for r in page.query_selector_all("#whole tr")]
    rows = {c[1].inner_text(): c[3].inner_text() for c in cells if c}
    assert rows == {"psi[income] < 0.2": "< 0.2", "psi[region] < 0.2": "< 0.2", "row_count >= 500": ">= 500"}
    page.close()
