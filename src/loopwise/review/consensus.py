"""Turning a task's labels into one: a single review stands, k reviews resolve by majority and a tie goes
to an adjudicator; the resolved label becomes Feedback through the ingest path (decision 0036).

Feedback ``source``: the reviewer for a task one person reviewed, ``review:consensus`` for a majority of
several, the adjudicator for an adjudicated task. ``kind``: ``label`` when it agrees with the model's
prediction, ``correction`` when it does not. Labels marked suspect count for nothing until cleared.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest import log_feedback, retract_feedback
from loopwise.profiles.canonical import canonical
from loopwise.store.tables import Model, ReviewLabel, ReviewTask
from loopwise.store.types import utcnow

CONSENSUS = "review:consensus"


def same(a: Any, b: Any) -> bool:
    """Whether two labels are the same class (1, 1.0 and "1" are; True and "true" are)."""
    return a is not None and b is not None and canonical(a) == canonical(b)


def kind_of(task: ReviewTask, label: Any) -> str:
    return "label" if task.prediction is None or same(task.prediction, label) else "correction"


def counted(s: Session, task: ReviewTask) -> list[ReviewLabel]:
    """The task's submitted labels that count: not suspect, not discarded."""
    return list(
        s.scalars(
            select(ReviewLabel).where(
                ReviewLabel.task_id == task.id,
                ReviewLabel.state == "submitted",
                ReviewLabel.suspect.is_(False),
            )
        )
    )


def settle(s: Session, model: Model, task: ReviewTask, label: Any, source: str, actor: str) -> None:
    """Resolve the task with ``label`` and store it as Feedback under ``source``."""
    task.state, task.label, task.resolved_by, task.resolved_at = (
        "resolved",
        {"label": label},
        source,
        utcnow(),
    )
    record = {"event_id": task.event_id, "kind": kind_of(task, label), "source": source, "label": label}
    log_feedback(s, model.name, [record], actor)


def resolve(s: Session, model: Model, task: ReviewTask, actor: str) -> None:
    """Resolve an open (or suspect) task once enough labels count: the majority, or a tie to adjudicate."""
    if task.state not in ("open", "suspect") or task.selector == "gold":
        return
    labels = counted(s, task)
    if len(labels) < task.needed:
        if task.state == "suspect":
            task.state = "open"
        return
    votes = Counter(canonical(lab.label["label"]) for lab in labels)
    (top, n), *rest = votes.most_common()
    if rest and rest[0][1] == n:
        task.state = "adjudication"
        return
    winner = next(lab.label["label"] for lab in labels if canonical(lab.label["label"]) == top)
    source = labels[0].reviewer if task.needed == 1 else CONSENSUS
    settle(s, model, task, winner, source, actor)


def unsettle(s: Session, model: Model, tasks: list[ReviewTask], actor: str, reason: str) -> None:
    """Take resolved tasks' labels back out of Feedback and mark the tasks suspect."""
    keys = []
    for t in tasks:
        if t.state == "resolved" and t.label is not None and t.resolved_by is not None:
            keys.append((t.event_id, t.resolved_by, kind_of(t, t.label["label"])))
        if t.state in ("resolved", "adjudication"):
            t.state, t.label, t.resolved_by, t.resolved_at = "suspect", None, None, None
    if keys:
        retract_feedback(s, model.name, keys, actor, reason)
