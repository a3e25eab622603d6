from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import loopwise as lw

REQUIRED = {
    "name",
    "kind",
    "method",
    "statistic",
    "p_value",
    "threshold",
    "drift_detected",
    "exact",
}


def test_json_layout_is_stable(ref_df: pd.DataFrame, cur_df: pd.DataFrame, tmp_path: object) -> None:
    report = lw.compare(ref_df, cur_df)
    path = tmp_path / "r.json"  # type: ignore[operator]
    assert report.to_json(path) == path  # the path, as to_html: the trial's REPL printed the whole document
    doc = json.loads(path.read_text())
    assert json.loads(report.to_json()) == doc
    assert {"drift_share", "drifted_columns", "n_reference", "n_current"} <= set(doc["dataset"])
    assert doc["dataset"]["n_reference"] == len(ref_df)
    assert doc["dataset"]["n_current"] == len(cur_df)
    for col in doc["columns"]:
        assert set(col) >= REQUIRED
    flagged = [c["name"] for c in doc["columns"] if c["drift_detected"]]
    assert doc["dataset"]["drifted_columns"] == flagged
    assert doc["dataset"]["drift_share"] == pytest.approx(len(flagged) / doc["dataset"]["n_columns_compared"])


def test_html_is_self_contained_and_does_not_grow_with_rows(
    ref_df: pd.DataFrame, cur_df: pd.DataFrame
) -> None:
    small = lw.compare(ref_df.iloc[:2000], cur_df.iloc[:2000]).to_html()
    big = lw.compare(ref_df, cur_df).to_html()
    assert not re.search(r"<script[^>]+src=", big)  # nothing fetched from a network
    assert "Plotly.newPlot" in big
    assert "-table" in big
    assert abs(len(big) - len(small)) < 0.01 * len(small)
    for name in ref_df.columns:
        assert name in big


def test_html_escapes_column_names() -> None:
    df = pd.DataFrame({"<script>alert(1)</script>": [1.0, 2.0, 3.0] * 20})
    html = lw.compare(df, df).to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_html_shows_a_calibrated_threshold_and_its_rule(ref_df: pd.DataFrame, cur_df: pd.DataFrame) -> None:
    ref = lw.profile(ref_df, chunk_size=2000)
    report = lw.compare(ref, cur_df.iloc[:2000])
    doc = report.to_dict()
    html = report.to_html()
    assert "Calibrated thresholds" in html and "does not decide" in html
    assert html.count("(calibrated)") == doc["dataset"]["n_columns_compared"]
    rule = doc["columns"][0]["calibration"]["rule"]
    assert rule.startswith("conformal") or rule.startswith("cube-root normal")
    assert "calibrated on 10 reference chunks of 2,000 rows" in html
