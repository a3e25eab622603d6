"""``review/stats``: throughput, backlog, budget used, agreement between reviewers, gold accuracy per
reviewer, and the latest fill's accuracy estimated from its resolved tasks (weighted by 1/π). For a streamed
fill (decision 0042) "the latest fill" is its day's streamed fills together: their budgets, tasks and
estimate, and the events that arrived in their windows too late to be in them."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from loopwise.errors import LoopwiseError
from loopwise.ingest import get_model, model_schema
from loopwise.metrics.agreement import Agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha
from loopwise.metrics.sampled import SampledEstimate, hajek
from loopwise.profiles.canonical import canonical
from loopwise.review.consensus import same
from loopwise.review.policies import gold_of, stream_of
from loopwise.review.quality import score
from loopwise.schema import Column, Role, Schema, Task
from loopwise.schema.inference import infer_task
from loopwise.store.tables import (
    Event,
    Model,
    ReviewerState,
    ReviewFill,
    ReviewLabel,
    ReviewPolicy,
    ReviewTask,
)
from loopwise.store.types import utcnow


def _agreement(f: Any, *args: Any, **kw: Any) -> dict[str, Any]:
    try:
        a: Agreement = f(*args, **kw)
    except LoopwiseError as e:
        return {"value": None, "reason": str(e)}
    return {"value": a.value, "items": a.items, "ratings": a.ratings}


def agreement(s: Session, model_id: int) -> dict[str, Any]:
    """Agreement over overlap tasks' counted labels: Cohen's κ per reviewer pair, Fleiss' κ and
    Krippendorff's α (nominal) over all."""
    rows = s.execute(
        select(ReviewLabel.task_id, ReviewLabel.reviewer, ReviewLabel.label)
        .join(ReviewTask, ReviewTask.id == ReviewLabel.task_id)
        .where(
            ReviewLabel.model_id == model_id,
            ReviewLabel.state == "submitted",
            ReviewLabel.suspect.is_(False),
            ReviewTask.needed > 1,
        )
    ).all()
    by_task: dict[str, dict[str, str]] = defaultdict(dict)
    for task, reviewer, label in rows:
        by_task[task][reviewer] = canonical(label["label"])
    reviewers = sorted({r for labels in by_task.values() for r in labels})
    tasks = sorted(by_task)
    table = [[by_task[t].get(r) for r in reviewers] for t in tasks]
    pairs = []
    for a, b in itertools.combinations(reviewers, 2):
        both = [(by_task[t][a], by_task[t][b]) for t in tasks if a in by_task[t] and b in by_task[t]]
        if both:
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "tasks": len(both),
                    "cohen_kappa": _agreement(cohen_kappa, *zip(*both, strict=True)),
                }
            )
    return {
        "tasks": len(tasks),
        "pairs": pairs,
        "fleiss_kappa": _agreement(fleiss_kappa, table)
        if tasks
        else {"value": None, "reason": "no overlap tasks yet"},
        "krippendorff_alpha": _agreement(krippendorff_alpha, table, level="nominal")
        if tasks
        else {"value": None, "reason": "no overlap tasks yet"},
    }


def latest_fills(s: Session, model_id: int) -> list[ReviewFill]:
    """The fills the statistics describe: the latest fill, or when it was streamed (decision 0042), the
    streamed fills of its day (UTC), in time order."""
    fill = s.scalar(
        select(ReviewFill).where(ReviewFill.model_id == model_id).order_by(ReviewFill.start.desc()).limit(1)
    )
    if fill is None:
        return []
    if fill.mode != "stream":
        return [fill]
    day = fill.start.replace(hour=0, minute=0, second=0, microsecond=0)
    return list(
        s.scalars(
            select(ReviewFill)
            .where(
                ReviewFill.model_id == model_id,
                ReviewFill.mode == "stream",
                ReviewFill.start >= day,
                ReviewFill.start < day + dt.timedelta(days=1),
            )
            .order_by(ReviewFill.start)
        )
    )


