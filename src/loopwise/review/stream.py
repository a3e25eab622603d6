"""Selection as events arrive (decision 0042): the server fills a model's queue increment by increment.

A policy with ``stream`` (``{"every": 3600, "delay": 60}``) has its traffic cut into increments of
``every`` seconds, aligned on midnight UTC. Once an increment is ``delay`` seconds old (the events of its
time have had that long to arrive), a pass fills it: the policy runs over the increment's events, exactly
as an on-demand fill runs over its window, and the fill is stored with ``mode = "stream"``. Increments are
filled in order from ``since`` on; parts already covered by another fill are skipped (fills never overlap).
An increment without events is not stored as a fill (decision 0046: at ``every: 60`` that was 1,440 rows a
day): the policy's watermark ``stream_mark``, the end of the last increment gone through, says it ran, so
each is filled once.

**The day's budget.** With ``tasks`` (per day, for a streaming policy) the budget is paced over the day:
the increment [a, b) of the day [d0, d1) gets ``(tasks - spent) * (b - a) / (d1 - a)``, where ``spent`` is
the budget of the day's earlier streamed fills. It depends only on the clock and the earlier budgets, never
on which rows were drawn, so every row's inclusion probability is fixed before its draw and recorded
exactly (Poisson sampling within the increment, decision 0034); the day's budgets add up to ``tasks`` once
its last increment is filled (in expectation, as a fill's tasks do). An increment with fewer events than its
budget reviews them all and leaves the rest to the day's later increments. With ``share``, each increment
gets its share of its own events.

What an increment selects from is its own events: the ranking selectors (uncertainty, novelty) take the
least certain rows of the increment, not of the day. Events that arrive more than ``delay`` after their
time, once their increment is filled, are in no fill: they had no chance of review, and no estimate counts
them (``review_stats`` reports how many, as ``late``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from loopwise.errors import NotFoundError, ParameterError
from loopwise.ingest import get_model, window_table
from loopwise.review.policies import Stream, build, floor_to, no_policy, stream_of
from loopwise.review.queue import fill_window
from loopwise.review.selection import Policy
from loopwise.store import transaction
from loopwise.store.engine import exclusive
from loopwise.store.tables import Model, ReviewFill, ReviewPolicy
from loopwise.store.types import utcnow

log = logging.getLogger("loopwise.review")

#: Most increments one pass fills per model (a model far behind catches up over several passes).
MAX_INCREMENTS = 48
#: What an increment without events answers: no fill stored (decision 0046), nothing selected or spent.
NOTHING: dict[str, Any] = {"fill_id": None, "overlap_tasks": 0, "window_rows": 0, "budget": 0.0, "tasks": 0}
#: Who streamed fills are by, in the audit log.
ACTOR = "review:stream"


def next_boundary(t: dt.datetime, every: int) -> dt.datetime:
    """The end of the increment ``t`` is in."""
    return floor_to(t, every) + dt.timedelta(seconds=every)


def paced(tasks: float, spent: float, start: dt.datetime, end: dt.datetime) -> float:
    """The budget of the increment [start, end): what is left of the day's ``tasks`` in proportion to the
    increment's part of the time left in the day.

    Example:
        >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        >>> paced(240, 0, t0, t0 + dt.timedelta(hours=1))
        10.0
        >>> paced(240, 230, t0 + dt.timedelta(hours=23), t0 + dt.timedelta(days=1))
        10.0
    """
    day_end = start.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    left = max(0.0, float(tasks) - float(spent))
    return left * (end - start).total_seconds() / (day_end - start).total_seconds()


@dataclass(frozen=True)
class Increment:
    """A part of the traffic to fill: [start, end)."""

    start: dt.datetime
    end: dt.datetime


def due(
    s: Session,
    model: Model,
    stream: Stream,
    now: dt.datetime,
    limit: int = MAX_INCREMENTS,
    until: dt.datetime | None = None,
) -> list[Increment]:
    """The increments of ``model`` that are old enough and not yet filled, in order (at most ``limit``),
    ending by ``until`` when given."""
    assert stream.since is not None
    fills = s.execute(
        select(ReviewFill.start, ReviewFill.end, ReviewFill.mode).where(ReviewFill.model_id == model.id)
    ).all()
    streamed = [end for _, end, mode in fills if mode == "stream"]
    mark = s.scalar(select(ReviewPolicy.stream_mark).where(ReviewPolicy.model_id == model.id))
    c = max([stream.since, *streamed, *([mark] if mark is not None else [])])
    spans = sorted((a, b) for a, b, _ in fills if b > c)
    ready = now - dt.timedelta(seconds=stream.delay)
    if until is not None:
        ready = min(ready, until)
    out: list[Increment] = []
    while len(out) < limit:
        moved = True
        while moved:  # past the fills that cover c
            moved = False
            for a, b in spans:
                if a <= c < b:
                    c, moved = b, True
        end = next_boundary(c, stream.every)
        if end > ready:
            break
        later = [a for a, _ in spans if c < a < end]
        piece = Increment(c, min(later) if later else end)
        out.append(piece)
        c = piece.end
    return out


def fill_increment(
    s: Session, model: Model, spec: dict[str, Any], stream: Stream, inc: Increment
) -> dict[str, Any]:
    """Fill one increment with the model's policy at its paced budget (see the module docstring)."""
    built = build(s, model.name, spec)
    policy: Policy | None = built
    if built.tasks is not None:
        tasks = built.tasks
        day = inc.start.replace(hour=0, minute=0, second=0, microsecond=0)
        spent = s.scalar(
            select(func.coalesce(func.sum(ReviewFill.budget), 0.0)).where(
                ReviewFill.model_id == model.id,
                ReviewFill.mode == "stream",
                ReviewFill.start >= day,
                ReviewFill.start < inc.start,
            )
        )
        budget = paced(tasks, float(spent or 0.0), inc.start, inc.end)
        policy = dataclasses.replace(built, tasks=budget) if budget > 0 else None
    try:
        table = window_table(s, model.name, inc.start, inc.end, exact=True)
    except NotFoundError:
        table = None
    where = {"model": model.name, "start": inc.start.isoformat(), "end": inc.end.isoformat()}
    if table is None or table.num_rows == 0:
        # Nothing to select and nothing spent: no fill stored; the caller moves the watermark past it.
        return {**where, **NOTHING, "by_selector": {}}
    rng = np.random.default_rng(
        None if stream.seed is None else [stream.seed, model.id, int(inc.start.timestamp() * 1_000_000)]
    )
    out = fill_window(s, model, spec, policy, table, inc.start, inc.end, ACTOR, rng, "stream")
    return {**where, **out}


