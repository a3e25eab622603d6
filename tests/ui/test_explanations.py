"""The task page's explanation on the paths beside a trusted scikit-learn classifier, in a real browser
(Playwright on /usr/bin/chromium, real servers on loopback, SQLite and PostgreSQL): shap not installed, a
champion whose skops file holds a type the operator does not trust, a pickled champion (refused unless the
operator trusts pickles, explained when they do), a regressor, and an ONNX classifier. Each refusal is one
line on a page that still answers 200 with the features furthest from the reference; each explanation adds
up to the model's own output, computed here by the model itself (scikit-learn, onnxruntime)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from tests._fixtures import Running
from tests._fixtures.browser import PASSWORD
from tests._fixtures.http import client, sdk
from tests._fixtures.registry import SCHEMA as LOANS
from tests._fixtures.servers import serving

import loopwise as lw
from loopwise.registry import RegistrySettings
from loopwise.server import Settings, create_app
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.users import create_user

RANDOM = {"tasks": 4, "selectors": [{"kind": "random", "share": 1.0}]}
TREE = "sklearn.tree._tree.Tree"
PRICES = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "income": {"kind": "numeric"},
        "age": {"kind": "numeric"},
        "price": {"role": "prediction", "kind": "numeric"},
        "sold_for": {"role": "target", "kind": "numeric"},
    }
}


def _applicants(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"income": rng.normal(50, 10, n), "age": rng.integers(18, 80, n).astype(float)})


def _queue(server: Running, model: str, live: pd.DataFrame, log: Any) -> None:
    """Log ``live`` (by ``log``), pin the reference on it, fill the queue, and add the reviewer ana."""
    before = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    log(live)
    after = before + dt.timedelta(hours=3)  # whole hours around now, whenever the hour turns
    http = client(server)
    pin = {"name": "default", "start": before.isoformat(), "end": after.isoformat()}
    assert http.post(f"/v1/models/{model}/references/pin", json=pin).status_code == 201
    assert http.put(f"/v1/models/{model}/review/policy", json=RANDOM).status_code == 200
    fill = {"start": before.isoformat(), "end": after.isoformat(), "seed": 1}
    assert http.post(f"/v1/models/{model}/review/fill", json=fill).status_code == 200
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, "ana", PASSWORD, "reviewer", [model], actor="test")
    engine.dispose()


def _task_page(browser: Browser, server: Running, model: str) -> tuple[Page, str]:
    """Ana signed in on the model's task page: the page and the event it shows."""
    page = browser.new_page()
    page.goto(server.url + "/ui/login")
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/ui/")
    response = page.goto(f"{server.url}/ui/models/{model}/task")
    assert response is not None and response.status == 200
    page.wait_for_selector("#explanation")
    task_id = page.get_attribute("#answer", "action").rsplit("/", 1)[1]  # type: ignore[union-attr]
    tasks = sdk(server).model(model).review_tasks()
    return page, next(t for t in tasks if t["task_id"] == task_id)["event_id"]


def _shap(page: Page) -> tuple[float, float, dict[str, float]]:
    """The value, base and contributions the page shows (from their data attributes)."""
    value = float(page.get_attribute("#shap-value", "data-value"))  # type: ignore[arg-type]
    base = float(page.get_attribute("#shap-base", "data-value"))  # type: ignore[arg-type]
    bars = page.locator("#explanation tr.bar")
    contributions = {
        str(bars.nth(i).get_attribute("data-feature")): float(bars.nth(i).get_attribute("data-value"))  # type: ignore[arg-type]
        for i in range(bars.count())
    }
    return value, base, contributions


def _refused(page: Page) -> str:
    """The one-line reason of a page without an explanation, which shows the plain fallback instead."""
    assert (
        page.inner_text("#explanation h2") == "Features furthest from the reference, not the model's reasons"
    )
    assert page.locator("#explanation tr.bar").count() > 0  # the fallback's bars
    return page.inner_text("#no-explanation")


