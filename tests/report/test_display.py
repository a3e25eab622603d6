"""Rich notebook displays (``_repr_html_``): well-formed, compact, every value escaped, the numbers right.

No notebook runtime is installed here, so each display is parsed as a browser would read it
(``html.parser``): the tags it opens, the text it shows, and its tables as rows of cells.
"""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score

import loopwise as lw

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'
VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr"}


class Page(HTMLParser):
    """What a browser would build from the fragment: tags opened, text shown, tables of cells."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def shown(self) -> str:
        return "".join(self.text)

    def row(self, first: str) -> list[str]:
        """The first table row whose first cell is ``first``."""
        for t in self.tables:
            for r in t:
                if r and r[0] == first:
                    return r
        raise AssertionError(f"no row {first!r} in {self.tables}")


def parse(html: str) -> Page:
    page = Page(html)
    assert page.stack == [], f"unclosed tags {page.stack}"
    # Nothing runs: no script, no image, no handler attribute came from a value.
    assert "script" not in page.tags and "img" not in page.tags
    assert len(html) < 60_000  # compact
    return page


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)

    def frame(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        group = rng.choice([HOSTILE, "b", HOSTILE_ATTR], n)
        score = 1 / (1 + np.exp(-(x - shift)))
        return pd.DataFrame(
            {
                HOSTILE: x,
                "income": rng.lognormal(3, 0.5, n),
                "purpose": rng.choice(["car", "home", HOSTILE_ATTR], n),
                "group": group,
                "score": score,
                "prediction": (score > 0.5).astype(int),
                "target": (rng.random(n) < score).astype(int),
            }
        )

    return frame(4000, 0.0), frame(3000, 0.4)


def test_schema(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    schema = lw.Schema.infer(frames[0], segments=["group"])
    page = parse(schema._repr_html_())
    assert HOSTILE in page.shown
    for c in schema:
        assert page.row(c.name)[1:3] == [c.role.value, c.kind.value if c.kind else "(from the data)"]


def test_profile(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    df = frames[0].copy()
    df.loc[::10, "income"] = np.nan
    p = lw.profile(df)
    page = parse(p._repr_html_())
    head = page.tables[0][0]
    row = dict(zip(head, page.row("income"), strict=True))
    income = df["income"]
    assert float(row["mean"]) == pytest.approx(income.mean(), abs=1e-4)
    assert float(row["std"]) == pytest.approx(income.std(ddof=1), abs=1e-4)
    assert float(row["max"]) == pytest.approx(income.max(), abs=1e-4)
    assert row["missing"] == f"{income.isna().mean():.1%}"
    assert int(row["rows"].replace(",", "")) == len(df)
    purpose = dict(zip(head, page.row("purpose"), strict=True))["values"]
    top = df["purpose"].value_counts(normalize=True)
    assert purpose.startswith("3 distinct: ") and f"{top.index[0]} ({top.iloc[0]:.0%})" in purpose
    assert HOSTILE in page.shown and HOSTILE_ATTR in page.shown


def test_drift_result_and_report(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    d = lw.compare(ref, cur).comparison[HOSTILE].drift
    assert d is not None
    page = parse(d._repr_html_())
    ks = stats.ks_2samp(ref[HOSTILE], cur[HOSTILE])
    assert float(page.row("ks")[1]) == pytest.approx(ks.statistic, abs=1e-4)
    assert page.row("verdict")[1] == "DRIFT"
    assert HOSTILE in page.shown


def test_multivariate_drift_result(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    r = lw.multivariate_drift(ref[[HOSTILE, "income"]], cur[[HOSTILE, "income"]])
    page = parse(r._repr_html_())
    assert float(page.row(r.statistic_name)[1]) == pytest.approx(r.statistic, rel=1e-3, abs=1e-4)
    assert page.row("verdict")[1] == ("DRIFT" if r.drift_detected else "no drift")
    assert HOSTILE in page.row("columns")[1]


def test_fairness_result(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    df = frames[0]
    res = lw.fairness(df[["group", "prediction", "target"]], "group")
    page = parse(res._repr_html_())
    head = page.tables[0][0]
    for g in (HOSTILE, HOSTILE_ATTR, "b"):
        row = dict(zip(head, page.row(g), strict=True))
        rows = df[df["group"] == g]
        assert int(row["rows"].replace(",", "")) == len(rows)
        assert float(row["selection_rate"].split(" ")[0]) == pytest.approx(
            (rows["prediction"] == 1).mean(), abs=1e-4
        )
    dpd = page.row("demographic_parity_difference")
    assert float(dpd[1].split(" ")[0]) == pytest.approx(res["demographic_parity_difference"].value, abs=1e-4)


def test_model_comparison(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    df = frames[0]
    rng = np.random.default_rng(1)
    worse = np.where(rng.random(len(df)) < 0.1, 1 - df["prediction"], df["prediction"])
    mc = lw.compare_models(df["prediction"], worse, df["target"], metric="accuracy")
    page = parse(mc._repr_html_())
    assert float(page.row("champion")[1]) == pytest.approx(
        accuracy_score(df["target"], df["prediction"]), abs=1e-4
    )
    assert float(page.row("challenger")[1]) == pytest.approx(accuracy_score(df["target"], worse), abs=1e-4)
    assert page.row("verdict")[1] == mc.verdict


def test_estimates(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    cols = ["score", "prediction", "target"]
    est = lw.estimate_performance(ref[cols], cur[cols])
    assert isinstance(est, dict)  # still the mapping it was
    page = parse(est._repr_html_())
    for name, e in est.items():
        cell = page.row(name)[1]
        assert float(cell.split(" ")[0]) == pytest.approx(e.estimate, abs=1e-4)
        assert page.row(name)[2] == f"{e.realized:.4f}"
    one = parse(est["accuracy"]._repr_html_())
    assert one.row("accuracy") == page.row("accuracy")
    assert "no concept shift" in page.shown  # the assumption is stated


def test_suite_result(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = frames
    suite = lw.Suite(
        HOSTILE,
        [lw.Check("drifted", lw.checks.eq(0), column=HOSTILE), lw.Check("drift_share", lw.checks.le(0.1))],
    )
    result = suite.run(cur, ref)
    page = parse(result._repr_html_())
    assert HOSTILE in page.shown
    drifted = lw.compare(ref, cur).drifted_columns
    assert f"drifted columns: {', '.join(drifted)}" in page.shown
    assert result.drifted_columns == drifted
    statuses = [r[0] for r in page.tables[0][1:]]
    assert sorted(statuses) == sorted(r.status for r in result.results)
