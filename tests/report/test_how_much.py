"""How much a column moved: both sides in its own unit, one labelled measure per chart."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from tests._fixtures import mixed_frame

import loopwise as lw
from loopwise.metrics.describe import QUANTILES


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return mixed_frame(20_000, 1), mixed_frame(15_000, 2, shift=0.4)


def _finite(s: pd.Series) -> np.ndarray:
    x = s.to_numpy(dtype=float)
    return x[np.isfinite(x)]


def test_raw_sides_are_numpys_statistics(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    doc = lw.compare(ref, cur).to_dict()
    for col in doc["columns"]:
        s = col["summary"]
        if col["kind"] != "numeric":
            continue
        assert s["exact"] and s["measure"] == "value"
        for side, df in (("reference", ref), ("current", cur)):
            x = _finite(df[col["name"]])
            got = s[side]
            assert got["mean"] == pytest.approx(np.mean(x), rel=1e-12)
            assert got["std"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
            assert (got["min"], got["max"]) == (x.min(), x.max())
            for name, q in QUANTILES.items():
                assert got[name] == pytest.approx(np.quantile(x, q), rel=1e-12, abs=1e-12)


def test_categorical_sides_are_the_shares_of_values(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    doc = lw.compare(ref, cur).to_dict()
    cat = next(c for c in doc["columns"] if c["name"] == "cat")["summary"]
    assert cat["measure"] == "share of values" and cat["n_categories"] == 4
    for side, df in (("reference", ref), ("current", cur)):
        shares = df["cat"].value_counts(normalize=True)
        for k, v in zip(cat["categories"], cat[side], strict=True):
            assert v == pytest.approx(shares.get(k, 0.0), abs=1e-12)
    flag = next(c for c in doc["columns"] if c["name"] == "flag")["summary"]
    assert sum(flag["current"]) == pytest.approx(1.0)


def test_profile_sides_moments_exact_quantiles_within_the_rank_error(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = frames
    rp = lw.profile(ref)
    doc = lw.compare(rp, lw.profile(cur, reference=rp)).to_dict()
    for name in ("normal", "lognormal", "with_nan"):
        s = next(c for c in doc["columns"] if c["name"] == name)["summary"]
        assert not s["exact"] and 0 < s["quantile_rank_error"] < 0.05
        for side, df in (("reference", ref), ("current", cur)):
            x = np.sort(_finite(df[name]))
            assert s[side]["mean"] == pytest.approx(np.mean(x), rel=1e-9)
            assert s[side]["std"] == pytest.approx(np.std(x, ddof=1), rel=1e-9)
            for q_name, q in QUANTILES.items():
                # The rank of the reported value in the raw data is within the stated error of q.
                rank = np.searchsorted(x, s[side][q_name], side="right") / x.size
                assert abs(rank - q) <= s["quantile_rank_error"] + 1 / x.size
    # Few distinct values: the profile counted each, and the quantiles are numpy's exactly.
    ints = next(c for c in doc["columns"] if c["name"] == "ints")["summary"]
    assert ints["exact"]
    for name, q in QUANTILES.items():
        assert ints["current"][name] == pytest.approx(np.quantile(cur["ints"], q), abs=1e-12)


def _figures(page: str) -> dict[str, dict[str, object]]:
    m = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert m is not None
    figs: dict[str, dict[str, object]] = json.loads(m.group(1).replace("<\\/", "</"))
    return figs


def test_each_chart_holds_one_labelled_measure(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    report = lw.compare(ref, cur)
    doc = report.to_dict()
    figs = _figures(report.to_html(plotly="cdn"))
    effect = {k: v for k, v in figs.items() if k.startswith("effect-")}
    assert set(effect) == {"effect-wasserstein", "effect-jensenshannon"}
    for key, fig in effect.items():
        measure = key.removeprefix("effect-")
        (bars,) = fig["data"]  # type: ignore[misc]
        expected = {
            c["name"]: c["effect_size"] for c in doc["columns"] if c.get("effect_size_method") == measure
        }
        assert dict(zip(bars["y"], bars["x"], strict=True)) == pytest.approx(expected)
        axis = fig["layout"]["xaxis"]["title"]["text"]  # type: ignore[index]
        assert ("standard deviations" if measure == "wasserstein" else "Jensen-Shannon") in axis
    # Every column chart names its x axis and says its y axis is a share.
    col_figs = [v for k, v in figs.items() if k.startswith("col-")]
    assert len(col_figs) == len(doc["columns"])
    for fig in col_figs:
        assert fig["layout"]["xaxis"]["title"]["text"]  # type: ignore[index]
        assert fig["layout"]["yaxis"]["title"]["text"] == "share of values"  # type: ignore[index]


def test_the_page_shows_what_moved_in_the_columns_unit(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    page = lw.compare(ref, cur).to_html(plotly="cdn")
    r, c = ref["normal"].mean(), cur["normal"].mean()
    sign = "+" if c >= r else "−"
    assert f"mean {r:.4f} → {c:.4f} ({sign}{abs(c - r):.4f})" in page
    shares = (ref["cat"].value_counts(normalize=True), cur["cat"].value_counts(normalize=True))
    moved = (shares[1] - shares[0]).abs().idxmax()
    a, b = shares[0][moved], shares[1][moved]
    assert f"{moved}: {a:.1%} → {b:.1%} of values ({(b - a) * 100:+.1f} points)" in page
    # The side-by-side table of a numeric column lists every statistic with both sides.
    assert page.count('<table class="sides">') == len(ref.columns)
    assert f"<td>p95</td><td>{np.quantile(_finite(ref['normal']), 0.95):.4f}</td>" in page


def test_the_gate_names_the_drifted_columns(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from loopwise.checks import to_json, to_markdown
    from loopwise.report.checks import render_suite

    ref, cur = frames
    drifted = lw.compare(ref, cur).drifted_columns
    assert 0 < len(drifted) < len(ref.columns)
    result = lw.Suite("gate", [lw.Check("drift_share", lw.checks.le(0.1))]).run(cur, ref)
    (check,) = result.results
    assert check.message.endswith(f"; drifted: {', '.join(drifted)}")
    assert json.loads(to_json(result))["drifted_columns"] == drifted
    md = to_markdown(result)
    line = next(x for x in md.splitlines() if x.startswith("Drifted columns"))
    assert (
        line
        == f"Drifted columns ({len(drifted)}): "
        + ", ".join(f"<code>{n.replace('_', '&#95;')}</code>" for n in drifted)
        + " (by <code>drift&#95;share &#60;= 0.1</code>)"
    )
    page = render_suite(result, plotly="cdn")
    listed = ", ".join(f"<code>{n}</code>" for n in drifted)
    assert f"Drifted columns ({len(drifted)}): {listed} (by <code>drift_share &lt;= 0.1</code>)" in page
    # No drift check, no line: the gate does not claim a comparison it did not make.
    quality = lw.Suite("q", [lw.Check("missing_rate", lw.checks.le(0.5), column="normal")]).run(cur, ref)
    assert quality.drifted_columns is None and "Drifted columns" not in to_markdown(quality)


def test_the_documented_layout_has_the_keys_a_report_has(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "report-json.md").read_text(encoding="utf-8")
    documented = json.loads(re.findall(r"```json\n(.*?)```", text, re.S)[0])
    real = lw.compare(*frames).to_dict()
    assert set(documented) <= set(real) and set(documented["dataset"]) <= set(real["dataset"])
    (doc_col,) = documented["columns"]
    real_col = next(c for c in real["columns"] if c["kind"] == "numeric")
    assert set(doc_col) <= set(real_col)
    assert set(doc_col["summary"]) == set(real_col["summary"])
    assert set(doc_col["summary"]["reference"]) == set(real_col["summary"]["reference"])
