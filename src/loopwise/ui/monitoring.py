"""The workspace's monitor pages: a monitor's recent runs, and one run with every check's outcome, whole and
per segment, its detectors, the incidents it opened or continued, and each failing check's recent values
drawn. An alert's evidence link points here (decision 0052): a person following it signs in and lands on
the run, where the API route it used to name answered a browser with a 401 in JSON.

Any signed-in user who may see the model reads these pages (the API's ``read`` policy, viewers included);
nothing on them changes anything, so they carry no form but the header's sign-out."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from loopwise.alerts import incidents
from loopwise.checks import SuiteResult
from loopwise.errors import NotFoundError
from loopwise.monitors import check_series, get_run, monitor_row, runs
from loopwise.report.checks import checks_section
from loopwise.server.auth import Principal
from loopwise.server.deps import Public
from loopwise.server.sessions import session_principal
from loopwise.ui.pages import render, to_login, visible

router = APIRouter(prefix="/ui/models/{model}/monitors", include_in_schema=False)

#: How many windows a failing check's chart goes back, and how many runs the monitor's page lists.
CHART_WINDOWS = 48
LISTED_RUNS = 100
_COLORS = {"pass": "#2ca02c", "warn": "#ff9f1c", "fail": "#d62728", "error": "#7f3fbf"}


def _reader(request: Request, model: str) -> Principal | Response:
    """The signed-in user who may see ``model``; else the page to answer instead (sign in, or not found)."""
    who = session_principal(request)
    if who is None:
        return to_login(request)
    if not visible(request, who, model):
        return _missing(who, f"No model named {model!r}.")
    return who


def _missing(who: Principal, message: str) -> HTMLResponse:
    """A model the user may not see answers as one that does not exist (no hint that it does)."""
    return render("message.html", 404, user=who.user, csrf=who.csrf, heading="Not found", message=message)


@router.get("/{name}", response_class=HTMLResponse)
def monitor_page(model: str, name: str, request: Request, _: Public, before: str | None = None) -> Response:
    """The monitor's latest runs with traffic, newest first, each linked to its page, with a strip of the
    latest windows' statuses; and its latest failing, warning or error runs, however old (a monitor on quiet
    traffic has many runs that pass, or windows without traffic)."""
    who = _reader(request, model)
    if isinstance(who, Response):
        return who
    try:
        until = None if before is None else dt.datetime.fromisoformat(before)
    except ValueError:
        until = None  # a mangled link: the latest runs
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    try:
        with request.app.state.read_sessions() as s:
            latest = runs(s, model, name, LISTED_RUNS, before=until)
            failing = runs(s, model, name, LISTED_RUNS, statuses=("fail", "warn", "error"))
    except NotFoundError as e:
        return _missing(who, str(e))
    return render(
        "monitor.html",
        user=who.user,
        csrf=who.csrf,
        model=model,
        monitor=name,
        latest=latest,
        runs=[r for r in latest if r["state"] != "empty"],
        empty=sum(r["state"] == "empty" for r in latest),
        listed=len(latest),
        older=latest[-1]["window_end"] if len(latest) == LISTED_RUNS else None,
        paged=until is not None,
        failing=failing,
        colors=_COLORS,
        base=_base(model, name),
    )


@router.get("/{name}/runs/{run_id}", response_class=HTMLResponse)
def run_page(model: str, name: str, run_id: str, request: Request, _: Public) -> Response:
    """One run: its window and verdict, each check whole and per segment (the library's check table), the
    detectors, the incidents it opened or continued, and the recent values of each check that failed or
    warned in it, drawn against this run's window."""
    who = _reader(request, model)
    if isinstance(who, Response):
        return who
    if not run_id.isdigit() or len(run_id) > 18:
        return _missing(who, f"Monitor {name!r} of model {model!r} has no run {run_id!r}.")
    try:
        with request.app.state.read_sessions() as s:
            run = get_run(s, model, name, int(run_id))
            mid = monitor_row(s, model, name).id
            touched = [i for i in incidents(s, mid) if run["id"] in (i["opened_run_id"], i["last_run_id"])]
            series = check_series(s, model, name)["checks"]
    except NotFoundError as e:
        return _missing(who, str(e))
    result = run.get("result") or {}
    whole = _section(result.get("all"))
    segments = [(seg, _section(part)) for seg, part in sorted((result.get("segments") or {}).items())]
    wanted = {(f["check"], f["segment"]) for f in run.get("failed", [])}
    charts = [
        {"check": c["check"], "segment": c["segment"], "svg": _chart(c["points"], run["window_end"])}
        for c in series
        if (c["check"], c["segment"]) in wanted
    ]
    return render(
        "run.html",
        user=who.user,
        csrf=who.csrf,
        model=model,
        monitor=name,
        run=run,
        whole=whole,
        segments=segments,
        detectors=sorted((result.get("detectors") or {}).items()),
        incidents=touched,
        charts=charts,
        colors=_COLORS,
        base=_base(model, name),
    )


def _base(model: str, name: str) -> str:
    return f"/ui/models/{quote(model, safe='')}/monitors/{quote(name, safe='')}"


def _section(part: dict[str, Any] | None) -> Any:
    return None if not part or "checks" not in part else checks_section(SuiteResult.from_dict(part))


def _chart(points: list[dict[str, Any]], window_end: str) -> dict[str, Any] | None:
    """A check's last values up to this run's window as an SVG polyline with a dot per window in its
    status's colour (drawn by the template; no script). None when no window has a value."""
    upto = [p for p in points if p["window_end"] <= window_end][-CHART_WINDOWS:]
    values = [p["value"] for p in upto if isinstance(p["value"], (int, float))]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = (hi - lo) or (abs(hi) or 1.0)
    width, height, pad = 480.0, 90.0, 8.0
    step = (width - 2 * pad) / max(1, len(upto) - 1)
    dots = []
    for i, p in enumerate(upto):
        v = p["value"]
        if not isinstance(v, (int, float)):
            continue
        y = height - pad - (v - lo) / span * (height - 2 * pad) if hi != lo else height / 2
        dots.append(
            {
                "x": round(pad + i * step, 1),
                "y": round(y, 1),
                "color": _COLORS.get(p["status"], "#66707d"),
                "this": p["window_end"] == window_end,
                "title": f"{p['window_end']}: {v:.4g} ({p['status']})",
            }
        )
    return {
        "width": width,
        "height": height,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "low": f"{lo:.4g}",
        "high": f"{hi:.4g}",
        "windows": len(upto),
        "threshold": upto[-1]["threshold"],
    }
