"""The review queue filled as events arrive (decision 0042), by a real server's background thread on
loopback (SQLite and PostgreSQL): events logged over HTTP in real time become tasks within seconds, each
event of a filled increment had exactly one chance, and a reviewer takes the tasks over HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests._fixtures import Running, wait_for
from tests._fixtures.http import SCHEMA, client, records, register, sdk, traffic
from tests._fixtures.servers import serving

import loopwise as lw
from loopwise.errors import ParameterError
from loopwise.review import Policy, Random, Uncertainty
from loopwise.server import Settings, create_app

EVERY = 2  # seconds an increment lasts
DELAY = 1  # seconds an increment waits for late events once it has ended


@pytest.fixture
def streaming(db_url: str) -> Iterator[Running]:
    settings = Settings(database_url=db_url, review_seconds=0.2, monitor_seconds=0)
    with serving(create_app(settings), db_url, lifespan="on") as running:
        yield running


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_events_logged_now_are_queued_within_seconds(streaming: Running) -> None:
    server = streaming
    admin = client(server)
    register(admin, "credit")
    policy = {
        "tasks": 86_400 / EVERY * 4,  # four tasks an increment, paced over the day
        "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}],
        "stream": {"every": EVERY, "delay": DELAY},
    }
    stored = admin.put("/v1/models/credit/review/policy", json=policy)
    assert stored.status_code == 200, stored.text
    since = dt.datetime.fromisoformat(stored.json()["stream"]["since"])
    assert since <= _now() and since.second % EVERY == 0 and since.microsecond == 0
    logged: list[pd.DataFrame] = []
    for round_ in range(3):  # three batches, each stamped with the time it is sent
        df = traffic(30, seed=10 + round_)
        df["request_id"] = [f"r{round_}e{i}" for i in range(len(df))]
        df["ts"] = pd.Timestamp(_now())
        assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
        logged.append(df)
        sent_in = df["ts"].iloc[0].floor(f"{EVERY}s")
        wait_for(  # the next batch goes in the next increment
            lambda sent_in=sent_in: pd.Timestamp(_now()).floor(f"{EVERY}s") > sent_in,
            "the clock to reach the next increment",
            timeout=EVERY * 3,
        )
    sent = pd.concat(logged)
    last = sent["ts"].max().to_pydatetime()

    def covered() -> list[dict[str, object]] | None:
        """The tasks, once the increments up to the last event's are filled."""
        stats = admin.get("/v1/models/credit/review/stats").json()
        budget = stats["budget"]
        if budget is None or dt.datetime.fromisoformat(budget["end"]) <= last:
            return None
        return list(admin.get("/v1/models/credit/review/tasks", params={"limit": 1000}).json()["tasks"])

    tasks = wait_for(covered, "the stream to fill the increments of the logged events", timeout=30)
    waited = (_now() - last.replace(tzinfo=dt.UTC)).total_seconds()
    assert waited < EVERY + DELAY + 10  # queued within seconds of being logged
    stats = admin.get("/v1/models/credit/review/stats").json()["budget"]
    assert stats["mode"] == "stream" and stats["late"] == 0
    # Every event sent is in exactly one filled increment: the increments' sizes add up to what was sent.
    assert stats["window_rows"] == len(sent)
    ids = {t["event_id"] for t in tasks}
    assert ids <= set(sent["request_id"]) and len(ids) == len(tasks)
    # Three increments held events, each drew from its own 30 at its paced budget: what is left of the
    # day's in proportion to its part of the day left (written out here), at most its 30 events. Each task's
    # π is the policy's on its increment's raw rows.
    spent, day = 0.0, None
    expected: dict[str, float] = {}
    for df in logged:
        a = df["ts"].iloc[0].floor(f"{EVERY}s").to_pydatetime()
        if a.date() != day:
            spent, day = 0.0, a.date()
        midnight = dt.datetime.combine(a.date(), dt.time(), dt.UTC) + dt.timedelta(days=1)
        budget = min((policy["tasks"] - spent) * EVERY / (midnight - a).total_seconds(), len(df))
        spent += budget
        pi = Policy([Uncertainty(0.5, scores=["p_approve"]), Random(0.5)], tasks=budget).probabilities(
            df.drop(columns=["repaid"])
        )[1]
        expected.update(zip(df["request_id"], pi, strict=True))
    assert stats["budget"] == pytest.approx(spent)
    for task in tasks:
        assert task["inclusion_probability"] == pytest.approx(expected[task["event_id"]])
    # A reviewer key takes one of them over HTTP.
    reviewer = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.key('reviewer')}"}, timeout=30
    )
    server.clients.append(reviewer)
    got = reviewer.post("/v1/models/credit/review/tasks/next").json()["task"]
    assert got is not None and got["event_id"] in ids


def test_both_clients_fill_due_increments_now_alike(server: Running, tmp_path: Path) -> None:
    """``stream_review(until=...)`` (``POST .../review/stream``; for cron or a local database) fills the
    increments ending by then, the same over HTTP as in process, and refuses a policy without a stream."""
    df = traffic(3000, seed=4)  # 08:00 to 10:30 on 2026-11-20, one event every three seconds
    policy = {
        "tasks": 240,
        "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}],
        "stream": {"every": 3600, "delay": 60, "since": "2026-11-20T08:00:00Z", "seed": 9},
    }
    local = lw.Client.local(tmp_path / "local.db")
    made = []
    try:
        for c in (sdk(server), local):
            credit = c.register("credit", SCHEMA)
            credit.log(df.drop(columns=["repaid"]))
            with pytest.raises(ParameterError, match="stream"):
                credit.stream_review()  # no policy yet
            credit.set_review_policy(policy)
            first = credit.stream_review(until="2026-11-20T09:30:00Z")
            rest = credit.stream_review(until="2026-11-21T00:00:00Z")
            made.append(first + rest)
            assert [f["start"][11:16] for f in first] == ["08:00"]
            assert [f["start"][11:16] for f in rest][:3] == ["09:00", "10:00", "11:00"]
            assert len(rest) == 15 and sum(f["window_rows"] for f in rest) == len(df) - 1200
            # The day's 240 paced from 08:00 over the 16 hours left: 15 an hour; an hour without events
            # spends nothing (its share would go to the day's later hours).
            assert [f["budget"] for f in first + rest] == pytest.approx([15.0] * 3 + [0.0] * 13)
    finally:
        local.close()
    assert made[0] == [{**f, "fill_id": g["fill_id"]} for f, g in zip(made[1], made[0], strict=True)]
