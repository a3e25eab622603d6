"""Gold tasks and reviewer quality: each reviewer's accuracy on gold with a Wilson interval; a reviewer
whose interval lies wholly below the threshold is paused, and their labels since their last passing check
turn suspect (kept, left out of consensus, Feedback and estimates until an adjudicator clears them).

Pausing on the interval's upper bound, not on the point estimate, keeps one unlucky answer among many
good ones from pausing anybody, while a reviewer who misses every gold task is paused at once: with the
default threshold of 0.8 at 95%, one wrong answer of one pauses (upper bound 0.79), one of five does not.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise._lazy import lazy
from loopwise.errors import NotFoundError
from loopwise.review.consensus import resolve, unsettle
from loopwise.review.policies import Gold
from loopwise.store.audit import append
from loopwise.store.tables import Model, ReviewerState, ReviewLabel, ReviewTask
from loopwise.store.types import utcnow

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = lazy("scipy.stats")


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (statsmodels' ``proportion_confint(method="wilson")``).

    Example:
        >>> [round(x, 4) for x in wilson(0, 1)]
        [0.0, 0.7935]
    """
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class GoldScore:
    """A reviewer's gold answers counted since their last resume, and whether they are paused."""

    reviewer: str
    n: int
    correct: int
    ci_low: float
    ci_high: float
    paused: bool

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "paused": self.paused,
        }


def standing(s: Session, model: Model, reviewer: str) -> ReviewerState:
    row = s.get(ReviewerState, (model.id, reviewer))
    if row is None:
        row = ReviewerState(model_id=model.id, reviewer=reviewer, paused=False)
        s.add(row)
        s.flush()
    return row


def _answers(s: Session, model: Model, reviewer: str, since: dt.datetime | None) -> list[bool]:
    q = select(ReviewLabel.correct).where(
        ReviewLabel.model_id == model.id,
        ReviewLabel.reviewer == reviewer,
        ReviewLabel.state == "submitted",
        ReviewLabel.correct.is_not(None),
    )
    if since is not None:
        q = q.where(ReviewLabel.submitted_at >= since)
    return [bool(c) for c in s.scalars(q)]


def score(s: Session, model: Model, reviewer: str, gold: Gold) -> GoldScore:
    row = s.get(ReviewerState, (model.id, reviewer))
    answers = _answers(s, model, reviewer, row.counted_from if row else None)
    lo, hi = wilson(sum(answers), len(answers), gold.confidence)
    return GoldScore(reviewer, len(answers), sum(answers), lo, hi, bool(row and row.paused))


def check(s: Session, model: Model, reviewer: str, gold: Gold, actor: str) -> GoldScore:
    """After a gold answer: pause the reviewer (and mark their recent labels suspect) when failing, else
    record a passing check."""
    st = standing(s, model, reviewer)
    now = utcnow()
    result = score(s, model, reviewer, gold)
    if result.n and result.ci_high < gold.threshold:
        st.paused, st.paused_at = True, now
        suspect = _mark_suspect(s, model, reviewer, st.passed_at or st.counted_from)
        append(
            s,
            model.id,
            actor,
            "review.pause",
            {**result.to_dict(), "threshold": gold.threshold, "suspect_labels": suspect},
        )
        return score(s, model, reviewer, gold)
    st.passed_at = now
    return result


def _mark_suspect(s: Session, model: Model, reviewer: str, since: dt.datetime | None) -> int:
    q = (
        select(ReviewLabel)
        .join(ReviewTask, ReviewTask.id == ReviewLabel.task_id)
        .where(
            ReviewLabel.model_id == model.id,
            ReviewLabel.reviewer == reviewer,
            ReviewLabel.state == "submitted",
            ReviewTask.selector != "gold",
        )
    )
    if since is not None:
        q = q.where(ReviewLabel.submitted_at > since)
    labels = list(s.scalars(q))
    for lab in labels:
        lab.suspect = True
    tasks = list(s.scalars(select(ReviewTask).where(ReviewTask.id.in_([lab.task_id for lab in labels]))))
    unsettle(s, model, tasks, f"reviewer:{reviewer}", f"{reviewer} paused: gold accuracy below threshold")
    return len(labels)


def resume(s: Session, model: Model, reviewer: str, clear: bool, actor: str) -> dict[str, Any]:
    """Let a paused reviewer work again. ``clear``: their suspect labels count again (their tasks resolve);
    otherwise they are discarded and their tasks go back to the queue for others. Gold answers before now
    no longer count."""
    st = s.get(ReviewerState, (model.id, reviewer))
    if st is None:
        raise NotFoundError(f"no reviewer {reviewer!r} has worked on model {model.name!r}")
    labels = list(
        s.scalars(
            select(ReviewLabel).where(
                ReviewLabel.model_id == model.id,
                ReviewLabel.reviewer == reviewer,
                ReviewLabel.suspect.is_(True),
                ReviewLabel.state == "submitted",
            )
        )
    )
    tasks = {
        t.id: t for t in s.scalars(select(ReviewTask).where(ReviewTask.id.in_([x.task_id for x in labels])))
    }
    for lab in labels:
        lab.suspect = False
        if not clear:
            lab.state = "discarded"
            tasks[lab.task_id].assigned -= 1
    s.flush()
    for t in tasks.values():
        resolve(s, model, t, actor)
    now = utcnow()
    st.paused, st.paused_at, st.passed_at, st.counted_from = False, None, now, now
    detail = {"reviewer": reviewer, "labels": len(labels), "cleared": clear}
    append(s, model.id, actor, "review.resume", detail)
    return detail