def _forest() -> tuple[RandomForestClassifier, pd.DataFrame]:
    X = _applicants(1500, 7)
    y = X.income + 0.2 * X.age + np.random.default_rng(8).normal(0, 5, len(X)) > 58
    forest = RandomForestClassifier(20, max_depth=5, random_state=0).fit(X, y)
    return forest, X


def _served(forest: RandomForestClassifier, X: pd.DataFrame) -> pd.DataFrame:
    """A hundred of the applicants as the forest served them (prediction, score, time now)."""
    live = X.sample(100, random_state=1).reset_index(drop=True)
    live.insert(0, "id", [f"e{i}" for i in range(len(live))])
    live["approved"] = forest.predict(live[["income", "age"]])
    live["p_approved"] = forest.predict_proba(live[["income", "age"]])[:, 1]
    live["ts"] = pd.Timestamp.now(tz="UTC")
    return live


@pytest.fixture
def trusting_trees(monkeypatch: pytest.MonkeyPatch, db_url: str, request: pytest.FixtureRequest) -> Running:
    monkeypatch.setenv("LOOPWISE_TRUSTED_TYPES", TREE)  # read when the server starts
    running: Running = request.getfixturevalue("server")
    return running


def test_without_shap_the_page_says_so_and_shows_the_fallback(
    browser: Browser, trusting_trees: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = trusting_trees
    admin = sdk(server)
    loans = admin.register("loans", LOANS)
    forest, X = _forest()
    loans.register_version("v1", forest, sample=X.head(50))
    loans.set_alias("champion", "v1")
    live = X.sample(100, random_state=1).reset_index(drop=True)
    live.insert(0, "id", [f"e{i}" for i in range(len(live))])
    _queue(server, "loans", live, loans.predict)
    monkeypatch.setitem(sys.modules, "shap", None)  # `import shap` now fails, as without the extra
    page, _ = _task_page(browser, server, "loans")
    reason = _refused(page)
    assert reason == "no explanation: shap is not installed on the server (pip install 'loopwise[explain]')"
    page.close()


def test_a_type_the_operator_does_not_trust_is_named_and_not_loaded(
    browser: Browser, server: Running, db_url: str
) -> None:
    """The version was registered while the tree type was trusted; this server's allow-list is empty."""
    client(server).post("/v1/models", json={"name": "loans", "schema": LOANS})
    trusting = lw.Client.local(db_url, registry=RegistrySettings(trusted_types=(TREE,)))
    try:
        loans = trusting.model("loans")
        forest, X = _forest()
        loans.register_version("v1", forest, sample=X.head(50))
        loans.set_alias("champion", "v1")
    finally:
        trusting.close()
    live = _served(forest, X)
    _queue(server, "loans", live, sdk(server).model("loans").log)
    page, _ = _task_page(browser, server, "loans")
    assert _refused(page) == (
        "no explanation: the champion 'v1' is not loaded here: refused: the skops file holds a type outside "
        f"the allow-list: {TREE}; if you trust it, the operator adds it to trusted_types "
        "(LOOPWISE_TRUSTED_TYPES)"
    )
    page.close()


def test_a_pickled_champion_is_refused_unless_the_operator_trusts_pickles(
    browser: Browser, server: Running, db_url: str, tmp_path: Path
) -> None:
    client(server).post("/v1/models", json={"name": "loans", "schema": LOANS})
    forest, X = _forest()
    joblib.dump(forest, tmp_path / "forest.joblib")
    trusting = lw.Client.local(db_url, registry=RegistrySettings(trust_pickle=True))
    try:
        loans = trusting.model("loans")
        loans.register_version("v1", tmp_path / "forest.joblib", sample=X.head(50))
        loans.set_alias("champion", "v1")
    finally:
        trusting.close()
    live = _served(forest, X)
    _queue(server, "loans", live, sdk(server).model("loans").log)
    page, _ = _task_page(browser, server, "loans")
    assert _refused(page).startswith(
        "no explanation: the champion 'v1' is not loaded here: refused: the artifact is a pickle or joblib "
        "file, and loading one runs whatever code it holds"
    )
    page.close()
    # A server of an operator who trusts pickles, on the same database, explains it.
    settings = Settings(database_url=db_url, registry=RegistrySettings(trust_pickle=True))
    with serving(create_app(settings), db_url) as trusting_server:
        page, event = _task_page(browser, trusting_server, "loans")
        assert page.inner_text("#explanation h2") == "Why: SHAP values of v1"
        value, base, contributions = _shap(page)
        proba = forest.predict_proba(live.set_index("id").loc[[event], ["income", "age"]])[0]
        assert value == pytest.approx(proba.max(), abs=1e-6)
        assert base + sum(contributions.values()) == pytest.approx(value, abs=1e-6)
        page.close()


def test_a_regressors_prediction_is_explained(browser: Browser, trusting_trees: Running) -> None:
    server = trusting_trees
    admin = sdk(server)
    houses = admin.register("houses", PRICES)
    X = _applicants(1500, 9)
    y = 3 * X.income + X.age + np.random.default_rng(10).normal(0, 5, len(X))
    forest = RandomForestRegressor(20, max_depth=6, random_state=0).fit(X, y)
    houses.register_version("v1", forest, sample=X.head(50))
    houses.set_alias("champion", "v1")
    live = X.sample(100, random_state=2).reset_index(drop=True)
    live.insert(0, "id", [f"h{i}" for i in range(len(live))])
    _queue(server, "houses", live, houses.predict)
    page, event = _task_page(browser, server, "houses")
    assert page.inner_text("#explanation h2") == "Why: SHAP values of v1"
    assert "The model's prediction is" in page.inner_text("#explanation")
    value, base, contributions = _shap(page)
    predicted = float(forest.predict(live.set_index("id").loc[[event], ["income", "age"]])[0])
    assert value == pytest.approx(predicted, rel=1e-6)
    assert base + sum(contributions.values()) == pytest.approx(predicted, rel=1e-6)
    assert base == pytest.approx(float(forest.predict(live[["income", "age"]]).mean()), rel=0.1)
    assert set(contributions) == {"income", "age"}
    # A number is answered in a text box and stored as a number.
    assert page.locator(".labels button").count() == 0
    page.fill("#free", "151.5")
    with page.expect_navigation():
        page.click("#submit")
    (task,) = [t for t in houses.review_tasks() if t["event_id"] == event]
    assert task["label"] == 151.5
    page.close()


def test_an_onnx_classifier_is_explained_by_its_own_outputs(browser: Browser, server: Running) -> None:
    admin = sdk(server)
    loans = admin.register("loans", LOANS)
    X = _applicants(1500, 11)
    y = (X.income + 0.2 * X.age + np.random.default_rng(12).normal(0, 5, len(X)) > 58).astype(int)
    gbm = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X.to_numpy(np.float32), y)
    onx = to_onnx(gbm, X.to_numpy(np.float32)[:1], options={"zipmap": False})
    loans.register_version("v1", onx, flavor="onnx", sample=X.head(50))
    loans.set_alias("champion", "v1")
    live = X.sample(100, random_state=3).reset_index(drop=True)
    live.insert(0, "id", [f"o{i}" for i in range(len(live))])
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(
        None, {session.get_inputs()[0].name: live[["income", "age"]].to_numpy(np.float32)}
    )
    live["approved"] = labels.astype(bool)
    live["p_approved"] = proba[:, 1]
    live["ts"] = pd.Timestamp.now(tz="UTC")
    _queue(server, "loans", live, loans.log)
    page, event = _task_page(browser, server, "loans")
    assert page.inner_text("#explanation h2") == "Why: SHAP values of v1"
    value, base, contributions = _shap(page)
    i = int(np.flatnonzero(live["id"] == event)[0])
    answered = int(proba[i].argmax())
    assert f"probability of {answered}" in page.inner_text("#explanation")
    assert value == pytest.approx(float(proba[i, answered]), abs=1e-6)
    assert base + sum(contributions.values()) == pytest.approx(value, abs=1e-6)
    assert "permutation shap" in page.inner_text("#explanation")
    page.close()
