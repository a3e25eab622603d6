"""The review queue (decision 0036): a Policy's fill of a window into ReviewTasks, gold items, and handing
tasks to reviewers one at a time, blind.

- ``fill``: the stored policy over a window's logged events; every task keeps its selector and inclusion
  probability; a share of them (``overlap``) want k reviewers instead of one. Fills may not overlap in
  time, so every event of a window had exactly one chance of being drawn.
- ``next_task``: the reviewer's held task, else (at the gold rate) a gold item they have not answered,
  else the first open task they have not seen that still wants a reviewer. A task is taken by a guarded
  update (``assigned < needed``), so two reviewers never take the last place of one task.
- What a reviewer receives is the same for every task: its id, the event's features, prediction and
  scores. Never its selector, whether it is gold, or anyone else's label.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from loopwise.errors import ConflictError, DataError, ForbiddenError, NotFoundError, ParameterError
from loopwise.ingest import get_model, model_schema, window_table
from loopwise.review.consensus import resolve, same, settle
from loopwise.review.events import event_rows, plain, prediction_of, require_event, view
from loopwise.review.policies import build, get_policy, gold_of, overlap_of, stream_of
from loopwise.review.quality import check, standing
from loopwise.review.selection import Policy
from loopwise.schema import Role
from loopwise.store.audit import append
from loopwise.store.tables import Model, ReviewFill, ReviewLabel, ReviewPolicy, ReviewTask
from loopwise.store.types import utcnow

GOLD = "gold"


def _task_id() -> str:
    return secrets.token_hex(16)


def _next_position(s: Session, model: Model) -> int:
    top = s.scalar(select(func.max(ReviewTask.position)).where(ReviewTask.model_id == model.id))
    return 0 if top is None else int(top) + 1


def fill(
    s: Session, model_name: str, start: dt.datetime, end: dt.datetime, actor: str, seed: int | None = None
) -> dict[str, Any]:
    """Run the model's review policy over the window [start, end) and queue the tasks it draws."""
    if start is None or end is None or not start < end:
        raise ParameterError("end", end, f"a time after start ({start}): a fill needs a whole window")
    model = get_model(s, model_name)
    s.get(ReviewPolicy, model.id, with_for_update=True)  # one fill of a model at a time (PostgreSQL)
    spec = get_policy(s, model_name)
    policy = build(s, model_name, spec)
    clash = s.execute(
        select(ReviewFill.id, ReviewFill.start, ReviewFill.end).where(
            ReviewFill.model_id == model.id, ReviewFill.start < end, ReviewFill.end > start
        )
    ).first()
    if clash is not None:
        raise ConflictError(
            f"fill {clash[0]} already covers {clash[1].isoformat()} to {clash[2].isoformat()}: windows "
            "may not overlap, or events there would have had two chances of review"
        )
    streamed = stream_span(s, model.id, spec)
    if streamed is not None and start < streamed[1] and end > streamed[0]:
        # The stream went through every increment up to its mark: those without events are stored as no
        # fill (decision 0046), but were filled all the same, and their late events had their chance.
        raise ConflictError(
            f"the review stream went through {streamed[0].isoformat()} to {streamed[1].isoformat()}: windows "
            "may not overlap, or events there would have had two chances of review"
        )
    table = window_table(s, model_name, start, end, exact=True)
    rng = np.random.default_rng(seed)
    return fill_window(s, model, spec, policy, table, start, end, actor, rng, "demand")


