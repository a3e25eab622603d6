"""Issue 15: times as ISO strings, epoch numbers or Python datetimes, converted once by one rule.

pandas' ``to_datetime(..., utc=True)`` is the independent answer for every accepted form.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.schema import Kind, Role
from loopwise.schema.timestamps import to_utc_us

TIMES = (
    pd.date_range("2026-03-01 08:00", periods=50, freq="37min", tz="UTC")
    + pd.to_timedelta(np.arange(50) * 123_457, unit="us")
).as_unit("ns")


def _as_utc(values: Any) -> list[pd.Timestamp]:
    return [
        pd.Timestamp(t)
        for t in to_utc_us(pa.array(values) if not isinstance(values, pa.Array) else values, "ts").to_pylist()
    ]


@pytest.mark.parametrize(
    ("form", "values", "pandas_unit"),
    [
        ("seconds", (TIMES.asi8 // 10**9), "s"),
        ("fractional seconds", TIMES.asi8 / 1e9, "s"),
        ("milliseconds", TIMES.asi8 // 10**6, "ms"),
        ("microseconds", TIMES.asi8 // 10**3, "us"),
        ("nanoseconds", TIMES.asi8, "ns"),
    ],
)
def test_epoch_numbers_take_their_unit_from_their_magnitude(form: str, values: Any, pandas_unit: str) -> None:
    expected = pd.to_datetime(values, unit=pandas_unit, utc=True).floor("us")
    got = _as_utc(np.asarray(values))
    # Fractional seconds are rounded to the microsecond, pandas truncates: at most one microsecond apart.
    assert max(abs((g - e).value) for g, e in zip(got, expected, strict=True)) <= 1_000


def test_iso_strings_with_offsets_naive_strings_and_python_datetimes() -> None:
    offsets = [
        f"2026-03-0{1 + i % 3}T1{i % 10}:15:00{z}"
        for i, z in enumerate(["Z", "+02:00", "-05:30", "+0100"] * 5)
    ]
    assert _as_utc(offsets) == list(pd.to_datetime(offsets, utc=True, format="ISO8601"))
    naive = ["2026-03-01T12:00:00", "2026-03-02 00:30:00.25"]
    assert _as_utc(naive) == list(pd.to_datetime(naive, format="ISO8601").tz_localize("UTC"))
    aware = [dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=h))) for h in (-3, 0, 5)]
    frame = pd.DataFrame({"ts": pd.Series(aware, dtype=object)})
    table = lw.to_table(frame)
    assert _as_utc(table.column("ts").combine_chunks()) == list(pd.to_datetime(aware, utc=True))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([5e10], "fit no unit unambiguously"),  # the year 3554 in seconds, or 1971 in milliseconds
        ([1.0, 2.0], "declare the column's unit"),
        (["2026-03-01T12:00:00Z", "2026-03-01T13:00:00"], "some times have a zone offset and some do not"),
        (["yesterday"], r"'ts', row 0: not an ISO 8601 time \(like 2026-03-01T12:00:00Z\): 'yesterday'"),
        (pa.array([2**62], pa.timestamp("s")), "outside the years 1-9999"),  # would wrap in microseconds
    ],
)
def test_ambiguous_or_impossible_times_are_refused_with_one_line(values: Any, message: str) -> None:
    with pytest.raises(lw.DataError, match=message) as err:
        to_utc_us(values if isinstance(values, pa.Array) else pa.array(values), "ts")
    assert "\n" not in str(err.value) and "'ts'" in str(err.value)


def test_a_declared_unit_settles_what_magnitude_cannot() -> None:
    schema = lw.Schema.from_yaml("columns:\n  ts: {role: timestamp, unit: ms}\n  x: {kind: numeric}\n")
    df = pd.DataFrame({"ts": [5e10, 5.1e10], "x": [1.0, 2.0]})
    assert lw.validate(schema, df) == []
    assert [pd.Timestamp(t) for t in schema.conform(lw.to_table(df)).column("ts").to_pylist()] == list(
        pd.to_datetime(df.ts, unit="ms", utc=True)
    )
    with pytest.raises(lw.DataError, match="outside the years 1-9999"):
        to_utc_us(pa.array([2**62]), "ts", unit="s")  # the year 146 billion: refused, not wrapped
    with pytest.raises(lw.SchemaError, match="unit must be one of s, ms, us, ns"):
        lw.Schema.from_yaml("columns:\n  ts: {role: timestamp, unit: minutes}\n")


def test_frames_with_string_or_epoch_times_are_inferred_and_profiled_as_times() -> None:
    df = pd.DataFrame(
        {
            "ts": TIMES.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            "created_at": TIMES.asi8 // 10**6,
            "elapsed_time": np.arange(50.0),  # a duration, not an epoch: stays a number
        }
    )
    s = lw.Schema.infer(df)
    assert (s["ts"].role, s["ts"].kind) == (Role.TIMESTAMP, Kind.DATETIME)
    assert (s["created_at"].role, s["created_at"].kind) == (Role.FEATURE, Kind.DATETIME)  # one event time
    assert s["elapsed_time"].kind is Kind.NUMERIC
    summary = lw.profile(df).columns["created_at"].summary()
    assert pd.Timestamp(summary["min"]) == TIMES.min().floor("ms") and pd.Timestamp(
        summary["max"]
    ) == TIMES.max().floor("ms")


def test_overflowing_times_are_a_validation_issue_not_a_wrapped_time() -> None:
    schema = lw.Schema.from_yaml("columns:\n  ts: {role: timestamp}\n")
    (issue,) = lw.validate(schema, pa.table({"ts": pa.array([2**62], pa.timestamp("s"))}))
    assert issue.problem == "out_of_range" and "1-9999" in issue.message


def test_the_sdk_logs_epoch_and_string_times(tmp_path: Path) -> None:
    df = make_credit(300, seed=5).drop(columns=["repaid"])
    now = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=1)
    when = now + pd.to_timedelta(np.arange(300), unit="s")
    model = lw.Client.local(tmp_path / "m.db").register("credit", yaml.safe_load(CREDIT_SCHEMA_YAML))
    assert model.log(df.assign(ts=when.asi8 // 10**6))["accepted"] == 300  # epoch milliseconds
    again = df.assign(request_id=df.request_id + "-b", ts=when.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    assert model.log(again)["accepted"] == 300
    assert model.metrics()["operations"]["first"] == now.isoformat()


def test_every_row_whose_string_is_not_a_time_is_named_as_pandas_finds_them() -> None:
    """The trial's CSV named only its first bad time, by value: every bad row is counted, the first ten
    listed, checked against pandas' own ISO 8601 parser on the same strings."""
    rng = np.random.default_rng(5)
    n = 100_000
    times = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86_400, n), unit="s")
    text = pd.Series(times.strftime("%Y-%m-%d %H:%M:%S"))
    bad_at = np.sort(rng.choice(n, 40, replace=False))
    text[bad_at] = rng.choice(["2026-09-31 10:00:00", "last tuesday", "2026-13-01 00:00:00", "soon"], 40)
    expected = np.flatnonzero(pd.to_datetime(text, format="ISO8601", errors="coerce").isna())
    assert len(expected) == 40
    with pytest.raises(lw.DataError) as err:
        to_utc_us(pa.array(text), "ts")
    shown = ", ".join(map(str, expected[:10]))
    assert str(err.value).startswith(f"column 'ts', rows {shown} (+30 more): not ISO 8601 times")
    assert err.value.detail["count"] == 40 and err.value.detail["rows"] == expected[:10].tolist()
    quoted = list(dict.fromkeys(text[expected]))[:3]
    assert str(err.value).endswith(": " + ", ".join(map(repr, quoted)))
