"""Render a Report as one self-contained HTML file with interactive Plotly charts.

The page embeds plotly.js (from the installed plotly package, so no network
is needed to view it) and the aggregates behind each chart, never raw rows:
its size does not grow with the number of rows compared.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2

if TYPE_CHECKING:
    from loopwise.report.report import Report

REF_COLOR = "#4c78a8"
CUR_COLOR = "#f58518"


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["num"] = _num
    # A p-value that underflowed to 0 is "below the smallest double", not zero.
    env.filters["pval"] = lambda x: "< 1e-300" if x == 0 else _num(x)
    env.filters["pct"] = lambda x: "" if x is None else f"{x:.1%}"
    text = resources.files("loopwise.report").joinpath("templates/report.html.j2").read_text("utf-8")
    return env.from_string(text)


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
        return f"{x:.3g}"
    return f"{x:.4f}"


def _column_figure(col: Any) -> dict[str, Any]:
    d = col.display
    if d.get("type") == "numeric":
        edges = d["edges"]
        x = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        width = edges[1] - edges[0]
        data = [
            {
                "type": "bar",
                "x": x,
                "y": d["reference"],
                "name": "reference",
                "width": width,
                "marker": {"color": REF_COLOR},
                "opacity": 0.55,
            },
            {
                "type": "bar",
                "x": x,
                "y": d["current"],
                "name": "current",
                "width": width,
                "marker": {"color": CUR_COLOR},
                "opacity": 0.55,
            },
        ]
    else:
        data = [
            {
                "type": "bar",
                "x": d.get("categories", []),
                "y": d.get("reference", []),
                "name": "reference",
                "marker": {"color": REF_COLOR},
            },
            {
                "type": "bar",
                "x": d.get("categories", []),
                "y": d.get("current", []),
                "name": "current",
                "marker": {"color": CUR_COLOR},
            },
        ]
    layout = {
        "barmode": "overlay" if d.get("type") == "numeric" else "group",
        "height": 260,
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "yaxis": {"title": "share of rows", "tickformat": ".0%"},
        "legend": {"orientation": "h", "y": 1.15},
    }
    return {"data": data, "layout": layout}


def _summary_figure(report: Report) -> dict[str, Any]:
    cols = [c for c in report.comparison.compared if c.drift is not None and c.drift.effect_size is not None]
    cols.sort(key=lambda c: -(c.drift.effect_size or 0.0))  # type: ignore[union-attr]
    cols = cols[:20][::-1]
    colors = ["#d62728" if c.drift and c.drift.drift_detected else "#9e9e9e" for c in cols]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [c.name for c in cols],
            "x": [c.drift.effect_size for c in cols if c.drift is not None],
            "marker": {"color": colors},
            "hovertext": [
                f"{c.drift.effect_size_method}; drift: {c.drift.drift_detected}"
                for c in cols
                if c.drift is not None
            ],
        }
    ]
    layout = {
        "height": 120 + 22 * len(cols),
        "margin": {"l": 140, "r": 10, "t": 10, "b": 40},
        "xaxis": {"title": "effect size (Wasserstein / std, or Jensen-Shannon)"},
    }
    return {"data": data, "layout": layout}


def render(report: Report, *, title: str, standalone: bool = True, checks_html: str = "") -> str:
    from loopwise._version import __version__

    doc = report.to_dict()
    figures = {f"col-{i}": _column_figure(c) for i, c in enumerate(report.comparison.columns) if c.display}
    figures["summary"] = _summary_figure(report)
    return _template().render(
        title=title,
        doc=doc,
        headline=report.headline(),
        figures_json=json.dumps(figures, allow_nan=False, separators=(",", ":")).replace("</", "<\\/"),
        # A notebook has no Plotly of its own: the page brings it, and loads it once.
        plotly_js=_plotly_js(),
        uid="lw" + uuid.uuid4().hex[:8],
        checks_html=checks_html,
        standalone=standalone,
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
