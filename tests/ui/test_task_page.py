"""The task page's insight in a real browser (Playwright on /usr/bin/chromium, a real server on loopback,
SQLite and PostgreSQL): where each value falls in the reference against NumPy on the reference's rows,
"new category" for an unseen value, SHAP values of a registered scikit-learn champion that add up to the
model's own predict_proba, the plain fallback without one, and payloads in categories shown as text."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page
from sklearn.ensemble import RandomForestClassifier
from tests._fixtures import Running
from tests._fixtures.browser import PASSWORD, sign_in
from tests._fixtures.http import SCHEMA, client, records, register, sdk, traffic
from tests._fixtures.registry import SCHEMA as LOANS

from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.users import create_user

SCRIPT = "<script>window.pwned = 1</script>"
IMG = '"><img src=x onerror="window.pwned = 2">'
RANDOM = {"tasks": 6, "selectors": [{"kind": "random", "share": 1.0}]}


@pytest.fixture
def trusting_trees(monkeypatch: pytest.MonkeyPatch, db_url: str, request: pytest.FixtureRequest) -> Running:
    """A server whose operator trusts scikit-learn's tree type in skops files (decision 0025's rules)."""
    monkeypatch.setenv("LOOPWISE_TRUSTED_TYPES", "sklearn.tree._tree.Tree")  # read when the server starts
    running: Running = request.getfixturevalue("server")
    return running


def _reviewer(server: Running, model: str) -> None:
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "ana", PASSWORD, "reviewer", [model], actor="test")
    engine.dispose()


def _position(page: Page, feature: str) -> str:
    return page.inner_text(f'td.pos[data-feature="{feature}"]')


def test_positions_new_category_and_the_plain_fallback(browser: Browser, server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    reference = traffic(2000, seed=1)
    reference["purpose"] = np.where(np.arange(2000) % 4 == 0, SCRIPT, reference["purpose"])
    df = traffic(200, seed=5)
    df["purpose"] = SCRIPT  # a category the reference holds (a quarter of its rows)
    df["region"] = IMG  # a category it has never seen
    df["race"] = "group_z"  # so is this segment value: shown with the event, never ranked as unusual
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    sdk(server).model("credit").set_reference(reference)  # uploaded as a Profile: no rows kept
    assert admin.put("/v1/models/credit/review/policy", json=RANDOM).status_code == 200
    window = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "seed": 3}
    filled = admin.post("/v1/models/credit/review/fill", json=window)
    assert filled.status_code == 200
    n = filled.json()["tasks"]
    _reviewer(server, "credit")
    page = sign_in(browser, server, "ana")
    assert f"0 of {n} tasks answered" in page.inner_text("table")  # the queue page's progress
    page.click("text=Start reviewing")
    page.wait_for_selector("#features")
    task_id = page.get_attribute("#answer", "action").rsplit("/", 1)[1]  # type: ignore[union-attr]
    event = next(
        t for t in admin.get("/v1/models/credit/review/tasks").json()["tasks"] if t["task_id"] == task_id
    )
    row = df.set_index("request_id").loc[event["event_id"]]
    for feature in ("income", "age", "loan_amount"):
        shown = re.fullmatch(r"percentile (\d+)", _position(page, feature))
        assert shown, _position(page, feature)
        truth = 100 * np.mean(reference[feature].dropna() <= row[feature])
        assert abs(int(shown.group(1)) - truth) <= 2.5  # the sketch's rank error
    assert _position(page, "region").startswith("new category")
    assert _position(page, "purpose") == "25.0% of the reference"
    assert SCRIPT in page.inner_text("#features") and IMG in page.inner_text("#features")
    assert page.evaluate("window.pwned") is None
    heading = page.inner_text("#explanation h2")
    assert heading == "Features furthest from the reference, not the model's reasons"
    assert "no champion" in page.inner_text("#no-explanation")
    first = page.locator("#explanation tr.bar").first
    assert first.get_attribute("data-feature") == "region"  # the unseen category is the most unusual
    ranked = page.locator("#explanation tr.bar")
    shown = {ranked.nth(i).get_attribute("data-feature") for i in range(ranked.count())}
    assert "race" not in shown and "race" in SCHEMA["columns"]  # the segment column is not ranked
    assert page.evaluate("window.pwned") is None
    assert f"0 of {n} tasks answered" in page.inner_text(".progress")
    with page.expect_navigation():
        page.keyboard.press("1")
        page.keyboard.press("Enter")
    assert f"1 of {n} tasks answered" in page.inner_text(".progress")
    assert page.inner_text("#done") == "1"
    page.close()


def test_shap_values_of_a_registered_champion_add_up_to_its_predict_proba(
    browser: Browser, trusting_trees: Running
) -> None:
    server = trusting_trees
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"income": rng.normal(50, 10, 1500), "age": rng.integers(18, 80, 1500).astype(float)})
    y = X.income + 0.2 * X.age + rng.normal(0, 5, 1500) > 58
    forest = RandomForestClassifier(30, max_depth=6, random_state=0).fit(X, y)
    admin = sdk(server)
    admin.register("loans", LOANS)
    loans = admin.model("loans")
    loans.register_version("v1", forest, sample=X.head(50))
    loans.set_alias("champion", "v1")
    live = X.sample(300, random_state=1).reset_index(drop=True)
    live.insert(0, "id", [f"e{i}" for i in range(len(live))])
    before = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)  # windows are whole hours
    loans.predict(live)
    after = before + dt.timedelta(hours=2)
    http = client(server)
    pin = {"name": "default", "start": before.isoformat(), "end": after.isoformat()}
    pinned = http.post("/v1/models/loans/references/pin", json=pin)
    assert pinned.status_code == 201, pinned.text
    assert http.put("/v1/models/loans/review/policy", json=RANDOM).status_code == 200
    fill = {"start": before.isoformat(), "end": after.isoformat(), "seed": 1}
    assert http.post("/v1/models/loans/review/fill", json=fill).status_code == 200
    _reviewer(server, "loans")
    page = sign_in(browser, server, "ana")
    page.goto(server.url + "/ui/models/loans/task")
    page.wait_for_selector("#explanation")
    assert page.inner_text("#explanation h2") == "Why: SHAP values of v1"
    task_id = page.get_attribute("#answer", "action").rsplit("/", 1)[1]  # type: ignore[union-attr]
    event = next(t for t in loans.review_tasks() if t["task_id"] == task_id)["event_id"]
    x = live.set_index("id").loc[[event], ["income", "age"]]
    proba = forest.predict_proba(x)[0]
    answered = proba.max()
    value = float(page.get_attribute("#shap-value", "data-value"))  # type: ignore[arg-type]
    base = float(page.get_attribute("#shap-base", "data-value"))  # type: ignore[arg-type]
    bars = page.locator("#explanation tr.bar")
    contributions = {
        bars.nth(i).get_attribute("data-feature"): float(bars.nth(i).get_attribute("data-value"))  # type: ignore[arg-type]
        for i in range(bars.count())
    }
    assert set(contributions) == {"income", "age"}
    assert value == pytest.approx(answered, abs=1e-6)  # TreeExplainer sums in float32 thresholds
    assert base + sum(contributions.values()) == pytest.approx(answered, abs=1e-6)
    assert base == pytest.approx(
        forest.predict_proba(live[["income", "age"]]).mean(axis=0)[proba.argmax()], abs=0.15
    )
    note = page.inner_text("#explanation .note")
    assert "rows of the reference" in note and "cached" not in note
    page.reload()  # the same held task: its explanation now comes from the cache
    assert page.get_attribute("#answer", "action").endswith(task_id)  # type: ignore[union-attr]
    assert "cached" in page.inner_text("#explanation .note")
    assert float(page.get_attribute("#shap-value", "data-value")) == value  # type: ignore[arg-type]
    # Another default reference is another background: the explanation is computed again, not cached.
    other = X.sample(500, random_state=3)
    other = other.assign(id=[f"r{i}" for i in range(500)], ts=pd.Timestamp.now(tz="UTC"))
    other["approved"] = forest.predict(other[["income", "age"]])
    other["p_approved"] = forest.predict_proba(other[["income", "age"]])[:, 1]
    loans.set_reference(other)  # a Profile: no rows, so the background is the latest hour's traffic
    page.reload()
    note = page.inner_text("#explanation .note")
    assert "logged events of the latest hour" in note and "cached" not in note
    value, base = (float(page.get_attribute(f"#shap-{k}", "data-value")) for k in ("value", "base"))  # type: ignore[arg-type]
    assert value == pytest.approx(answered, abs=1e-6)
    page.close()


def test_a_reference_without_the_target_leaves_its_kind_to_the_labels(
    browser: Browser, server: Running
) -> None:
    """set_reference() with a frame lacking the target column: the boolean target still gets its label
    buttons (the prediction's kind until labels come), and the first label fixes the target as boolean."""
    admin = client(server)
    register(admin, "credit")
    sdk(server).model("credit").set_reference(traffic(2000, seed=1).drop(columns=["repaid"]))
    schema = admin.get("/v1/models/credit").json()["schema"]["columns"]
    assert schema["repaid"].get("kind") is None  # the reference held no labels: not fixed by it
    df = traffic(200, seed=5)
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    assert admin.put("/v1/models/credit/review/policy", json=RANDOM).status_code == 200
    window = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "seed": 3}
    assert admin.post("/v1/models/credit/review/fill", json=window).status_code == 200
    _reviewer(server, "credit")
    page = sign_in(browser, server, "ana")
    page.goto(server.url + "/ui/models/credit/task")
    page.wait_for_selector("#answer")
    buttons = page.locator(".labels button")
    assert [buttons.nth(i).get_attribute("data-label") for i in range(buttons.count())] == ["true", "false"]
    assert page.locator("#free").count() == 0  # no free-text box in their place
    task_id = page.get_attribute("#answer", "action").rsplit("/", 1)[1]  # type: ignore[union-attr]
    with page.expect_navigation():
        page.keyboard.press("1")
        page.keyboard.press("Enter")
    event = next(
        t for t in admin.get("/v1/models/credit/review/tasks").json()["tasks"] if t["task_id"] == task_id
    )
    assert event["label"] is True  # stored as a boolean, not the text "true"
    fixed = admin.get("/v1/models/credit").json()["schema"]["columns"]["repaid"]
    assert fixed["kind"] == "boolean"  # fixed by the first label
    buttons = page.locator(".labels button")
    assert [buttons.nth(i).get_attribute("data-label") for i in range(buttons.count())] == ["true", "false"]
    page.close()