def stream_pass(sessions: sessionmaker[Session], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Fill every streaming policy's due increments (one server process at a time); the fills made.

    Each increment is its own transaction, under a lock of the model's policy row, and fills never overlap
    (the stored windows are checked again inside it), so a pass that another process or an on-demand fill
    overlaps cannot fill a window twice. A model whose increment fails is logged and left for the next pass.
    """
    now = now or utcnow()
    done: list[dict[str, Any]] = []
    with exclusive(sessions, "review-stream") as mine:
        if not mine:
            return done
        with sessions() as s:
            streaming = [
                (mid, name)
                for mid, name, spec in s.execute(
                    select(ReviewPolicy.model_id, Model.name, ReviewPolicy.spec).join(
                        Model, Model.id == ReviewPolicy.model_id
                    )
                )
                if isinstance(spec, dict) and spec.get("stream") is not None
            ]
        for mid, name in streaming:
            try:
                done += _catch_up(sessions, mid, now)
            except Exception:
                log.exception("streaming review fill of model %r failed; the next pass tries again", name)
    return done


def stream_model(
    sessions: sessionmaker[Session],
    model_name: str,
    *,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
    limit: int = MAX_INCREMENTS,
) -> list[dict[str, Any]]:
    """Fill one model's due increments now (what the server's thread does every few seconds; for cron, a
    local database or a test): those ending by ``until`` when given, at most ``limit``."""
    with sessions() as s:
        model_id = get_model(s, model_name).id
        row = s.get(ReviewPolicy, model_id)
        if row is None:  # a ParameterError as for a policy without stream: what is missing is the same
            raise ParameterError("policy", None, f"a review policy with stream; {no_policy(model_name)}")
        if stream_of(dict(row.spec)) is None:
            raise ParameterError(
                "policy.stream",
                None,
                "set ({every, delay}) to fill as events arrive (a policy without it is filled a window at "
                "a time: review fill)",
            )
    return _catch_up(sessions, model_id, now or utcnow(), until, limit)


def _catch_up(
    sessions: sessionmaker[Session],
    model_id: int,
    now: dt.datetime,
    until: dt.datetime | None = None,
    limit: int = MAX_INCREMENTS,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(limit):
        with transaction(sessions) as s:
            row = s.get(ReviewPolicy, model_id, with_for_update=True)
            model = s.get(Model, model_id)
            if row is None or model is None:
                return out
            spec = dict(row.spec)
            stream = stream_of(spec)
            if stream is None or stream.since is None:
                return out
            todo = due(s, model, stream, now, limit=1, until=until)
            if not todo:
                return out
            out.append(fill_increment(s, model, spec, stream, todo[0]))
            row.stream_mark = todo[0].end
    return out


__all__ = [
    "ACTOR",
    "Increment",
    "due",
    "fill_increment",
    "next_boundary",
    "paced",
    "stream_model",
    "stream_pass",
]
