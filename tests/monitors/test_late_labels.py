"""Late labels re-run the window they land in, over a real server on SQLite and PostgreSQL: labels that
join hour 1's events set hour 1's window (and only it) back to pending; its re-run's accuracy is the one
NumPy computes from the raw rows and labels; what the first run found is kept as ``superseded``. The same
labels sent again change nothing and re-run nothing; a corrected label re-runs the window once more. Two
processes marking together mark a window once."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
from tests._fixtures import Running, wait_for
from tests._fixtures.http import SCHEMA, client, register, sdk, traffic
from tests.monitors._helpers import database

import loopwise as lw
from loopwise.monitors import mark_late
from loopwise.store import transaction

T0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=6)
SUITE = {
    "suite": "s",
    "checks": [
        {"metric": "accuracy", "condition": {"ge": 0.5}, "name": "accuracy"},
        {"metric": "row_count", "condition": {"ge": 1}, "name": "rows"},
    ],
}


def _hours(n: int) -> pd.DataFrame:
    frames = []
    for h in range(n):
        df = traffic(400, 70 + h, (T0 + dt.timedelta(hours=h)).isoformat())
        df["request_id"] = [f"{h}-{i}" for i in range(len(df))]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _accuracy(run: dict[str, object]) -> float | None:
    checks = run["result"]["all"]["checks"]  # type: ignore[index]
    return next(c["actual"] for c in checks if c["name"] == "accuracy")  # type: ignore[no-any-return]


def test_late_labels_rerun_their_window_once(server: Running) -> None:
    register(client(server))
    m = sdk(server).model("credit")
    raw = _hours(3)
    m.log(raw.drop(columns=["repaid"]))
    m.add_monitor(
        name="hourly",
        suite=SUITE,
        window="1h",
        step="1h",
        reference=None,
        anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
    )
    first = {r["window_end"]: r for r in m.run_monitors() if r["state"] == "done"}
    assert len(first) == 3 and all(r["labels"] == 0 for r in first.values())
    end1 = (T0 + dt.timedelta(hours=2)).isoformat()
    assert _accuracy(m.monitor_run("hourly", first[end1]["id"])) is None  # no label yet

    hour1 = raw[raw["request_id"].str.startswith("1-")]
    m.log_feedback(hour1["request_id"], hour1["repaid"])
    again = m.run_monitors()
    assert [r["window_end"] for r in again if r["window_end"] <= max(first)] == [end1]
    run = m.monitor_run("hourly", first[end1]["id"])
    assert (run["attempts"], run["labels"], run["n"]) == (2, 1, 400)  # one request changed labels
    expected = float(np.mean(hour1["approved"].to_numpy() == hour1["repaid"].to_numpy()))
    assert abs(_accuracy(run) - expected) < 1e-12
    (old,) = run["superseded"]
    assert (old["reason"], old["attempt"], old["status"], old["n"], old["labels"]) == (
        "late labels",
        1,
        first[end1]["status"],
        400,
        0,
    )
    assert old["finished_at"] == first[end1]["finished_at"]

    m.log_feedback(hour1["request_id"], hour1["repaid"])  # a retried request: nothing changes
    assert [r for r in m.run_monitors() if r["window_end"] <= max(first)] == []

    one = hour1.iloc[:1]
    m.log_feedback(one["request_id"], ~one["repaid"].astype(bool), kind="correction", source="reviewer")
    third = [r for r in m.run_monitors() if r["window_end"] <= max(first)]
    assert [(r["window_end"], r["attempts"]) for r in third] == [(end1, 3)]
    run = m.monitor_run("hourly", first[end1]["id"])
    assert [s["reason"] for s in run["superseded"]] == ["late labels", "late labels"]
    assert run["superseded"][1]["labels"] == 1 and run["labels"] == 2
    history = {r["window_end"]: r for r in m.monitor_history("hourly", limit=1000)}
    others = [e for e in first if e != end1]
    assert all(history[e]["attempts"] == 1 and history[e]["superseded"] == [] for e in others)


def test_two_processes_marking_together_mark_a_window_once(db_url: str) -> None:
    """A's mark holds the run's row until it commits; B, marking meanwhile, saw the run ``done`` and waits
    for that row (PostgreSQL) or for the write lock (SQLite): it then marks nothing; one record is kept."""
    c = lw.Client.local(db_url)
    m = c.register("credit", SCHEMA)
    raw = _hours(1)
    m.log(raw.drop(columns=["repaid"]))
    m.add_monitor(
        name="hourly",
        suite=SUITE,
        window="1h",
        step="1h",
        reference=None,
        anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
    )
    (done,) = [r for r in m.run_monitors() if r["state"] == "done"]
    m.log_feedback(raw["request_id"], raw["repaid"])
    engine, sessions, _ = database(db_url)
    marked: dict[str, list[int]] = {}
    a_marked, b_started = threading.Event(), threading.Event()

    def a() -> None:
        with transaction(sessions) as s:
            marked["a"] = mark_late(s)
            a_marked.set()
            b_started.wait(10)
            if db_url.startswith("postgresql"):  # B's update waits for the row A's update holds
                wait_for(lambda: _waiting(db_url), "B to wait for the run's row lock")

    def b() -> None:
        a_marked.wait(10)
        b_started.set()
        with transaction(sessions) as s:
            marked["b"] = mark_late(s)

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert marked == {"a": [done["id"]], "b": []}
    (rerun,) = [r for r in m.run_monitors() if r["window_end"] == done["window_end"]]
    assert rerun["attempts"] == 2 and len(m.monitor_run("hourly", done["id"])["superseded"]) == 1
    engine.dispose()
    c.close()


def _waiting(url: str) -> bool:
    """Whether a session of this database waits for a lock (PostgreSQL's pg_stat_activity)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0] > 0)
