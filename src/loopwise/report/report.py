"""The Report of ``lw.compare``: the stable JSON layout and the entry points to HTML and notebooks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from loopwise.metrics.compare import Comparison, compare_data
from loopwise.metrics.multivariate import MultivariateDriftResult, multivariate_drift
from loopwise.metrics.quality import QUALITY_THRESHOLDS
from loopwise.metrics.result import _clean
from loopwise.metrics.thresholds import DEFAULT_FALSE_ALARM_RATE
from loopwise.profiles import Profile
from loopwise.schema import DataLike, Schema

#: Version of the JSON layout; bumped only by changes that could break a parser.
JSON_LAYOUT_VERSION = 1


class Report:
    """The result of comparing a current dataset with its reference.

    ``to_dict()`` gives the JSON layout documented in docs/report-json.md:
    ``dataset`` (drift_share, drifted_columns, n_reference, n_current, ...)
    and ``columns`` (name, kind, method, statistic, p_value, threshold,
    drift_detected, exact, ...).
    """

    def __init__(
        self, comparison: Comparison, multivariate: list[MultivariateDriftResult] | None = None
    ) -> None:
        self.comparison = comparison
        #: Multivariate drift results, when ``compare(..., multivariate=...)`` asked for them.
        self.multivariate = list(multivariate or [])

    @property
    def dataset_drift(self) -> bool:
        return self.comparison.dataset_drift

    @property
    def drifted_columns(self) -> list[str]:
        return self.comparison.drifted_columns

    def headline(self) -> str:
        c = self.comparison
        verdict = "DATASET DRIFT" if c.dataset_drift else "no dataset drift"
        skipped = len(c.not_compared)
        roles = {col.name: col.role for col in c.compared}
        others = [f"{n} ({roles[n]})" for n in c.drifted_columns if n not in set(c.drifted_features)]
        return (
            f"{verdict}: {len(c.drifted_features)} of {len(c.features)} features drifted "
            f"({c.drift_share:.0%}; dataset drift at >= {c.drift_share_threshold:.0%})"
            + (f"; also drifted: {', '.join(others)}" if others else "")
            + (f"; {skipped} column(s) could not be compared" if skipped else "")
        )

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        columns = []
        for col in c.columns:
            entry: dict[str, Any] = {"name": col.name, "kind": col.kind, "role": col.role}
            if col.drift is not None:
                d = col.drift.to_dict()
                d.pop("name")
                entry.update(d)
            else:
                entry.update(
                    {
                        "method": None,
                        "statistic": None,
                        "p_value": None,
                        "threshold": None,
                        "drift_detected": False,
                        "exact": None,
                    }
                )
            entry["metrics"] = col.metrics
            entry["summary"] = col.summary or None
            entry["quality"] = col.quality.to_dict() if col.quality is not None else None
            entry["quality_issues"] = col.quality.issues() if col.quality is not None else []
            entry["warning"] = col.warning
            columns.append(entry)
        doc: dict[str, Any] = _clean(
            {
                "layout_version": JSON_LAYOUT_VERSION,
                "dataset": {
                    "drift_detected": c.dataset_drift,
                    "drift_share": c.drift_share,
                    "drift_share_threshold": c.drift_share_threshold,
                    "drifted_columns": c.drifted_columns,
                    "n_columns_compared": len(c.compared),
                    "drifted_features": c.drifted_features,
                    "n_features_compared": len(c.features),
                    "n_reference": c.n_reference,
                    "n_current": c.n_current,
                    "alpha": c.alpha,
                    "thresholds": c.thresholds,
                    "false_alarm_rate": c.false_alarm_rate,
                    "correction": "benjamini-hochberg" if c.thresholds == "plain" else "none",
                    "missing_columns": c.missing_columns,
                    "new_columns": c.new_columns,
                    "duplicate_share_current": c.duplicate_share,
                    "quality_thresholds": QUALITY_THRESHOLDS,
                    "warnings": c.warnings,
                },
                "columns": columns,
                "multivariate": [m.to_dict() for m in self.multivariate],
            }
        )
        return doc

    @overload
    def to_json(self, path: None = None) -> str: ...
    @overload
    def to_json(self, path: str | Path) -> Path: ...
    def to_json(self, path: str | Path | None = None) -> str | Path:
        """The JSON document; with ``path``, written there and the path returned (as ``to_html``), so a
        notebook cell ending in it shows the path, not the document."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is None:
            return text
        Path(path).write_text(text + "\n", encoding="utf-8")
        return Path(path)

    @overload
    def to_html(self, path: None = None, *, title: str = ..., plotly: str = ...) -> str: ...
    @overload
    def to_html(self, path: str | Path, *, title: str = ..., plotly: str = ...) -> Path: ...
    def to_html(
        self, path: str | Path | None = None, *, title: str = "loopwise drift report", plotly: str = "inline"
    ) -> str | Path:
        """The report as one HTML page: written to ``path`` (returning the path), or returned as a string.

        ``plotly="inline"`` embeds plotly.js (4.8 MB; the page works offline), ``"cdn"`` loads it
        from plotly's CDN (the page then needs a network to draw its charts).
        """
        from loopwise.report.html import render

        html = render(self, title=title, plotly=plotly)
        if path is None:
            return html
        out = Path(path)
        out.write_text(html, encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        from loopwise.report.html import render

        # plotly.js goes to the notebook once, with the first report shown; later ones use it.
        return render(self, title="loopwise drift report", standalone=False, plotly="notebook")

    def __repr__(self) -> str:
        return f"<Report {self.headline()}>"


def compare(
    reference: DataLike | Profile,
    current: DataLike | Profile,
    schema: Schema | None = None,
    *,
    method: str | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | str | None = None,
    alpha: float = 0.05,
    bins: int = 10,
    drift_share: float = 0.5,
    segment: tuple[str, Any] | None = None,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    multivariate: bool | str | Sequence[str] = False,
) -> Report:
    """Compare ``current`` with ``reference``; each side is data (pandas, Polars, Arrow, a path) or a Profile.

    ``method`` sets the drift method for every column it applies to,
    ``methods`` per column (``{"income": "psi"}``).

    ``thresholds`` says how drift is decided. ``"calibrated"``: each column's
    statistic (ks for numeric, Jensen-Shannon for categorical columns, unless
    a method is asked for) against a threshold set from its spread over the
    reference's own chunks, for a ``false_alarm_rate`` per column; the
    reference must be a Profile made with ``chunk_size``. ``"plain"``: test
    methods' p-values, corrected across columns with Benjamini-Hochberg, at
    ``alpha``, and distances against fixed thresholds; a mapping overrides
    those, by method or column name. The default, ``"auto"``, is calibrated
    when the reference carries chunks and plain otherwise. The
    dataset drifts when at least ``drift_share`` of the compared columns do.
    ``segment=("race", "group_b")`` compares only the rows of that segment
    (a profile's sub-profile, or the matching rows of raw data).
    ``multivariate=True`` (or ``"pca"``, ``"classifier"``, or both in a list)
    adds multivariate drift (``lw.multivariate_drift``, default options; raw
    rows needed) to the report.

    Example:
        >>> import numpy as np, pandas as pd, loopwise as lw
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame({"x": rng.normal(size=5000)})
        >>> cur = pd.DataFrame({"x": rng.normal(0.5, 1, size=5000)})
        >>> r = lw.compare(ref, cur)
        >>> r.drifted_columns, r.to_dict()["columns"][0]["method"]
        (['x'], 'ks')
    """
    methods_mv = (
        []
        if multivariate is False
        else ["pca"]
        if multivariate is True
        else ([multivariate] if isinstance(multivariate, str) else list(multivariate))
    )
    mv = [multivariate_drift(reference, current, schema, method=m) for m in methods_mv]
    return Report(
        compare_data(
            reference,
            current,
            schema,
            method=method,
            methods=methods,
            thresholds=thresholds,
            alpha=alpha,
            bins=bins,
            drift_share=drift_share,
            segment=segment,
            false_alarm_rate=false_alarm_rate,
        ),
        mv,
    )
