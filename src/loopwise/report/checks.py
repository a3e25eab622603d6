"""HTML of a SuiteResult: the checks on top, and the drift report below when the checks used one."""

from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2
import markupsafe

from loopwise.checks import SuiteResult

_COLORS = {"pass": "#2ca02c", "warn": "#ff9f1c", "fail": "#d62728", "error": "#7f3fbf"}


def _section() -> jinja2.Template:
    text = resources.files("loopwise.report").joinpath("templates/checks.html.j2").read_text("utf-8")
    return jinja2.Environment(autoescape=True).from_string(text)


def checks_section(result: SuiteResult) -> markupsafe.Markup:
    """The checks' banner and table, failures first, as a fragment (every value escaped): the top of
    ``render_suite`` and of the workspace's monitor run page."""
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    rows: list[dict[str, Any]] = sorted(
        (r.to_dict() for r in result.results), key=lambda d: order[d["status"]]
    )
    html = _section().render(
        r=result,
        c=result.counts,
        rows=rows,
        colors=_COLORS,
        drifted=result.drifted_columns,
        found=result.drift_found,
    )
    return markupsafe.Markup(html)  # rendered by an autoescaping template: safe to embed


def render_suite(result: SuiteResult, title: str = "loopwise checks", *, plotly: str = "inline") -> str:
    """The checks (and the drifted columns) on top, and the drift report below when a check compared drift."""
    section = str(checks_section(result))
    if result.comparison is not None:
        from loopwise.report.html import render
        from loopwise.report.report import Report

        return render(Report(result.comparison), title=title, checks_html=section, plotly=plotly)
    head = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{markupsafe.escape(title)}'
    return f"{head}</title></head><body>{section}</body></html>"
