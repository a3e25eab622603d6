"""The review queue on a real database (SQLite and PostgreSQL): fills record the probabilities the pure
Policy draws, overlap tasks are blind and resolve by majority (ties to an adjudicator), resolved labels
become Feedback, gold answers pause a failing reviewer and retract their labels since the last pass."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from statsmodels.stats.proportion import proportion_confint

import loopwise.review as rv
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.errors import ConflictError, ForbiddenError, NotFoundError
from loopwise.ingest import get_model, log_predictions, register_model, window_table
from loopwise.review.policies import build
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.tables import Feedback, ReviewTask

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=1)
BASE: dict[str, Any] = {
    "tasks": 30,
    "selectors": [{"kind": "uncertainty", "share": 0.6}, {"kind": "random", "share": 0.4}],
}


@pytest.fixture
def db(db_url: str) -> Iterator[tuple[sessionmaker[Session], pd.DataFrame]]:
    engine: Engine = make_engine(db_url)
    from loopwise.store import ensure_schema

    ensure_schema(engine)
    sessions = session_factory(engine)
    df = make_credit(1500, seed=4)
    df["ts"] = pd.Timestamp("2026-11-20T08:00:00Z") + pd.to_timedelta(np.arange(len(df)) * 3, unit="s")
    with transaction(sessions) as s:
        register_model(s, "credit", yaml.safe_load(CREDIT_SCHEMA_YAML), "test")
    with transaction(sessions) as s:
        log_predictions(s, "credit", pa.Table.from_pandas(df.drop(columns=["repaid"]), preserve_index=False))
    yield sessions, df
    engine.dispose()


def _policy(sessions: sessionmaker[Session], **extra: Any) -> None:
    with transaction(sessions) as s:
        rv.set_policy(s, "credit", {**BASE, **extra}, "admin")


def _fill(sessions: sessionmaker[Session], seed: int = 3) -> dict[str, Any]:
    with transaction(sessions) as s:
        return rv.fill(s, "credit", T0, T1, "admin", seed=seed)


def _feedback(sessions: sessionmaker[Session]) -> dict[tuple[str, str], Any]:
    with sessions() as s:
        return {(f.event_id, f.source): (f.kind, f.value["label"]) for f in s.scalars(select(Feedback))}


def _work(sessions: sessionmaker[Session], who: str, answer: Any) -> dict[str, Any] | None:
    """Take the reviewer's next task and answer it with ``answer(task)``."""
    with transaction(sessions) as s:
        t = rv.next_task(s, "credit", who, np.random.default_rng(0))
        if t is not None:
            rv.submit(s, "credit", who, t["task_id"], answer(t), who)
    return t


def test_a_fill_stores_what_the_policy_draws(db: tuple[sessionmaker[Session], pd.DataFrame]) -> None:
    sessions, df = db
    _policy(sessions)
    summary = _fill(sessions, seed=11)
    with sessions() as s:
        table = window_table(s, "credit", T0, T1).drop_columns(["repaid"])
        direct = build(s, "credit", BASE).select(table, seed=np.random.default_rng(11))
        stored = {
            t.event_id: (t.selector, t.inclusion_probability, t.prediction)
            for t in s.scalars(select(ReviewTask))
        }
    assert summary["tasks"] == len(direct) == len(stored)
    assert summary["window_rows"] == len(df)
    for _, row in direct.rows.iterrows():
        sel, pi, pred = stored[row["request_id"]]
        assert sel == row["selector"]
        assert pi == pytest.approx(row["inclusion_probability"])
        assert pred == bool(row["approved"])
    assert direct.probabilities.sum() == pytest.approx(30)  # the budget, in expectation
    with pytest.raises(ConflictError, match="may not overlap"), transaction(sessions) as s:
        rv.fill(s, "credit", T0 + dt.timedelta(hours=1), T1, "admin")


