"""Issue 15: epoch numbers in a JSON batch's timestamp column were refused ("expected datetime values, got
Arrow type double"); they are times, converted by the schema layer's one rule, as ISO strings are."""

from __future__ import annotations

import pandas as pd
import pytest
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, traffic

P = "/v1/models/credit/predictions"


@pytest.mark.parametrize("unit", ["s", "ms", "float-s"])
def test_epoch_numbers_are_times_over_http(server: Running, unit: str) -> None:
    start = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=2)).floor("s")
    df = traffic(20, seed=3, start=start.isoformat())
    body = records(df)
    ns = df["ts"].dt.as_unit("ns").astype("int64")
    epochs = {"s": ns // 10**9, "ms": ns // 10**6, "float-s": ns / 1e9}[unit]
    for r, e in zip(body, epochs.tolist(), strict=True):
        r["ts"] = e
    with client(server) as c:
        register(c)
        r = c.post(P, json=body)
        assert r.status_code == 200, r.text
        ops = c.get("/v1/models/credit/metrics").json()["operations"]
    # The independent answer: pandas' own times for the rows sent.
    assert pd.Timestamp(ops["first"]) == df["ts"].min() and pd.Timestamp(ops["last"]) == df["ts"].max()


def test_ambiguous_epoch_numbers_are_refused_with_the_rule(server: Running) -> None:
    body = records(traffic(3, seed=3))
    for r in body:
        r["ts"] = 5e10  # the year 3554 in seconds, or 1971 in milliseconds
    with client(server) as c:
        register(c)
        r = c.post(P, json=body)
    assert r.status_code == 422
    assert "declare the column's unit" in r.text and "Traceback" not in r.text
