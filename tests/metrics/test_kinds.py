"""Text, datetime and boolean columns through profile, serialization and compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import loopwise as lw
from loopwise.profiles import DatetimeProfile, TextProfile


def _frame(n: int, seed: int, longer: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = rng.integers(3, 12 + longer, n)
    return pd.DataFrame(
        {
            "comment": [("word " * int(k)).strip() + f" #{i}" for i, k in enumerate(words)],
            "when": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.uniform(0, 86_400 * 30, n), unit="s"),
            "ok": rng.random(n) < 0.5,
        }
    )


def test_text_and_datetime_profiles_and_compare() -> None:
    ref, cur = _frame(3000, 1), _frame(3000, 2, longer=3)
    schema = lw.Schema.infer(ref)
    assert schema["comment"].kind is lw.Kind.TEXT and schema["when"].kind is lw.Kind.DATETIME
    p = lw.profile(ref)
    text = p["comment"]
    assert isinstance(text, TextProfile)
    lengths = ref["comment"].str.len().to_numpy(dtype=float)
    assert text.lengths.moments.mean == pytest.approx(lengths.mean(), rel=1e-12)
    when = p["when"]
    assert isinstance(when, DatetimeProfile)
    assert when.summary()["min"].startswith(ref["when"].min().strftime("%Y-%m-%dT%H:%M:%S"))
    q = lw.Profile.from_bytes(p.to_bytes())
    assert q.to_dict() == p.to_dict()

    r = lw.compare(ref, cur)
    doc = {c["name"]: c for c in r.to_dict()["columns"]}
    assert doc["when"]["method"] is None and "not compared" in doc["when"]["warning"]
    cur_len = cur["comment"].str.len().to_numpy(dtype=float)
    assert doc["comment"]["method"] == "ks"
    assert doc["comment"]["statistic"] == pytest.approx(stats.ks_2samp(lengths, cur_len).statistic, abs=1e-12)
    assert doc["comment"]["drift_detected"] is True
    assert doc["ok"]["method"] == "z"


def test_schema_violations_show_up_as_quality_issues() -> None:
    schema = lw.Schema.from_yaml("columns:\n  x: {kind: numeric}\n  c: {kind: categorical, values: [a, b]}\n")
    ref = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50})
    cur = pd.DataFrame({"x": np.r_[np.arange(98.0), np.inf, -np.inf], "c": ["a", "b"] * 49 + ["z", "z"]})
    doc = {c["name"]: c for c in lw.compare(ref, cur, schema=schema).to_dict()["columns"]}
    assert any("infinity" in v and "(2 rows)" in v for v in doc["x"]["quality"]["violations"])
    assert any("outside the declared values" in v for v in doc["c"]["quality"]["violations"])
