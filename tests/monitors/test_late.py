"""A late batch that lands in a past window sets that window back to pending; the next pass runs it again with
the rows it holds now, and leaves the other windows alone (SQLite and PostgreSQL). Windows within the
last seven days are watched for late rows: the traffic here is six hours old."""

from __future__ import annotations

import datetime as dt

from tests._fixtures.http import SCHEMA, traffic

import loopwise as lw

T0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=6)


def _hour(h: int, rows: int, tag: str) -> object:
    df = traffic(rows, 40 + h, (T0 + dt.timedelta(hours=h)).isoformat()).drop(columns=["repaid"])
    df["request_id"] = [f"{tag}-{h}-{i}" for i in range(rows)]
    return df


def test_a_late_batch_reruns_its_window(db_url: str) -> None:
    client = lw.Client.local(db_url)
    m = client.register("credit", SCHEMA)
    for h in range(3):
        m.log(_hour(h, 500, "a"))
    suite = {"suite": "s", "checks": [{"metric": "row_count", "condition": {"ge": 600}}]}
    m.add_monitor(
        name="hourly",
        suite=suite,
        window="1h",
        step="1h",
        reference=None,
        anchor=(T0 + dt.timedelta(hours=1)).isoformat(),
    )
    first = {r["window_end"]: r for r in m.run_monitors() if r["state"] == "done"}
    assert [r["n"] for r in first.values()] == [500, 500, 500]
    assert {r["status"] for r in first.values()} == {"fail"}

    m.log(_hour(1, 200, "late"))  # hour 1's late batch
    again = m.run_monitors()
    late_end = (T0 + dt.timedelta(hours=2)).isoformat()
    rerun = [r for r in again if r["window_end"] == late_end]
    assert len(rerun) == 1 and (rerun[0]["n"], rerun[0]["status"], rerun[0]["attempts"]) == (700, "pass", 2)
    assert all(r["window_end"] > max(first) or r["window_end"] == late_end for r in again)
    history = {r["window_end"]: r for r in m.monitor_history("hourly", limit=1000)}
    assert [history[e]["n"] for e in sorted(first)] == [500, 700, 500]
    (old,) = history[late_end]["superseded"]  # what the first run found, kept
    assert (old["reason"], old["n"], old["status"], old["attempt"]) == ("late rows", 500, "fail", 1)
    assert m.run_monitors() == [] or all(r["window_end"] > max(first) for r in m.run_monitors())
    client.close()