def test_single_reviews_become_feedback_as_label_or_correction(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    sessions, df = db
    _policy(sessions)
    _fill(sessions)
    truth = dict(zip(df["request_id"], df["repaid"], strict=True))
    done = [_work(sessions, "user:ana", lambda t: bool(truth[t["event_id"]])) for _ in range(8)]
    fb = _feedback(sessions)
    assert len(fb) == 8
    for t in done:
        assert t is not None
        assert set(t) == {"task_id", "model", "event_id", "features", "prediction", "scores"}
        kind, label = fb[(t["event_id"], "user:ana")]
        assert label == bool(truth[t["event_id"]])
        assert kind == ("label" if t["prediction"] == label else "correction")


def test_overlap_is_blind_resolves_by_majority_and_ties_go_to_an_adjudicator(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    sessions, _ = db
    _policy(sessions, overlap={"share": 1.0, "k": 2})
    _fill(sessions)
    with transaction(sessions) as s:
        a = rv.next_task(s, "credit", "user:ana")
        rv.submit(s, "credit", "user:ana", a["task_id"], True, "user:ana")  # type: ignore[index]
    with transaction(sessions) as s:
        b = rv.next_task(s, "credit", "user:ben")
    assert b == a  # the same task, shown the same way: nothing of ana's label
    with transaction(sessions) as s:
        c = rv.next_task(s, "credit", "user:cy")
    assert c is not None and c["task_id"] != a["task_id"]  # its two places are taken
    with transaction(sessions) as s:
        rv.submit(s, "credit", "user:ben", b["task_id"], False, "user:ben")  # type: ignore[index]
    with sessions() as s:
        task = s.get(ReviewTask, a["task_id"])  # type: ignore[index]
        assert task is not None and task.state == "adjudication"
    assert not _feedback(sessions)
    with transaction(sessions) as s:
        out = rv.adjudicate(s, "credit", a["task_id"], False, "user:maya")  # type: ignore[index]
    assert out["state"] == "resolved" and out["resolved_by"] == "user:maya"
    assert _feedback(sessions)[(a["event_id"], "user:maya")][1] is False  # type: ignore[index]
    # A majority: cy and ana agree on cy's task.
    with transaction(sessions) as s:
        rv.submit(s, "credit", "user:cy", c["task_id"], True, "user:cy")
        again = rv.next_task(s, "credit", "user:ana")
        assert again is not None and again["task_id"] == c["task_id"]
        rv.submit(s, "credit", "user:ana", c["task_id"], True, "user:ana")
    assert _feedback(sessions)[(c["event_id"], "review:consensus")][1] is True
    with pytest.raises(ConflictError, match="already submitted"), transaction(sessions) as s:
        rv.submit(s, "credit", "user:ana", a["task_id"], True, "user:ana")  # type: ignore[index]
    with pytest.raises(NotFoundError), transaction(sessions) as s:  # a task never handed to ben
        rv.submit(s, "credit", "user:ben", c["task_id"], True, "user:ben")


def test_wilson_interval_is_statsmodels() -> None:
    for k, n, conf in [(0, 1, 0.95), (1, 1, 0.95), (4, 5, 0.95), (17, 40, 0.9), (99, 100, 0.99), (3, 9, 0.8)]:
        lo, hi = proportion_confint(k, n, alpha=1 - conf, method="wilson")
        assert rv.wilson(k, n, conf) == pytest.approx((lo, hi), abs=1e-12)


def test_failing_gold_pauses_and_turns_labels_since_the_last_pass_suspect(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    sessions, df = db
    gold = df.iloc[-10:]  # late events: not among the first tasks handed out
    with transaction(sessions) as s:
        rv.add_gold(
            s,
            "credit",
            [{"event_id": e, "label": bool(y)} for e, y in zip(gold.request_id, gold.repaid, strict=True)],
            "admin",
        )
    truth = dict(zip(df["request_id"], df["repaid"], strict=True))
    right = lambda t: bool(truth[t["event_id"]])  # noqa: E731
    wrong = lambda t: not truth[t["event_id"]]  # noqa: E731
    _policy(sessions, gold={"rate": 0.0, "threshold": 0.95})
    _fill(sessions)
    before = [_work(sessions, "user:ana", right) for _ in range(2)]
    _policy(sessions, gold={"rate": 1.0, "threshold": 0.95})
    g1 = _work(sessions, "user:ana", right)  # 1 of 1: passes
    assert g1 is not None and g1["event_id"] in set(gold.request_id)
    assert set(g1) == set(before[0])  # a gold task looks like any other  # type: ignore[arg-type]
    _policy(sessions, gold={"rate": 0.0, "threshold": 0.95})
    after = [_work(sessions, "user:ana", right) for _ in range(3)]
    assert len(_feedback(sessions)) == 5
    _policy(sessions, gold={"rate": 1.0, "threshold": 0.95})
    _work(sessions, "user:ana", wrong)  # 1 of 2: the upper bound 0.905 is below 0.95
    with pytest.raises(ForbiddenError, match="paused"):
        _work(sessions, "user:ana", right)
    fb = _feedback(sessions)
    assert {e for e, _ in fb} == {t["event_id"] for t in before}  # type: ignore[index]
    with sessions() as s:
        infos = {t["event_id"]: t for t in rv.list_tasks(s, "credit")}
        stats = rv.review_stats(s, "credit")
    assert all(infos[t["event_id"]]["state"] == "suspect" for t in after)  # type: ignore[index]
    assert all(infos[t["event_id"]]["labels"][0]["suspect"] for t in after)  # type: ignore[index]
    assert stats["backlog"]["suspect"] == 3
    ana = next(g for g in stats["gold"] if g["reviewer"] == "user:ana")
    assert (ana["n"], ana["correct"], ana["paused"]) == (2, 1, True)
    assert (ana["ci_low"], ana["ci_high"]) == pytest.approx(proportion_confint(1, 2, method="wilson"))
    with transaction(sessions) as s:
        out = rv.resume(s, get_model(s, "credit"), "user:ana", True, "user:maya")
    assert out == {"reviewer": "user:ana", "labels": 3, "cleared": True}
    assert len(_feedback(sessions)) == 5
    assert _work(sessions, "user:ana", right) is not None  # working again


def test_stats_estimate_and_agreement_match_direct_computations(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    sessions, df = db
    _policy(sessions, overlap={"share": 0.5, "k": 2})
    _fill(sessions, seed=5)
    truth = dict(zip(df["request_id"], df["repaid"], strict=True))
    rng = np.random.default_rng(1)
    noisy = lambda t: bool(truth[t["event_id"]]) ^ bool(rng.random() < 0.2)  # noqa: E731
    for _ in range(40):
        for who in ("user:ana", "user:ben"):
            _work(sessions, who, noisy)
    with sessions() as s:
        stats = rv.review_stats(s, "credit")
        tasks = rv.list_tasks(s, "credit", limit=1000)
    resolved = [t for t in tasks if t["state"] == "resolved"]
    y = np.array([float(t["label"] == t["prediction"]) for t in resolved])
    pi = np.array([t["inclusion_probability"] for t in resolved])
    assert stats["estimate"]["combined"]["value"] == pytest.approx(np.sum(y / pi) / np.sum(1 / pi))
    assert stats["estimate"]["naive"] == pytest.approx(y.mean())
    pairs = [({x["reviewer"]: x["label"] for x in t["labels"]}) for t in tasks if t["needed"] == 2]
    both = [(p["user:ana"], p["user:ben"]) for p in pairs if {"user:ana", "user:ben"} <= set(p)]
    kappa = stats["agreement"]["pairs"][0]["cohen_kappa"]["value"]
    assert kappa == pytest.approx(cohen_kappa_score(*zip(*both, strict=True)))
    assert stats["backlog"]["open"] + stats["backlog"]["adjudication"] + stats["resolved"] == len(tasks)


def test_a_fill_off_the_hour_takes_exactly_the_events_of_its_window(
    db: tuple[sessionmaker[Session], pd.DataFrame],
) -> None:
    """A window from 08:30 to 09:10 holds the events whose time is in it, counted by pandas on the raw rows:
    the hourly buckets had dropped 08:30 to 09:00 and taken 09:10 to 09:15."""
    sessions, df = db
    _policy(sessions)
    start, end = T0 + dt.timedelta(hours=8, minutes=30), T0 + dt.timedelta(hours=9, minutes=10)
    with transaction(sessions) as s:
        summary = rv.fill(s, "credit", start, end, "admin", seed=5)
    inside = df[(df["ts"] >= pd.Timestamp(start)) & (df["ts"] < pd.Timestamp(end))]
    assert summary["window_rows"] == len(inside) == 800
    with sessions() as s:
        stored = {t.event_id: t.inclusion_probability for t in s.scalars(select(ReviewTask))}
        policy = build(s, "credit", BASE)
    assert set(stored) <= set(inside["request_id"])
    # The same draw on the raw rows of the window, selected with pandas: the same tasks and probabilities.
    raw = inside.drop(columns=["repaid"]).reset_index(drop=True)
    direct = policy.select(raw, seed=np.random.default_rng(5))
    assert dict(zip(direct.rows["request_id"], direct.rows["inclusion_probability"], strict=True)) == (
        pytest.approx(stored)
    )
    assert direct.probabilities.sum() == pytest.approx(30)
    # The next window starts where this one ended, inside the same hour, and does not clash with it.
    with transaction(sessions) as s:
        after = rv.fill(s, "credit", end, T0 + dt.timedelta(hours=10), "admin", seed=6)
    assert after["window_rows"] == int((df["ts"] >= pd.Timestamp(end)).sum()) == 100