def _covered(s: Session, model_id: int, fills: list[ReviewFill]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The time the fills went through, adjacent windows as one range. For a stream's day that is the day
    from ``since`` to the watermark, less the on-demand fills in it: its increments without events are
    stored as no fill (decision 0046), but events that came late into them had no chance either."""
    if fills[-1].mode == "stream":
        policy = s.get(ReviewPolicy, model_id)
        spec = dict(policy.spec) if policy is not None else {}
        stream = stream_of(spec)
        mark = policy.stream_mark if policy is not None else None
        day = fills[0].start.replace(hour=0, minute=0, second=0, microsecond=0)
        lo = max(day, stream.since) if stream is not None and stream.since is not None else fills[0].start
        hi = min(day + dt.timedelta(days=1), mark) if mark is not None else fills[-1].end
        lo, hi = min(lo, fills[0].start), max(hi, fills[-1].end)
        demand = s.execute(
            select(ReviewFill.start, ReviewFill.end)
            .where(
                ReviewFill.model_id == model_id,
                ReviewFill.mode != "stream",
                ReviewFill.start < hi,
                ReviewFill.end > lo,
            )
            .order_by(ReviewFill.start)
        ).all()
        out, c = [], lo
        for a, b in demand:
            if a > c:
                out.append((c, a))
            c = max(c, b)
        if c < hi:
            out.append((c, hi))
        return out
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    for f in fills:  # adjacent windows as one range
        if spans and spans[-1][1] == f.start:
            spans[-1] = (spans[-1][0], f.end)
        else:
            spans.append((f.start, f.end))
    return spans


def _late(s: Session, model_id: int, fills: list[ReviewFill]) -> int:
    """Events logged in the fills' windows after they were filled (they had no chance of review)."""
    spans = _covered(s, model_id, fills)
    ranges = [
        and_(
            Event.bucket >= a.replace(minute=0, second=0, microsecond=0),  # the index's bounds
            Event.bucket < b,
            Event.ts >= a,
            Event.ts < b,
        )
        for a, b in spans
    ]
    now = s.scalar(select(func.count()).where(Event.model_id == model_id, or_(*ranges)))
    return max(0, int(now or 0) - sum(f.window_rows for f in fills))


def regression(schema: Schema, predictions: list[Any], labels: list[Any]) -> bool:
    """Whether reviewed labels of this model are numbers to measure errors on (a regressor), not classes
    to match: the schema's task when it has one, else the rule a schema infers its task by (decision 0046)."""
    if schema.task is not None:
        return schema.task is Task.REGRESSION
    if not all(_number(v) is not None for v in (*predictions, *labels)):
        return False  # booleans, text, missing: classes, compared as such
    pred = schema.by_role(Role.PREDICTION)
    if not pred:
        return False
    target = schema.by_role(Role.TARGET)
    kind = target[0].kind if target else pred[0].kind
    try:
        table = pa.table({"p": predictions, "y": labels})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False  # mixed types: classes, compared as such
    columns = [
        Column("p", Role.PREDICTION, pred[0].kind),
        Column("y", Role.TARGET, kind),
        *schema.by_role(Role.SCORE),
    ]
    return infer_task(table, columns)[0] is Task.REGRESSION


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _root(e: SampledEstimate | None) -> dict[str, Any] | None:
    """RMSE from an MSE estimate: its square root, and the roots of its interval's ends (a monotone map of
    an interval is an interval of the same level)."""
    if e is None:
        return None
    return {
        "value": math.sqrt(max(e.value, 0.0)),
        "ci_low": math.sqrt(max(e.ci_low, 0.0)),
        "ci_high": math.sqrt(max(e.ci_high, 0.0)),
        "confidence": e.confidence,
        "n": e.n,
    }


def _errors(rows: list[Any]) -> dict[str, Any]:
    """A regressor's reviewed rows: MAE and RMSE of the prediction against the reviewed label, weighted by
    1/π (Hájek), over the random slice alone, and unweighted (decision 0046)."""
    pairs = [(_number(r.prediction), _number(r.label["label"]), r) for r in rows]
    used = [(p, y, r) for p, y, r in pairs if p is not None and y is not None]
    if not used:
        return {"metric": "mae", "reviewed": 0, "excluded": len(rows), "combined": None, "random": None}
    err = np.array([p - y for p, y, _ in used])
    pi = np.array([r.inclusion_probability for _, _, r in used])
    rand = [
        (e, r.selector_probability) for e, (_, _, r) in zip(err, used, strict=True) if r.selector == "random"
    ]
    re_, rp = (np.array([e for e, _ in rand]), np.array([q for _, q in rand])) if rand else (None, None)
    mse = hajek(err**2, pi)
    mse_random = hajek(re_**2, rp) if re_ is not None else None
    return {
        "metric": "mae",
        "definition": "mean absolute error of the prediction against the reviewed label (and rmse: the root "
        "of the mean squared error), each reviewed row weighted by 1/π (Hájek); a regressor's accuracy by "
        "exact equality would count almost every answer wrong",
        "reviewed": len(used),
        "excluded": len(rows) - len(used),
        "combined": hajek(np.abs(err), pi).to_dict(),
        "random": hajek(np.abs(re_), rp).to_dict() if re_ is not None else None,
        "naive": float(np.abs(err).mean()),
        "rmse": {
            "combined": _root(mse),
            "random": _root(mse_random),
            "naive": float(math.sqrt(float(np.mean(err**2)))),
        },
    }


def estimate(s: Session, fills: ReviewFill | list[ReviewFill]) -> dict[str, Any] | None:
    """The fill windows' performance from their resolved tasks: Hájek over all (combined), over the random
    slice alone, and the naive mean; None before any task of the fills is resolved. A classifier's is
    accuracy (the label equals the prediction); a regressor's the mean absolute error and the RMSE."""
    fills = fills if isinstance(fills, list) else [fills]
    ids = [f.id for f in fills]
    rows = s.execute(
        select(
            ReviewTask.selector,
            ReviewTask.inclusion_probability,
            ReviewTask.selector_probability,
            ReviewTask.prediction,
            ReviewTask.label,
        ).where(ReviewTask.fill_id.in_(ids), ReviewTask.state == "resolved")
    ).all()
    rows = [r for r in rows if r.prediction is not None and r.label is not None]
    if not rows:
        return None
    model = s.get(Model, fills[0].model_id)
    if model is not None and regression(
        model_schema(model), [r.prediction for r in rows], [r.label["label"] for r in rows]
    ):
        return _errors(rows)
    y = np.array([1.0 if same(r.prediction, r.label["label"]) else 0.0 for r in rows])
    pi = np.array([r.inclusion_probability for r in rows])
    random = [(v, r.selector_probability) for v, r in zip(y, rows, strict=True) if r.selector == "random"]
    out: dict[str, Any] = {
        "metric": "accuracy",
        "definition": "the share of reviewed labels equal to the prediction, each reviewed row weighted by "
        "1/π (Hájek)",
        "reviewed": len(rows),
        "combined": hajek(y, pi).to_dict(),
        "random": hajek(*zip(*random, strict=True)).to_dict() if random else None,
        "naive": float(y.mean()),
    }
    return out


def review_stats(s: Session, model_name: str, now: dt.datetime | None = None) -> dict[str, Any]:
    model = get_model(s, model_name)
    now = now or utcnow()
    states = dict(
        s.execute(
            select(ReviewTask.state, func.count())
            .where(ReviewTask.model_id == model.id)
            .group_by(ReviewTask.state)
        ).all()
    )
    throughput = {}
    for name, span in (("last_hour", dt.timedelta(hours=1)), ("last_day", dt.timedelta(days=1))):
        throughput[name] = int(
            s.scalar(
                select(func.count()).where(
                    ReviewLabel.model_id == model.id,
                    ReviewLabel.state == "submitted",
                    ReviewLabel.submitted_at >= now - span,
                )
            )
            or 0
        )
    per_reviewer = dict(
        s.execute(
            select(ReviewLabel.reviewer, func.count())
            .where(ReviewLabel.model_id == model.id, ReviewLabel.state == "submitted")
            .group_by(ReviewLabel.reviewer)
        ).all()
    )
    fills = latest_fills(s, model.id)
    budget = None
    if fills:
        ids = [f.id for f in fills]
        resolved = int(
            s.scalar(select(func.count()).where(ReviewTask.fill_id.in_(ids), ReviewTask.state == "resolved"))
            or 0
        )
        spent = sum(f.budget for f in fills)
        budget = {
            "fill_id": fills[-1].id,
            "mode": fills[-1].mode,
            "fills": len(fills),
            "start": fills[0].start.isoformat(),
            "end": fills[-1].end.isoformat(),
            "window_rows": sum(f.window_rows for f in fills),
            "budget": spent,
            "tasks": sum(f.tasks for f in fills),
            "resolved": resolved,
            "used": resolved / spent if spent else None,
            "late": _late(s, model.id, fills),
        }
    policy = s.get(ReviewPolicy, model.id)
    gold = gold_of(dict(policy.spec) if policy else {})
    reviewers = sorted(
        set(per_reviewer)
        | set(s.scalars(select(ReviewerState.reviewer).where(ReviewerState.model_id == model.id)))
    )
    return {
        "backlog": {k: int(states.get(k, 0)) for k in ("open", "adjudication", "suspect")},
        "resolved": int(states.get("resolved", 0)),
        "gold_items": int(states.get("gold", 0)),
        "throughput": {**throughput, "by_reviewer": {k: int(v) for k, v in per_reviewer.items()}},
        "budget": budget,
        "agreement": agreement(s, model.id),
        "gold": [score(s, model, r, gold).to_dict() for r in reviewers],
        "estimate": estimate(s, fills) if fills else None,
    }


def window_text(start: dt.datetime, end: dt.datetime) -> str:
    """``2026-01-03 08:00 to 09:00 UTC``: the end's date only when it is another day's."""
    start, end = (t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (start, end))
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} to {until} UTC"


