"""A model's stored review policy: the spec as given (JSON), checked by building the Policy it describes.

A spec::

    {"tasks": 300,                      # or "share": 0.01 of the window's events
     "selectors": [{"kind": "uncertainty", "share": 0.5},          # scores: the schema's score columns
                   {"kind": "novelty", "share": 0.2, "reference": "default"},
                   {"kind": "segment", "share": 0.1, "column": "race", "floor": 20},
                   {"kind": "random", "share": 0.2}],
     "overlap": {"share": 0.2, "k": 2},  # a fifth of the tasks go to two reviewers each
     "gold": {"rate": 0.05, "threshold": 0.8, "confidence": 0.95},
     "stream": {"every": 3600, "delay": 60}}  # fill as events arrive: "tasks" is then per day (UTC)

``novelty`` names a stored reference (the Profile itself is read when a window is filled). ``stream``
(decision 0042): the server fills each increment of ``every`` seconds once it is ``delay`` seconds old,
from ``since`` on (stamped when the policy is set; ``loopwise.review.stream``).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError, ParameterError
from loopwise.ingest import get_model, get_reference, model_schema
from loopwise.review.selection import MIN_RANDOM_SHARE, Policy
from loopwise.review.selectors import SELECTORS, make
from loopwise.schema import Role
from loopwise.store.tables import ReviewPolicy
from loopwise.store.types import utcnow

KEYS = {"tasks", "share", "selectors", "allow_no_random", "min_random_share", "overlap", "gold", "stream"}
#: Seconds in a day: a stream's increments divide it, so none crosses midnight (UTC).
DAY = 86_400


@dataclass(frozen=True)
class Overlap:
    """``share`` of the tasks go to ``k`` reviewers each (blind); the rest to one."""

    share: float = 0.0
    k: int = 2


@dataclass(frozen=True)
class Gold:
    """Gold tasks are handed out at ``rate``; a reviewer whose gold accuracy's Wilson interval (at
    ``confidence``) lies wholly below ``threshold`` is paused."""

    rate: float = 0.0
    threshold: float = 0.8
    confidence: float = 0.95
    #: Makes the gold draws reproducible (tests, demos); unset, they come from the OS's entropy, so that
    #: nobody can tell in advance which of their tasks will be gold.
    seed: int | None = None


@dataclass(frozen=True)
class Stream:
    """Selection as events arrive (decision 0042): each increment of ``every`` seconds (a divisor of a day,
    aligned on midnight UTC) is filled once it is ``delay`` seconds old, from ``since`` on; with ``tasks``
    the budget is per day, paced over the day's increments. ``seed`` makes the draws reproducible (tests);
    unset, they come from the OS."""

    every: int = 3600
    delay: int = 60
    since: dt.datetime | None = None
    seed: int | None = None


def _integer(name: str, value: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ParameterError(name, value, what)
    return value


def stream_of(spec: dict[str, Any]) -> Stream | None:
    """The policy's ``stream`` part, checked (None: the policy is filled on demand only)."""
    if "stream" not in spec or spec["stream"] is None:
        return None
    st = spec["stream"]
    if not isinstance(st, dict) or set(st) - {"every", "delay", "since", "seed"}:
        raise ParameterError("stream", st, "an object with every, delay (seconds), since and seed")
    every = _integer("stream.every", st.get("every", 3600), 1, DAY, "seconds from 1 to 86400 dividing a day")
    if DAY % every:
        raise ParameterError("stream.every", every, "seconds dividing a day (60, 300, 900, 3600, ...)")
    delay = _integer("stream.delay", st.get("delay", 60), 0, DAY, "seconds from 0 to 86400")
    seed = st.get("seed")
    if seed is not None:
        _integer("stream.seed", seed, 0, 2**63 - 1, "a non-negative integer, or none")
    since = st.get("since")
    when = None
    if since is not None:
        try:
            when = dt.datetime.fromisoformat(str(since).replace("Z", "+00:00"))
        except ValueError:
            raise ParameterError("stream.since", since, "an ISO 8601 time") from None
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return Stream(every, delay, when, seed)


