"""The review queue filled as events arrive (decision 0042), by a real server's background thread on
loopback (SQLite and PostgreSQL): events logged over HTTP in real time become tasks within seconds, each
event of a filled increment had exactly one chance, and a reviewer takes the tasks over HTTP."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from tests._fixtures import Running, wait_for
from tests._fixtures.http import client, records, register, traffic
from tests._fixtures.servers import serving

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
        time.sleep(EVERY * 1.2)
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