def progress(s: Session, model_name: str, reviewer: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Where the day's work stands, for the workspace: the latest fill's budget and how many of its tasks
    are answered (resolved, or waiting for an adjudicator), and the reviewer's answers since midnight UTC.
    A few indexed counts, unlike ``review_stats``."""
    model = get_model(s, model_name)
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    mine = s.scalar(
        select(func.count()).where(
            ReviewLabel.model_id == model.id,
            ReviewLabel.reviewer == reviewer,
            ReviewLabel.state == "submitted",
            ReviewLabel.submitted_at >= midnight,
        )
    )
    out: dict[str, Any] = {"mine_today": int(mine or 0), "fill": None}
    fills = latest_fills(s, model.id)
    if fills:
        states = dict(
            s.execute(
                select(ReviewTask.state, func.count())
                .where(ReviewTask.fill_id.in_([f.id for f in fills]))
                .group_by(ReviewTask.state)
            ).all()
        )
        done = int(states.get("resolved", 0)) + int(states.get("adjudication", 0))
        tasks = sum(f.tasks for f in fills)
        start, end, mode = fills[0].start, fills[-1].end, fills[-1].mode
        out["fill"] = {
            # What the budget is of: the fill's own window (an on-demand fill may be January's), or for
            # streamed fills their UTC day; never "today" (decision 0047).
            "label": f"budget of the streamed day {start:%Y-%m-%d}"
            if mode == "stream"
            else f"budget of the fill {window_text(start, end)}",
            "start": fills[0].start.isoformat(),
            "end": fills[-1].end.isoformat(),
            "budget": float(sum(f.budget for f in fills)),
            "tasks": int(tasks),
            "done": done,
            "open": int(states.get("open", 0)),
            "share": done / tasks if tasks else None,
            "mode": fills[-1].mode,
        }
    return out


def stream_day(s: Session, model_name: str, *, selectors: bool = True) -> dict[str, Any] | None:
    """A streamed day's increments, for the workspace (decision 0046): the latest streamed fill's UTC day,
    each increment with events (when it was filled, its events, budget, tasks, and how many each selector
    chose), the day's budget spent and left, and the increments gone through without events (stored as no
    fill; the policy's watermark says how far the stream went). None when the model has no stream.
    ``selectors=False`` leaves out which selector chose how many (``by_selector`` None): for reviewers, since
    an increment of one task would tell them which selector chose the task in front of them."""
    model = get_model(s, model_name)
    policy = s.get(ReviewPolicy, model.id)
    spec = dict(policy.spec) if policy is not None else {}
    stream = stream_of(spec)
    if policy is None or stream is None:
        return None
    last = s.scalar(
        select(ReviewFill)
        .where(ReviewFill.model_id == model.id, ReviewFill.mode == "stream")
        .order_by(ReviewFill.start.desc())
        .limit(1)
    )
    mark = policy.stream_mark
    anchor = last.start if last is not None else mark or stream.since
    day = (anchor or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    fills = list(
        s.scalars(
            select(ReviewFill)
            .where(
                ReviewFill.model_id == model.id,
                ReviewFill.mode == "stream",
                ReviewFill.start >= day,
                ReviewFill.start < day + dt.timedelta(days=1),
            )
            .order_by(ReviewFill.start)
        )
    )
    chose: dict[int, dict[str, int]] = defaultdict(dict)
    answered = 0
    if fills:
        for fid, selector, n in s.execute(
            select(ReviewTask.fill_id, ReviewTask.selector, func.count())
            .where(ReviewTask.fill_id.in_([f.id for f in fills]))
            .group_by(ReviewTask.fill_id, ReviewTask.selector)
        ):
            chose[int(fid or 0)][str(selector)] = int(n)
        answered = int(
            s.scalar(
                select(func.count()).where(
                    ReviewTask.fill_id.in_([f.id for f in fills]),
                    ReviewTask.state.in_(("resolved", "adjudication")),
                )
            )
            or 0
        )
    gone = 0
    if fills:
        seconds = sum((b - a).total_seconds() for a, b in _covered(s, model.id, fills))
        gone = max(len(fills), int(-(-seconds // stream.every)))
    tasks = spec.get("tasks")
    spent = float(sum(f.budget for f in fills))
    return {
        "day": day.date().isoformat(),
        "every": stream.every,
        "delay": stream.delay,
        "tasks_per_day": tasks,
        "share": spec.get("share"),
        "mark": mark.isoformat() if mark is not None else None,
        "increments": [
            {
                "start": f.start.isoformat(),
                "end": f.end.isoformat(),
                "filled_at": f.created_at.isoformat(),
                "window_rows": f.window_rows,
                "budget": f.budget,
                "tasks": f.tasks,
                "by_selector": dict(sorted(chose.get(f.id, {}).items())) if selectors else None,
            }
            for f in fills
        ],
        "gone_through": gone,
        "without_events": max(0, gone - len(fills)),
        "spent": spent,
        "left": max(0.0, float(tasks) - spent) if tasks is not None else None,
        "selected": int(sum(f.tasks for f in fills)),
        "answered": answered,
    }
