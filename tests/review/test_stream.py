"""Selection as events arrive (decision 0042), on a real database (SQLite and PostgreSQL): the stream fills
each hour once it is old enough, paces the day's budget over its hours, records for every task the
inclusion probability the policy gives it on its hour's events (recomputed here from the raw rows, selected
with pandas), skips what another fill covers, counts late events, and never fills a window twice, however
many passes run at once."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import loopwise.review as rv
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.errors import ConflictError, NotFoundError, ParameterError
from loopwise.ingest import log_predictions, register_model
from loopwise.review import Policy
from loopwise.review.policies import build
from loopwise.review.stream import paced, stream_pass
from loopwise.store import ensure_schema, make_engine, session_factory, transaction
from loopwise.store.tables import ReviewFill, ReviewPolicy, ReviewTask

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
SELECTORS = [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}]
STREAM: dict[str, Any] = {
    "tasks": 120,
    "selectors": SELECTORS,
    "stream": {"every": 3600, "delay": 60, "since": DAY.isoformat(), "seed": 7},
}


def _traffic(hours: range, seed: int) -> pd.DataFrame:
    """Events over the given hours of the day, more by day than by night (40 to 160 an hour)."""
    rng = np.random.default_rng(seed)
    parts = []
    for h in hours:
        n = int(40 + 120 * np.sin(np.pi * h / 24) ** 2)
        df = make_credit(n, seed=seed * 100 + h)
        df["request_id"] = [f"s{seed}h{h}e{i}" for i in range(n)]
        df["ts"] = (
            pd.Timestamp(DAY) + pd.Timedelta(hours=h) + pd.to_timedelta(np.sort(rng.uniform(0, 3600, n)), "s")
        )
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(db_url)
    ensure_schema(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        register_model(s, "credit", yaml.safe_load(CREDIT_SCHEMA_YAML), "test")
    yield sessions
    engine.dispose()


def _log(sessions: sessionmaker[Session], df: pd.DataFrame) -> None:
    with transaction(sessions) as s:
        log_predictions(s, "credit", pa.Table.from_pandas(df.drop(columns=["repaid"]), preserve_index=False))


def _policy(sessions: sessionmaker[Session], spec: dict[str, Any]) -> dict[str, Any]:
    with transaction(sessions) as s:
        return rv.set_policy(s, "credit", spec, "admin")


def _fills(sessions: sessionmaker[Session]) -> list[ReviewFill]:
    with sessions() as s:
        return list(s.scalars(select(ReviewFill).order_by(ReviewFill.start)))


def _tasks(sessions: sessionmaker[Session]) -> dict[str, tuple[int | None, float | None]]:
    with sessions() as s:
        return {t.event_id: (t.fill_id, t.inclusion_probability) for t in s.scalars(select(ReviewTask))}


def test_a_day_streamed_hour_by_hour_records_the_designs_probabilities(db: sessionmaker[Session]) -> None:
    sessions = db
    df = _traffic(range(24), seed=1)
    _log(sessions, df)
    _policy(sessions, STREAM)
    assert stream_pass(sessions, now=DAY + HOUR + dt.timedelta(seconds=59)) == []  # 00:00 not a minute old
    made = stream_pass(sessions, now=DAY + 5 * HOUR + dt.timedelta(seconds=59))
    assert [m["start"] for m in made] == [(DAY + h * HOUR).isoformat() for h in range(4)]  # 04:00 is not
    made += stream_pass(sessions, now=DAY + dt.timedelta(days=1, seconds=60))
    assert len(made) == 24
    assert stream_pass(sessions, now=DAY + dt.timedelta(days=1, seconds=60)) == []  # each hour once
    day = _fills(sessions)
    assert [f.start for f in day] == [DAY + h * HOUR for h in range(24)]
    assert all(f.mode == "stream" for f in day)
    # The day's budget, paced: 120 / 24 an hour while every hour has enough events; in all, 120.
    assert [f.budget for f in day] == pytest.approx([5.0] * 24)
    assert sum(f.budget for f in day) == pytest.approx(120)
    tasks = _tasks(sessions)
    with sessions() as s:
        policy = build(s, "credit", STREAM)
    for h, f in enumerate(day):
        # The hour's events, selected with pandas on the raw rows; the policy's probabilities on them.
        hour = df[(df["ts"] >= pd.Timestamp(f.start)) & (df["ts"] < pd.Timestamp(f.end))]
        assert f.window_rows == len(hour)
        pi = pd.Series(
            Policy(policy.selectors, tasks=5.0).probabilities(hour.drop(columns=["repaid"]))[1],
            index=hour["request_id"].to_numpy(),
        )
        assert pi.sum() == pytest.approx(5.0)
        mine = {e: p for e, (fid, p) in tasks.items() if fid == f.id}
        assert f.tasks == len(mine), h
        for e, p in mine.items():
            assert p == pytest.approx(pi[e])
    # Every task of the day belongs to one hour's fill: the hours' tasks are all the tasks.
    assert sum(f.tasks for f in day) == len(tasks)


def test_events_arrive_after_the_pass_a_fill_covers_part_and_late_events_are_counted(
    db: sessionmaker[Session],
) -> None:
    sessions = db
    _log(sessions, _traffic(range(0, 3), seed=2))
    spec = _policy(sessions, {**STREAM, "stream": {"every": 3600, "delay": 600, "seed": 3}})
    # Without since, the stream starts at the hour the policy was set: stamped in the stored policy.
    assert dt.datetime.fromisoformat(spec["stream"]["since"]).minute == 0
    _policy(sessions, STREAM)
    assert len(stream_pass(sessions, now=DAY + 3 * HOUR + dt.timedelta(minutes=10))) == 3
    # The next hours' events arrive later; an on-demand fill takes 04:30 to 05:30 first.
    later = _traffic(range(3, 7), seed=3)
    _log(sessions, later)
    with transaction(sessions) as s:
        rv.fill(s, "credit", DAY + 4.5 * HOUR, DAY + 5.5 * HOUR, "admin", seed=1)
    made = stream_pass(sessions, now=DAY + 7 * HOUR + dt.timedelta(minutes=10))
    pieces = [(m["start"], m["end"]) for m in made]
    assert pieces == [
        ((DAY + 3 * HOUR).isoformat(), (DAY + 4 * HOUR).isoformat()),
        ((DAY + 4 * HOUR).isoformat(), (DAY + 4.5 * HOUR).isoformat()),
        ((DAY + 5.5 * HOUR).isoformat(), (DAY + 6 * HOUR).isoformat()),
        ((DAY + 6 * HOUR).isoformat(), (DAY + 7 * HOUR).isoformat()),
    ]
    # Each piece's budget is what is left of the day's, in proportion to its part of the day left.
    fills = [f for f in _fills(sessions) if f.mode == "stream"]
    spent = 0.0
    for f in fills:
        assert f.budget == pytest.approx(paced(120, spent, f.start, f.end))
        assert f.budget == pytest.approx((120 - spent) * (f.end - f.start) / (DAY + 24 * HOUR - f.start))
        spent += f.budget
    windows = sorted((f.start, f.end) for f in _fills(sessions))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(windows))  # no overlap
    # Events of 01:00 logged after their hour was filled: in no fill, counted as late.
    late = _traffic(range(1, 2), seed=4).head(7)
    _log(sessions, late)
    with sessions() as s:
        stats = rv.review_stats(s, "credit")
    assert stats["budget"]["mode"] == "stream" and stats["budget"]["fills"] == 7
    assert stats["budget"]["late"] == 7
    assert not set(late["request_id"]) & set(_tasks(sessions))


def test_passes_at_once_never_fill_a_window_twice(db: sessionmaker[Session]) -> None:
    sessions = db
    _log(sessions, _traffic(range(24), seed=5))
    _policy(sessions, STREAM)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            stream_pass(sessions, now=DAY + dt.timedelta(days=1, minutes=5))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    while stream_pass(sessions, now=DAY + dt.timedelta(days=1, minutes=5)):
        pass  # what the threads left (a pass that lost the lock does nothing)
    fills = _fills(sessions)
    assert [f.start for f in fills] == [DAY + h * HOUR for h in range(24)]


def test_a_stream_is_checked_when_the_policy_is_set(db: sessionmaker[Session]) -> None:
    with pytest.raises(ParameterError, match="dividing a day"):
        _policy(db, {**STREAM, "stream": {"every": 7000}})
    with pytest.raises(ParameterError, match=r"stream\.delay"):
        _policy(db, {**STREAM, "stream": {"delay": -1}})
    with pytest.raises(ParameterError, match="stream"):
        _policy(db, {**STREAM, "stream": {"every": 3600, "when": "now"}})


def test_increments_without_events_store_no_fill_and_are_gone_through_once(db: sessionmaker[Session]) -> None:
    """A stream of minutes (``every: 60``) over six hours in which only some minutes have events: a fill per
    minute with events and none for the others (they were 1,440 rows a day), the watermark at the end, the
    budgets paced as before, late events into an empty minute counted, and a demand fill over the streamed
    span refused (decision 0046)."""
    sessions = db
    rng = np.random.default_rng(11)
    n = 300
    df = make_credit(n, seed=11)
    df["request_id"] = [f"m{i}" for i in range(n)]
    minutes = np.sort(rng.choice(360, size=25, replace=False))  # 25 of the 360 minutes have events
    df["ts"] = pd.Timestamp(DAY) + pd.to_timedelta(
        rng.choice(minutes, size=n) * 60 + rng.uniform(0, 60, n), unit="s"
    )
    _log(sessions, df)
    spec = {**STREAM, "tasks": 1440, "stream": {"every": 60, "delay": 0, "since": DAY.isoformat(), "seed": 2}}
    _policy(sessions, spec)
    end = DAY + 6 * HOUR
    made = rv.stream_model(sessions, "credit", until=end, now=end, limit=1000)
    assert len(made) == 360  # every minute gone through ...
    fills = _fills(sessions)
    with_events = sorted(df["ts"].dt.floor("min").unique())
    assert [pd.Timestamp(f.start) for f in fills] == with_events  # ... and only those with events stored
    assert [f.window_rows for f in fills] == df.groupby(df["ts"].dt.floor("min")).size().tolist()
    assert all(m["fill_id"] is None for m in made if m["window_rows"] == 0)
    with sessions() as s:
        assert s.scalar(select(ReviewPolicy.stream_mark)) == end
    assert rv.stream_model(sessions, "credit", until=end, now=end) == []  # once each
    # Paced as before: an empty minute spends nothing and leaves its share to the later ones.
    spent = 0.0
    for f in fills:
        assert f.budget == pytest.approx(paced(1440, spent, f.start, f.end))
        spent += f.budget
    # Events logged late into a minute that had none: no chance of review, and counted.
    empty = next(m for m in range(360) if m not in set(minutes.tolist()))
    late = make_credit(4, seed=12)
    late["request_id"] = [f"late{i}" for i in range(4)]
    late["ts"] = pd.Timestamp(DAY) + pd.Timedelta(minutes=int(empty), seconds=30)
    _log(sessions, late)
    with sessions() as s:
        stats = rv.review_stats(s, "credit")
    assert stats["budget"]["late"] == 4 and stats["budget"]["fills"] == len(fills)
    # The streamed span, empty minutes included, is filled: a demand fill there is refused.
    t0 = DAY + dt.timedelta(minutes=int(empty))
    with pytest.raises(ConflictError, match="review stream went through"), transaction(sessions) as s:
        rv.fill(s, "credit", t0, t0 + dt.timedelta(minutes=1), "admin")
    # After the mark it is not (there it finds no traffic, a different refusal).
    with pytest.raises(NotFoundError, match="no traffic"), transaction(sessions) as s:
        rv.fill(s, "credit", end, end + HOUR, "admin")