def floor_to(t: dt.datetime, every: int) -> dt.datetime:
    """``t`` down to its increment's start (increments of ``every`` seconds from midnight UTC)."""
    t = t.astimezone(dt.UTC)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    k = int((t - midnight).total_seconds() // every)
    return midnight + dt.timedelta(seconds=k * every)


def _number(name: str, value: Any, lo: float, hi: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ParameterError(name, value, what)
    return float(value)


def overlap_of(spec: dict[str, Any]) -> Overlap:
    o = spec.get("overlap") or {}
    if not isinstance(o, dict) or set(o) - {"share", "k"}:
        raise ParameterError("overlap", o, "an object with share (0 to 1) and k (2 to 10)")
    k = o.get("k", 2)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 10:
        raise ParameterError("overlap.k", k, "an integer from 2 to 10: reviewers per overlap task")
    return Overlap(_number("overlap.share", o.get("share", 0.0), 0, 1, "a share of tasks in [0, 1]"), k)


def gold_of(spec: dict[str, Any]) -> Gold:
    g = spec.get("gold") or {}
    if not isinstance(g, dict) or set(g) - {"rate", "threshold", "confidence", "seed"}:
        raise ParameterError("gold", g, "an object with rate, threshold, confidence (and seed)")
    seed = g.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ParameterError("gold.seed", seed, "a non-negative integer, or none")
    return Gold(
        _number("gold.rate", g.get("rate", 0.0), 0, 1, "a share of handed-out tasks in [0, 1]"),
        _number("gold.threshold", g.get("threshold", 0.8), 0, 1, "an accuracy in [0, 1]"),
        _number("gold.confidence", g.get("confidence", 0.95), 0.5, 0.999, "a confidence in [0.5, 0.999]"),
        seed,
    )


def build(s: Session, model_name: str, spec: dict[str, Any]) -> Policy:
    """The Policy a spec describes for the model (uncertainty defaults to the schema's score columns)."""
    if not isinstance(spec, dict):
        raise ParameterError("policy", type(spec).__name__, "an object")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise ParameterError("policy", unknown, f"known keys only: {', '.join(sorted(KEYS))}")
    schema = model_schema(get_model(s, model_name))
    raw = spec.get("selectors")
    if not isinstance(raw, list) or not raw:
        raise ParameterError(
            "selectors",
            raw,
            f"a list of selectors, each with a kind ({', '.join(sorted(SELECTORS))}) and share",
        )
    selectors = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "kind" not in item or "share" not in item:
            raise ParameterError(f"selectors[{i}]", item, "an object with kind and share")
        params = {k: v for k, v in item.items() if k not in ("kind", "share")}
        if item["kind"] == "uncertainty" and "scores" not in params and "lower" not in params:
            params["scores"] = [c.name for c in schema.by_role(Role.SCORE)]
        if item["kind"] == "novelty":
            name = params.get("reference", "default")
            if not isinstance(name, str):
                raise ParameterError(f"selectors[{i}].reference", name, "the name of a stored reference")
            params["reference"] = get_reference(s, model_name, name)
        try:
            selectors.append(make(str(item["kind"]), item["share"], **params))
        except TypeError as e:
            raise ParameterError(
                f"selectors[{i}]", sorted(params), f"the parameters of {item['kind']}: {e}"
            ) from None
    policy = Policy(
        selectors,
        tasks=spec.get("tasks"),
        share=spec.get("share"),
        allow_no_random=bool(spec.get("allow_no_random", False)),
        min_random_share=spec.get("min_random_share", MIN_RANDOM_SHARE),
    )
    overlap_of(spec)
    gold_of(spec)
    stream_of(spec)
    return policy


def set_policy(s: Session, model_name: str, spec: dict[str, Any], actor: str) -> dict[str, Any]:
    """Check and store the model's review policy; returns the spec stored."""
    build(s, model_name, spec)
    model = get_model(s, model_name)
    row = s.get(ReviewPolicy, model.id, with_for_update=True)
    stored = copy.deepcopy(spec)
    stream = stream_of(stored)
    if stream is not None and stream.since is None:
        # Streaming starts now (at this increment's start), or goes on from where it started.
        before = stream_of(dict(row.spec)) if row is not None else None
        since = before.since if before is not None and before.since is not None else None
        stored["stream"]["since"] = (since or floor_to(utcnow(), stream.every)).isoformat()
    if row is None:
        s.add(ReviewPolicy(model_id=model.id, spec=stored, updated_by=actor, updated_at=utcnow()))
    else:
        row.spec, row.updated_by, row.updated_at = stored, actor, utcnow()
    return stored


def no_policy(model_name: str) -> str:
    """What a model without a review policy answers, with the ways to set one."""
    return (
        f"model {model_name!r} has no review policy yet: set one with `loopwise review policy {model_name} "
        "--set FILE`, set_review_policy() or PUT .../review/policy"
    )


def get_policy(s: Session, model_name: str) -> dict[str, Any]:
    """The model's stored review policy spec."""
    model = get_model(s, model_name)
    row = s.get(ReviewPolicy, model.id)
    if row is None:
        raise NotFoundError(no_policy(model_name))
    return dict(row.spec)
