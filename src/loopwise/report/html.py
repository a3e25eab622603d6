"""Render a Report as one self-contained HTML file with interactive Plotly charts.

The page embeds plotly.js (from the installed plotly package, so no network
is needed to view it) and the aggregates behind each chart, never raw rows:
its size does not grow with the number of rows compared. ``plotly="cdn"``
loads plotly.js from its CDN instead (a 4.8 MB smaller file that needs a
network to draw). In a notebook, plotly.js is sent once per kernel, with the
first report shown, as plotly's own notebook renderer does; later reports
draw with it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import uuid
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2

from loopwise._display import num
from loopwise.errors import ParameterError

if TYPE_CHECKING:
    from loopwise.report.report import Report

#: How an HTML file gets plotly.js: embedded (works offline; the default) or from plotly's CDN.
PLOTLY_CHOICES = ("inline", "cdn")
REF_COLOR = "#4c78a8"
CUR_COLOR = "#f58518"


#: Whether this process already sent plotly.js to the notebook it runs in.
_notebook = {"plotly_sent": False}


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@lru_cache(maxsize=1)
def _plotly_cdn_tag() -> str:
    # The CDN copy of the very plotly.js the package bundles, pinned by its hash (as plotly.io.to_html does).
    from plotly.offline import get_plotlyjs_version

    digest = hashlib.sha256(_plotly_js().encode("utf-8")).digest()
    url = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
    sri = "sha256-" + base64.b64encode(digest).decode("ascii")
    return f'<script charset="utf-8" src="{url}" integrity="{sri}" crossorigin="anonymous"></script>'


def plotly_tag(plotly: str) -> str:
    """The tag that loads plotly.js: ``inline``, ``cdn``, or ``notebook`` (inline the first time only)."""
    if plotly == "notebook":
        if _notebook["plotly_sent"]:
            return ""
        _notebook["plotly_sent"] = True
        plotly = "inline"
    if plotly == "inline":
        return f"<script>{_plotly_js()}</script>"
    if plotly == "cdn":
        return _plotly_cdn_tag()
    raise ParameterError("plotly", plotly, " or ".join(PLOTLY_CHOICES))


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["num"] = num
    # A p-value that underflowed to 0 is "below the smallest double", not zero.
    env.filters["pval"] = lambda x: "< 1e-300" if x == 0 else num(x)
    env.filters["pct"] = lambda x: "" if x is None else f"{x:.1%}"
    text = resources.files("loopwise.report").joinpath("templates/report.html.j2").read_text("utf-8")
    return env.from_string(text)


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
        "margin": {"l": 60, "r": 10, "t": 10, "b": 50},
        "xaxis": {
            "title": {"text": f"{col.name} (length in characters)" if col.kind == "text" else col.name}
        },
        "yaxis": {"title": {"text": "share of values"}, "tickformat": ".0%"},
        "legend": {"orientation": "h", "y": 1.15},
    }
    return {"data": data, "layout": layout}


#: The effect size of each kind of column, and how to read it: one chart (one axis) per measure.
EFFECT_AXES = {
    "wasserstein": "Wasserstein distance, in reference standard deviations (0 = same distribution)",
    "jensenshannon": "Jensen-Shannon distance of the shares (natural log; 0 = same, 0.83 = no overlap)",
}
EFFECT_TITLES = {
    "wasserstein": "Numeric columns: how far the values moved",
    "jensenshannon": "Categorical columns: how far the shares moved",
}


def _effect_figures(report: Report) -> dict[str, dict[str, Any]]:
    """One bar chart per effect-size measure, the top 20 columns of each, drifted ones in red."""
    out: dict[str, dict[str, Any]] = {}
    for measure, axis in EFFECT_AXES.items():
        cols = [
            c
            for c in report.comparison.compared
            if c.drift is not None
            and c.drift.effect_size is not None
            and c.drift.effect_size_method == measure
        ]
        if not cols:
            continue
        cols.sort(key=lambda c: -(c.drift.effect_size or 0.0))  # type: ignore[union-attr]
        cols = cols[:20][::-1]
        data = [
            {
                "type": "bar",
                "orientation": "h",
                "y": [c.name for c in cols],
                "x": [c.drift.effect_size for c in cols if c.drift is not None],
                "marker": {
                    "color": ["#d62728" if c.drift and c.drift.drift_detected else "#9e9e9e" for c in cols]
                },
                "hovertext": [_change(c.summary) or c.name for c in cols],
            }
        ]
        layout = {
            "title": {"text": EFFECT_TITLES[measure], "font": {"size": 14}},
            "height": 150 + 22 * len(cols),
            "margin": {"l": 140, "r": 10, "t": 40, "b": 50},
            "xaxis": {"title": {"text": axis}, "rangemode": "tozero"},
        }
        out[f"effect-{measure}"] = {"data": data, "layout": layout}
    return out


def _change(summary: dict[str, Any]) -> str:
    """What moved, in the column's unit: the mean and median, or the category whose share moved most."""
    if not summary:
        return ""
    if "statistics" in summary:
        r, c = summary["reference"], summary["current"]
        unit = " (length)" if summary["measure"].startswith("length") else ""
        return "; ".join(
            f"{k}{unit} {num(r[k])} → {num(c[k])} ({_signed(c[k] - r[k])})"
            for k in ("mean", "median")
            if r.get(k) is not None and c.get(k) is not None
        )
    moves = [
        (abs(b - a), k, a, b)
        for k, a, b in zip(summary["categories"], summary["reference"], summary["current"], strict=True)
    ]
    if not moves:
        return ""
    _, k, a, b = max(moves, key=lambda m: m[0])
    return f"{k}: {a:.1%} → {b:.1%} of values ({(b - a) * 100:+.1f} points)"


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + num(abs(x))