def stream_span(s: Session, model_id: int, spec: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    """[since, watermark) of the model's stream: every increment in it was gone through, stored as a fill
    or not (the parts on-demand fills covered were skipped); None without a stream that has run."""
    stream = stream_of(spec)
    mark = s.scalar(select(ReviewPolicy.stream_mark).where(ReviewPolicy.model_id == model_id))
    if stream is None or stream.since is None or mark is None or mark <= stream.since:
        return None
    return stream.since, mark


def fill_window(
    s: Session,
    model: Model,
    spec: dict[str, Any],
    policy: Policy | None,
    table: pa.Table | None,
    start: dt.datetime,
    end: dt.datetime,
    actor: str,
    rng: np.random.Generator,
    mode: str,
) -> dict[str, Any]:
    """Draw the window's tasks with ``policy`` from ``table`` (its events) and store the fill and tasks; the
    caller has checked that no fill covers the window. No policy or no events: a fill of no tasks, kept so
    that the window is known to have been filled (a stream stores no fill for an increment without events:
    its watermark says it ran, decision 0046)."""
    schema = model_schema(model)
    ids = schema.by_role(Role.ID)
    if not ids:
        raise DataError(f"model {model.name!r} has no id column: review tasks are found by event id")
    n = 0 if table is None else table.num_rows
    if policy is None or table is None or n == 0:
        fill_row = _fill_row(s, model, spec, start, end, n, 0.0, 0, actor, mode)
        summary: dict[str, Any] = {
            "fill_id": fill_row.id,
            "overlap_tasks": 0,
            "window_rows": n,
            "budget": 0.0,
            "tasks": 0,
            "by_selector": {},
        }
        if n:  # a demand fill of no events is not worth an audit entry
            append(s, model.id, actor, "review.fill", {**summary, "mode": mode, "start": start.isoformat()})
        return summary
    table = table.drop_columns([c.name for c in schema.by_role(Role.TARGET) if c.name in table.column_names])
    overlap = overlap_of(spec)
    selection = policy.select(table, seed=rng)
    rows = selection.rows
    k = np.where(rng.random(len(rows)) < overlap.share, overlap.k, 1)
    pred = schema.by_role(Role.PREDICTION)
    fill_row = _fill_row(s, model, spec, start, end, n, selection.budget, len(rows), actor, mode)
    base, now = _next_position(s, model), utcnow()
    events = rows[ids[0].name].astype(str).tolist()
    preds = rows[pred[0].name].tolist() if pred else [None] * len(rows)
    records = [
        {
            "id": _task_id(),
            "model_id": model.id,
            "fill_id": fill_row.id,
            "event_id": e,
            "selector": str(sel),
            "inclusion_probability": float(pi),
            "selector_probability": float(sp),
            "position": base + i,
            "needed": int(kk),
            "assigned": 0,
            "state": "open",
            "prediction": plain(p.item() if hasattr(p, "item") else p),
            "created_at": now,
        }
        for i, (e, sel, pi, sp, kk, p) in enumerate(
            zip(
                events,
                rows["selector"],
                rows["inclusion_probability"],
                rows["selector_probability"],
                k,
                preds,
                strict=True,
            )
        )
    ]
    if records:
        s.execute(insert(ReviewTask), records)
    summary = {"fill_id": fill_row.id, "overlap_tasks": int((k > 1).sum()), **selection.summary()}
    append(s, model.id, actor, "review.fill", summary if mode == "demand" else {**summary, "mode": mode})
    return summary


def _fill_row(
    s: Session,
    model: Model,
    spec: dict[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    n: int,
    budget: float,
    tasks: int,
    actor: str,
    mode: str,
) -> ReviewFill:
    row = ReviewFill(
        model_id=model.id,
        start=start,
        end=end,
        window_rows=n,
        budget=budget,
        tasks=tasks,
        policy=spec,
        actor=actor,
        created_at=utcnow(),
        mode=mode,
    )
    s.add(row)
    s.flush()
    return row


def add_gold(s: Session, model_name: str, items: list[dict[str, Any]], actor: str) -> dict[str, int]:
    """Add gold items: logged events with a known answer, ``[{"event_id": ..., "label": ...}]``."""
    model = get_model(s, model_name)
    if not isinstance(items, list) or not items:
        raise ParameterError("items", items, 'a non-empty list of {"event_id": ..., "label": ...}')
    for i, it in enumerate(items):
        if not isinstance(it, dict) or set(it) != {"event_id", "label"}:
            raise ParameterError(f"items[{i}]", it, "an object with event_id and label only")
        check_label(it["label"])
    wanted = [str(it["event_id"]) for it in items]
    rows = event_rows(s, model, wanted)
    have = set(
        s.scalars(
            select(ReviewTask.event_id).where(
                ReviewTask.model_id == model.id, ReviewTask.selector == GOLD, ReviewTask.event_id.in_(wanted)
            )
        )
    )
    base, added = _next_position(s, model), 0
    for i, it in enumerate(items):
        e = str(it["event_id"])
        row = require_event(rows, e)
        if e in have:
            continue
        have.add(e)
        s.add(
            ReviewTask(
                id=_task_id(),
                model_id=model.id,
                event_id=e,
                selector=GOLD,
                position=base + i,
                needed=0,
                assigned=0,
                state=GOLD,
                prediction=prediction_of(model, row),
                gold_label={"label": it["label"]},
                created_at=utcnow(),
            )
        )
        added += 1
    append(s, model.id, actor, "review.gold", {"added": added})
    return {"added": added, "already": len(items) - added}


def check_label(label: Any) -> None:
    if (
        label is None
        or isinstance(label, dict | list)
        or (isinstance(label, float) and not math.isfinite(label))
        or (isinstance(label, str) and not 0 < len(label) <= 200)
    ):
        raise ParameterError("label", label, "a finite number, a boolean or 1 to 200 characters of text")


def _show(s: Session, model: Model, task: ReviewTask) -> dict[str, Any]:
    row = require_event(event_rows(s, model, [task.event_id]), task.event_id)
    return {"task_id": task.id, "model": model.name, "event_id": task.event_id, **view(model, row)}


def _spec(s: Session, model: Model) -> dict[str, Any]:
    row = s.get(ReviewPolicy, model.id)
    return dict(row.spec) if row is not None else {}


def _assign(s: Session, model: Model, task: ReviewTask, reviewer: str) -> dict[str, Any]:
    s.add(ReviewLabel(task_id=task.id, reviewer=reviewer, model_id=model.id, state="assigned", suspect=False))
    s.flush()
    return _show(s, model, task)


def next_task(
    s: Session, model_name: str, reviewer: str, rng: np.random.Generator | None = None
) -> dict[str, Any] | None:
    """The reviewer's next task (the one they hold, if any), or None when the queue has nothing for them."""
    model = get_model(s, model_name)
    if standing(s, model, reviewer).paused:
        raise ForbiddenError(
            f"reviewer {reviewer!r} is paused on model {model_name!r} (gold accuracy below the threshold); "
            "a maintainer resumes them"
        )
    held = s.scalar(
        select(ReviewTask)
        .join(ReviewLabel, ReviewLabel.task_id == ReviewTask.id)
        .where(
            ReviewLabel.model_id == model.id,
            ReviewLabel.reviewer == reviewer,
            ReviewLabel.state == "assigned",
        )
        .order_by(ReviewLabel.assigned_at)
        .limit(1)
    )
    if held is not None:
        return _show(s, model, held)
    seen = select(ReviewLabel.task_id).where(
        ReviewLabel.model_id == model.id, ReviewLabel.reviewer == reviewer
    )
    gold = gold_of(_spec(s, model))
    if rng is None and gold.seed is not None:
        answered = s.scalar(
            select(func.count()).where(ReviewLabel.model_id == model.id, ReviewLabel.reviewer == reviewer)
        )
        who = int.from_bytes(hashlib.sha256(reviewer.encode()).digest()[:8], "big")
        rng = np.random.default_rng([gold.seed, who, int(answered or 0)])
    rng = rng or np.random.default_rng()
    if gold.rate > 0 and rng.random() < gold.rate:
        golds = list(
            s.scalars(
                select(ReviewTask)
                .where(ReviewTask.model_id == model.id, ReviewTask.state == GOLD, ReviewTask.id.not_in(seen))
                .order_by(ReviewTask.position)
            )
        )
        if golds:
            return _assign(s, model, golds[int(rng.integers(len(golds)))], reviewer)
    for _ in range(5):
        candidates = list(
            s.scalars(
                select(ReviewTask.id)
                .where(
                    ReviewTask.model_id == model.id,
                    ReviewTask.state == "open",
                    ReviewTask.assigned < ReviewTask.needed,
                    ReviewTask.id.not_in(seen),
                )
                .order_by(ReviewTask.position)
                .limit(20)
            )
        )
        if not candidates:
            return None
        for cid in candidates:
            taken = s.execute(
                update(ReviewTask)
                .where(
                    ReviewTask.id == cid, ReviewTask.state == "open", ReviewTask.assigned < ReviewTask.needed
                )
                .values(assigned=ReviewTask.assigned + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                task = s.get(ReviewTask, cid)
                assert task is not None
                s.refresh(task)
                return _assign(s, model, task, reviewer)
    return None


def _held(s: Session, model: Model, task_id: str, reviewer: str) -> tuple[ReviewTask, ReviewLabel]:
    task = s.get(ReviewTask, task_id)
    lab = s.get(ReviewLabel, (task_id, reviewer))
    if task is None or lab is None or task.model_id != model.id:
        raise NotFoundError(f"no task {task_id!r} assigned to {reviewer!r} on model {model.name!r}")
    if lab.state != "assigned":
        raise ConflictError(f"task {task_id!r} was already {lab.state} by {reviewer!r}")
    return task, lab


def submit(
    s: Session,
    model_name: str,
    reviewer: str,
    task_id: str,
    label: Any,
    actor: str,
    comment: str | None = None,
) -> dict[str, Any]:
    """Record the reviewer's label for a task they hold. The answer is the same for every kind of task."""
    model = get_model(s, model_name)
    check_label(label)
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise ParameterError("comment", comment, "text of at most 2000 characters")
    task, lab = _held(s, model, task_id, reviewer)
    if standing(s, model, reviewer).paused:
        raise ForbiddenError(f"reviewer {reviewer!r} is paused on model {model_name!r}")
    lab.state, lab.label, lab.comment, lab.submitted_at = "submitted", {"label": label}, comment, utcnow()
    append(
        s,
        model.id,
        actor,
        "review.submit",
        {"task_id": task.id, "event_id": task.event_id, "reviewer": reviewer, "label": label},
    )
    if task.selector == GOLD:
        lab.correct = same(label, task.gold_label["label"])
        s.flush()
        check(s, model, reviewer, gold_of(_spec(s, model)), actor)
    else:
        s.flush()
        resolve(s, model, task, actor)
    return {"task_id": task.id, "status": "submitted"}


def skip(
    s: Session, model_name: str, reviewer: str, task_id: str, actor: str, reason: str | None = None
) -> dict[str, Any]:
    """Give a held task back: another reviewer gets it, this one never again."""
    model = get_model(s, model_name)
    task, lab = _held(s, model, task_id, reviewer)
    lab.state, lab.submitted_at = "skipped", utcnow()
    if task.selector != GOLD:
        task.assigned -= 1
    detail = {"task_id": task.id, "reason": reason}
    append(s, model.id, actor, "review.skip", detail)
    return {"task_id": task.id, "status": "skipped"}


def adjudicate(s: Session, model_name: str, task_id: str, label: Any, actor: str) -> dict[str, Any]:
    """Decide a tied (or suspect) task; the label is stored as Feedback with the adjudicator as source."""
    model = get_model(s, model_name)
    check_label(label)
    task = s.get(ReviewTask, task_id)
    if task is None or task.model_id != model.id or task.selector == GOLD:
        raise NotFoundError(f"no review task {task_id!r} on model {model_name!r}")
    if task.state not in ("adjudication", "suspect"):
        raise ConflictError(f"task {task_id!r} is {task.state}; only tied or suspect tasks are adjudicated")
    settle(s, model, task, label, actor, actor)
    append(
        s,
        model.id,
        actor,
        "review.adjudicate",
        {"task_id": task.id, "event_id": task.event_id, "label": label},
    )
    return task_info(s, task)


def task_info(s: Session, task: ReviewTask) -> dict[str, Any]:
    """A task as a maintainer sees it: selector, probabilities, state, and every reviewer's label."""
    labels = s.scalars(
        select(ReviewLabel).where(ReviewLabel.task_id == task.id).order_by(ReviewLabel.assigned_at)
    )
    return {
        "task_id": task.id,
        "event_id": task.event_id,
        "fill_id": task.fill_id,
        "selector": task.selector,
        "inclusion_probability": task.inclusion_probability,
        "selector_probability": task.selector_probability,
        "needed": task.needed,
        "state": task.state,
        "prediction": task.prediction,
        "gold_label": None if task.gold_label is None else task.gold_label["label"],
        "label": None if task.label is None else task.label["label"],
        "resolved_by": task.resolved_by,
        "labels": [
            {
                "reviewer": x.reviewer,
                "state": x.state,
                "label": None if x.label is None else x.label["label"],
                "suspect": bool(x.suspect),
                "correct": x.correct,
            }
            for x in labels
        ],
    }


def list_tasks(
    s: Session, model_name: str, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The model's tasks in queue order (of one state), for maintainers."""
    model = get_model(s, model_name)
    q = select(ReviewTask).where(ReviewTask.model_id == model.id)
    if state is not None:
        q = q.where(ReviewTask.state == state)
    return [
        task_info(s, t) for t in s.scalars(q.order_by(ReviewTask.position).limit(max(1, min(limit, 1000))))
    ]
