"""``GET /v1/models/{model}/review/stream`` and ``model.stream_day()`` (decision 0046's streamed day over the
API), on SQLite and PostgreSQL over real HTTP: the increments and budgets equal pandas on the raw events and
the pacing rule; how many tasks each selector chose equals the API's tasks grouped with pandas, for a
maintainer, and is left out for a reviewer (review stays blind); a policy that does not stream says so."""

from __future__ import annotations

import pandas as pd
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, sdk, traffic

TASKS, EVERY = 2000, 300


def test_the_streamed_day_over_http(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    register(admin, "other")
    df = traffic(300, seed=8)  # 08:00 to 08:15, one event every three seconds
    assert admin.post("/v1/models/credit/predictions", json=records(df)).status_code == 200
    policy = {
        "tasks": TASKS,
        "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}],
        "stream": {"every": EVERY, "delay": 0, "since": "2026-11-20T07:50:00Z", "seed": 5},
    }
    assert admin.put("/v1/models/credit/review/policy", json=policy).status_code == 200
    assert admin.post("/v1/models/credit/review/stream", json={"until": "2026-11-20T08:20:00Z"}).is_success

    day = sdk(server, server.key("maintainer", "credit")).model("credit").stream_day()
    day_end = pd.Timestamp("2026-11-21T00:00:00Z")
    spent = 0.0
    sizes = df.groupby(df["ts"].dt.floor(f"{EVERY}s")).size()
    assert len(day["increments"]) == len(sizes) == 3
    for inc, (start, n) in zip(day["increments"], sizes.items(), strict=True):
        budget = (TASKS - spent) * EVERY / (day_end - start).total_seconds()
        assert pd.Timestamp(inc["start"]) == start and inc["window_rows"] == n
        assert abs(inc["budget"] - budget) < 1e-9
        spent += budget
    assert abs(day["spent"] - spent) < 1e-9 and abs(day["left"] - (TASKS - spent)) < 1e-9
    assert (day["day"], day["every"], day["gone_through"], day["without_events"]) == (
        "2026-11-20",
        EVERY,
        6,
        3,
    )
    tasks = pd.DataFrame(admin.get("/v1/models/credit/review/tasks", params={"limit": 1000}).json()["tasks"])
    chosen = tasks.groupby(["fill_id", "selector"]).size()
    assert day["selected"] == len(tasks)
    assert sum(sum(inc["by_selector"].values()) for inc in day["increments"]) == chosen.sum()
    assert {k for inc in day["increments"] for k in inc["by_selector"]} == set(tasks["selector"])

    blind = sdk(server, server.key("reviewer", "credit")).model("credit").stream_day()
    assert all(inc["by_selector"] is None for inc in blind["increments"])
    assert [i["budget"] for i in blind["increments"]] == [i["budget"] for i in day["increments"]]

    none = sdk(server).model("other").stream_day()
    assert none["day"] is None and none["increments"] == []
    refused = client(server, server.key("reviewer", "credit")).get("/v1/models/other/review/stream")
    assert refused.status_code == 404  # a key of one model: the others answer as if they did not exist