def _sides_table(summary: dict[str, Any]) -> list[list[str]]:
    """Rows of statistic, reference, current, change (formatted) for a column's section."""
    if not summary:
        return []
    if "statistics" in summary:
        r, c = summary["reference"], summary["current"]
        return [
            [k, num(r[k]), num(c[k]), _signed(c[k] - r[k]) if r[k] is not None and c[k] is not None else ""]
            for k in summary["statistics"]
        ]
    return [
        [str(k), f"{a:.1%}", f"{b:.1%}", f"{(b - a) * 100:+.1f} points"]
        for k, a, b in zip(summary["categories"], summary["reference"], summary["current"], strict=True)
    ]


def render(
    report: Report, *, title: str, standalone: bool = True, checks_html: str = "", plotly: str = "inline"
) -> str:
    """The report as HTML: a whole page (``standalone``) or a notebook cell's fragment."""
    from loopwise._version import __version__

    if plotly not in (*PLOTLY_CHOICES, "notebook"):
        raise ParameterError("plotly", plotly, " or ".join(PLOTLY_CHOICES))
    doc = report.to_dict()
    figures = {f"col-{i}": _column_figure(c) for i, c in enumerate(report.comparison.columns) if c.display}
    effects = _effect_figures(report)
    figures.update(effects)
    changes = [_change(c.summary) for c in report.comparison.columns]
    sides = [_sides_table(c.summary) for c in report.comparison.columns]
    return _template().render(
        title=title,
        doc=doc,
        headline=report.headline(),
        figures_json=json.dumps(figures, allow_nan=False, separators=(",", ":")).replace("</", "<\\/"),
        plotly_tag=plotly_tag(plotly),
        effects=[(k, EFFECT_TITLES[k.removeprefix("effect-")]) for k in effects],
        changes=changes,
        sides=sides,
        uid="lw" + uuid.uuid4().hex[:8],
        checks_html=checks_html,
        standalone=standalone,
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
