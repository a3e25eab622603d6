"""HTML of a gate result: the champion-vs-challenger comparisons drawn (each difference with its interval,
against zero and the non-inferiority margin), the per-segment changes, and the checks below (decision 0027).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import markupsafe

from loopwise.checks.check import actual_text
from loopwise.report.checks import _COLORS, _section
from loopwise.report.html import CUR_COLOR, REF_COLOR, plotly_tag

_STATUS_COLORS = {"pass": _COLORS["pass"], "fail": _COLORS["fail"], "inconclusive": _COLORS["warn"]}


def _difference_figure(comparisons: list[dict[str, Any]], margins: list[float]) -> dict[str, Any]:
    """One row per tested comparison: the difference (challenger - champion, signed so that right is
    better) with its interval as an error bar; zero and each margin as dashed lines."""
    labels, diffs, lo, hi = [], [], [], []
    for c in comparisons:
        sign = 1.0 if c.get("higher_is_better", True) else -1.0
        d, a, b = sign * c["difference"], sign * c["ci_low"], sign * c["ci_high"]
        a, b = min(a, b), max(a, b)
        test = c.get("test", "")
        labels.append(f"{c['metric']}<br>({test})" if test else str(c["metric"]))
        diffs.append(d)
        lo.append(d - a)
        hi.append(b - d)
    shapes = [
        {"type": "line", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1, "line": {"color": "#555"}}
    ]
    for m in {m for m in margins if m}:
        shapes.append(
            {
                "type": "line",
                "x0": -m,
                "x1": -m,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": _COLORS["fail"], "dash": "dash"},
            }
        )
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": diffs,
                "y": labels,
                "marker": {"color": CUR_COLOR, "size": 11},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": hi,
                    "arrayminus": lo,
                    "thickness": 2,
                },
                "name": "challenger - champion",
            }
        ],
        "layout": {
            "title": {"text": "Difference (challenger - champion; right is better), with its interval"},
            "height": 160 + 50 * len(labels),
            # The metric and its test name each row on two lines; automargin widens the left margin to the
            # longest of them (a fixed 260 px cut "accuracy (mcnemar (chi-square, continuity-corrected))").
            "margin": {"l": 40, "r": 20, "t": 50, "b": 50},
            "shapes": shapes,
            "yaxis": {"automargin": True},
            "xaxis": {
                "zeroline": False,
                "automargin": True,
                "title": {"text": "difference (dashed: the non-inferiority margin)"},
            },
        },
    }


def _values_figure(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """Each metric's value for the champion and the challenger, side by side."""
    metrics = [c["metric"] for c in comparisons]
    return {
        "data": [
            {
                "type": "bar",
                "x": metrics,
                "y": [c["champion"] for c in comparisons],
                "name": "champion",
                "marker": {"color": REF_COLOR},
            },
            {
                "type": "bar",
                "x": metrics,
                "y": [c["challenger"] for c in comparisons],
                "name": "challenger",
                "marker": {"color": CUR_COLOR},
            },
        ],
        "layout": {
            "barmode": "group",
            "height": 300,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
            "xaxis": {"automargin": True},
            "yaxis": {"automargin": True},
        },
    }


def _segment_figure(checks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-group change of the first fairness-budget check, with its budget."""
    for c in checks:
        groups = (c.get("evidence") or {}).get("groups")
        if c.get("metric") == "challenger_segment_change" and groups:
            names = sorted(groups)
            return {
                "data": [
                    {
                        "type": "bar",
                        "x": names,
                        "y": [groups[g]["change"] for g in names],
                        "marker": {
                            "color": [
                                REF_COLOR if groups[g]["change"] >= 0 else _COLORS["fail"] for g in names
                            ]
                        },
                        "text": [f"n={groups[g]['n']}" for g in names],
                    }
                ],
                "layout": {
                    "title": {"text": f"Change per {c.get('segment')} group (challenger - champion)"},
                    "height": 300,
                    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
                    "xaxis": {"automargin": True},
                    "yaxis": {"automargin": True},
                },
            }
    return None


def render_gate(gate: Any, *, title: str | None = None, plotly: str = "inline") -> str:
    """A whole HTML page for a GateResult: its verdict and inputs, the comparisons drawn with their
    intervals, the per-segment changes, and every check."""
    checks = gate.checks.get("checks", [])
    margins = [
        -float(c["condition_spec"]["ge"])
        for c in checks
        if c.get("metric") == "challenger_difference_lower"
        and isinstance((c.get("condition_spec") or {}).get("ge"), (int, float))
    ]
    figures: dict[str, Any] = {}
    if gate.comparisons:
        figures["difference"] = _difference_figure(gate.comparisons, margins)
        figures["values"] = _values_figure(gate.comparisons)
    seg = _segment_figure(checks)
    if seg is not None:
        figures["segments"] = seg
    result = gate.suite_result()
    # A result stored before checks carried ``actual_text`` reads the same as one stored since.
    shown = [
        {**c, "actual_text": actual_text(c["metric"], c.get("actual"), c.get("evidence"))} for c in checks
    ]
    section = _section().render(
        r=result, c=result.counts, rows=shown, colors=_COLORS, drifted=None, found=None
    )
    uid = "lw" + uuid.uuid4().hex[:8]
    esc = markupsafe.escape
    i = gate.inputs
    head = title or f"gate {gate.id}: {gate.model} {gate.version} vs {gate.champion}"
    rows = "".join(
        f"<tr><td>{esc(c['metric'])}</td><td>{c['champion']:.4f}</td><td>{c['challenger']:.4f}</td>"
        f"<td>{c['difference']:+.4f}</td><td>[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]</td>"
        f"<td>{c['p_value']:.3g}</td><td>{esc(c.get('test', ''))}</td><td>{c['n']}</td></tr>"
        for c in gate.comparisons
    )
    divs = "".join(f'<div id="{uid}-{k}"></div>' for k in figures)
    data = json.dumps(figures, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(head)}</title>'
        f"{plotly_tag(plotly)}</head><body>"
        '<div class="lwc" style="font-family:system-ui,sans-serif;max-width:1200px;margin:0 auto">'
        f"<h1 style='font-size:22px'>{esc(head)}</h1>"
        f"<div style='font-size:18px;padding:10px;border-radius:6px;color:#fff;"
        f"background:{_STATUS_COLORS.get(gate.status, '#777')}'>{esc(gate.verdict)}</div>"
        f"<p>window {esc(i.get('start'))} to {esc(i.get('end'))}: {i.get('paired')} paired events, "
        f"{i.get('labels')} labelled; evaluation {esc(i.get('evaluation'))}; run by {esc(gate.actor)} at "
        f"{esc(gate.created_at.isoformat())}</p>"
        "<table style='border-collapse:collapse;font-size:13px'><tr><th>metric</th><th>champion</th>"
        "<th>challenger</th><th>difference</th><th>interval</th><th>p-value</th><th>test</th><th>n</th></tr>"
        f"{rows}</table>{divs}</div>{section}"
        f'<script type="application/json" id="{uid}-figures">{data}</script>'
        f'<script>(function(){{var f=JSON.parse(document.getElementById("{uid}-figures").textContent);'
        f'for(var k in f){{Plotly.newPlot("{uid}-"+k,f[k].data,f[k].layout,{{displaylogo:false}});}}'
        "})();</script>"
        "</body></html>"
    )
