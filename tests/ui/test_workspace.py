"""The reviewer workspace in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium;
never ``playwright install``) against a real server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser
from sqlalchemy import select
from tests._fixtures import Running
from tests._fixtures.browser import PASSWORD, sign_in
from tests._fixtures.http import client, records, register, traffic

from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.tables import Feedback
from loopwise.store.users import create_user

SCRIPT = "<script>window.pwned = 1</script>"
IMG = '"><img src=x onerror="window.pwned = 2">'


def _setup(server: Running, policy: dict[str, Any]) -> httpx.Client:
    admin = client(server)
    register(admin, "credit")
    df = traffic(300, seed=5)
    df["purpose"] = SCRIPT  # every task shows both payloads
    df["region"] = IMG
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    assert admin.put("/v1/models/credit/review/policy", json=policy).status_code == 200
    window = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "seed": 2}
    assert admin.post("/v1/models/credit/review/fill", json=window).status_code == 200
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        for name in ("ana", "ben"):
            create_user(s, name, PASSWORD, "reviewer", ["credit"], actor="test")
    engine.dispose()
    return admin


POLICY = {"tasks": 12, "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}]}


def test_sign_in_work_five_tasks_by_keyboard_and_payloads_render_as_text(
    browser: Browser, server: Running
) -> None:
    admin = _setup(server, POLICY)
    page = sign_in(browser, server, "ana", start="/ui/")
    page.click("text=Start reviewing")
    seen = []
    for _ in range(5):
        page.wait_for_selector("#features")
        features = page.inner_text("#features")
        assert SCRIPT in features and IMG in features  # shown as text, never run
        assert page.evaluate("window.pwned") is None
        seen.append(page.url)
        with page.expect_navigation():
            page.keyboard.press("1")  # "true"
            page.keyboard.press("Enter")
    assert page.inner_text("#done") == "5"
    engine = make_engine(server.db_url)
    with session_factory(engine)() as s:
        stored = [f for f in s.scalars(select(Feedback)) if f.source == "user:ana"]
    engine.dispose()
    assert len(stored) == 5 and all(f.value == {"label": True} for f in stored)
    tasks = admin.get("/v1/models/credit/review/tasks", params={"state": "resolved"}).json()["tasks"]
    assert len(tasks) == 5 and all(t["resolved_by"] == "user:ana" for t in tasks)
    page.keyboard.press("s")  # skip the sixth
    page.wait_for_selector("#features")
    labels = admin.get("/v1/models/credit/review/tasks").json()["tasks"]
    assert sum(x["state"] == "skipped" for t in labels for x in t["labels"]) == 1
    page.close()


def test_overlap_is_blind_and_a_failed_gold_pauses(browser: Browser, server: Running) -> None:
    admin = _setup(server, {**POLICY, "overlap": {"share": 1.0, "k": 2}})
    ana, ben = sign_in(browser, server, "ana", start="/ui/"), sign_in(browser, server, "ben", start="/ui/")
    ana.goto(server.url + "/ui/models/credit/task")
    ana.keyboard.press("2")  # "false"
    with ana.expect_navigation():
        ana.keyboard.press("Enter")
    ben.goto(server.url + "/ui/models/credit/task")
    first = admin.get("/v1/models/credit/review/tasks").json()["tasks"][0]
    assert first["labels"][0]["reviewer"] == "user:ana"
    assert first["task_id"] in ben.content()  # the same task ...
    assert "user:ana" not in ben.content()  # ... and nothing of ana's answer
    assert ben.evaluate("document.querySelectorAll('.labels button.chosen').length") == 0
    # A gold item answered wrongly pauses ben.
    gold_event = admin.get("/v1/models/credit/review/tasks").json()["tasks"][-1]["event_id"]
    admin.post("/v1/models/credit/review/gold", json={"items": [{"event_id": gold_event, "label": True}]})
    admin.put("/v1/models/credit/review/policy", json={**POLICY, "gold": {"rate": 1.0}})
    ben.keyboard.press("s")  # skip the held task: the next one is the gold item
    ben.wait_for_selector("#features")
    ben.keyboard.press("2")
    with ben.expect_navigation():
        ben.keyboard.press("Enter")
    assert "paused" in ben.inner_text("#message")
    stats = admin.get("/v1/models/credit/review/stats").json()
    assert any(g["reviewer"] == "user:ben" and g["paused"] for g in stats["gold"])


def test_a_form_without_its_csrf_token_is_refused(server: Running) -> None:
    _setup(server, POLICY)
    c = httpx.Client(base_url=server.url, timeout=30)
    server.clients.append(c)
    login = c.get("/ui/login")
    assert login.status_code == 200
    no_token = c.post("/ui/login", data={"name": "ana", "password": PASSWORD})
    assert no_token.status_code == 400 and "lw_session" not in no_token.headers.get("set-cookie", "")
    token = login.text.split('name="csrf" value="')[1].split('"')[0]
    ok = c.post("/ui/login", data={"name": "ana", "password": PASSWORD, "csrf": token})
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    page = c.get("/ui/models/credit/task")
    task_url = page.text.split('action="')[2].split('"')[0]  # the answer form (the first is sign-out)
    refused = c.post(task_url, data={"label": "true", "action": "submit"})
    assert refused.status_code == 400
    forged = c.post(task_url, data={"label": "true", "action": "submit", "csrf": "forged"})
    assert forged.status_code == 400
    assert c.get("/ui/models/other/task").status_code == 404  # not granted (and not there)


def test_a_path_under_ui_that_is_no_page_answers_a_page(browser: Browser, server: Running) -> None:
    """The trial: ``GET /ui/models/credit`` (no such page) answered the API's JSON 404 in the browser. Inside
    /ui it is an HTML 404 in the signed-in layout, the path as text; /v1 keeps its JSON."""
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "ana", PASSWORD, "viewer", [], actor="test")
    engine.dispose()
    # Not signed in: to the sign-in page, as any page sends a visitor (it does not say what exists).
    r = httpx.get(server.url + "/ui/models/credit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    page = sign_in(browser, server, "ana")
    for path in ("/ui/models/credit", "/ui/nowhere", f"/ui/models/{SCRIPT}"):
        resp = page.goto(server.url + path)
        assert resp is not None and resp.status == 404
        assert resp.headers["content-type"].startswith("text/html")
        assert page.inner_text("h1") == "Not found"
        shown = page.evaluate("new URL(location.href).pathname")  # the path as the browser sent it
        assert page.inner_text("#message") == f"There is no page at {httpx.URL(server.url + shown).path}."
        assert page.query_selector("header form[action='/ui/logout']") is not None  # the signed-in layout
    assert page.evaluate("window.pwned") is None
    page.close()
    r = httpx.get(server.url + "/v1/nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
