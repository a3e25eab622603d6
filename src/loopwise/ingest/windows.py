"""Windows of a model's traffic, answered by merging stored bucket profiles (never by re-scanning events)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from loopwise.errors import ParameterError
from loopwise.ingest.buckets import bucket_profiles, pack, set_anchor, unpack
from loopwise.ingest.errors import NotFoundError
from loopwise.ingest.models import fix_kinds, get_model, model_schema
from loopwise.metrics import performance as perf
from loopwise.metrics.estimation import estimate_performance
from loopwise.metrics.fairness import fairness
from loopwise.profiles import Profile
from loopwise.profiles import merge as merge_profiles
from loopwise.profiles.task import ClassificationProfile, RegressionProfile
from loopwise.report import Report, compare
from loopwise.schema import Kind, Role
from loopwise.store.tables import BucketPart, BucketProfile, Event, Feedback, Reference, Rollup
from loopwise.store.types import utcnow


def in_window(
    q: Any, table: Any, start: dt.datetime | None, end: dt.datetime | None, version: str | None
) -> Any:
    """``q`` limited to the hourly buckets starting in [start, end) and to one version (bounds optional)."""
    if start is not None:
        q = q.where(table.bucket >= start)
    if end is not None:
        q = q.where(table.bucket < end)
    if version is not None:
        q = q.where(table.version == version)
    return q


def window(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
    *,
    cache: bool = True,
) -> Profile:
    """The merged profile of the buckets that start in [start, end), pending parts included.

    Whole days inside the window come from their rollup (one merged profile per day) when it is fresh and
    the day has no pending parts; otherwise the day's buckets are merged and, with ``cache``, the rollup is
    stored (and committed: do not pass ``cache=True`` from inside a write transaction).
    """
    model = get_model(s, model_name)
    q = select(BucketProfile.version, BucketProfile.bucket, BucketProfile.n, BucketProfile.updated_at).where(
        BucketProfile.model_id == model.id, BucketProfile.n > 0
    )
    stored = {(v, b): (n, u) for v, b, n, u in s.execute(in_window(q, BucketProfile, start, end, version))}
    qp = select(BucketPart.version, BucketPart.bucket).where(BucketPart.model_id == model.id).distinct()
    with_parts = {(v, b) for v, b in s.execute(in_window(qp, BucketPart, start, end, version))}
    days: dict[tuple[str, dt.datetime], list[tuple[str, dt.datetime]]] = {}
    for v, b in set(stored) | with_parts:
        days.setdefault((v, b.replace(hour=0, minute=0, second=0, microsecond=0)), []).append((v, b))
    if not days:
        raise NotFoundError(f"model {model_name!r} has no traffic in that window")
    parts: list[Profile] = []
    wrote = False
    for (v, day), keys in sorted(days.items()):
        whole = (start is None or start <= day) and (end is None or day + dt.timedelta(days=1) <= end)
        settled = whole and not any(k in with_parts for k in keys)
        if settled:
            roll = s.get(Rollup, (model.id, v, day))
            newest = max(stored[k][1] for k in keys)
            total = sum(stored[k][0] for k in keys)
            if roll is not None and roll.built_at >= newest and roll.n == total:
                parts.append(unpack(s, roll.profile))
                continue
        merged = merge_profiles(bucket_profiles(s, model.id, keys).values())
        parts.append(merged)
        if settled and cache:
            blob = pack(s, merged)
            row = s.get(Rollup, (model.id, v, day))
            if row is None:
                s.add(Rollup(model_id=model.id, version=v, day=day, n=merged.n, profile=blob))
            else:
                row.n, row.profile, row.built_at = merged.n, blob, utcnow()
            wrote = True
    if wrote:
        try:
            s.commit()
        except DBAPIError:
            # A read-only SQLite session could not take the write lock, or PostgreSQL's snapshot saw the
            # rollup change: the rollup is a cache, so answer without storing it; a later query will.
            s.rollback()
    return merge_profiles(parts)


def put_reference(
    s: Session, model_name: str, profile: Profile, name: str = "default", meta: dict[str, Any] | None = None
) -> None:
    """Store a reference; the default one also anchors the histograms of the model's new profiles."""
    model = get_model(s, model_name)
    schema = model_schema(model)
    # A kind the model's schema left open is fixed by the reference when it comes first: its columns
    # were profiled as some kind, and the traffic must be profiled as the same to be compared with it.
    # Only columns the reference holds values of: a frame without the target is profiled with an empty
    # target column of the default kind (categorical), which would have fixed a boolean target's kind and
    # left the workspace without its label buttons; the first labels fix it instead.
    found = {
        c: profile.columns[c].kind
        for c in schema.open_kinds
        if c in profile.columns and profile.columns[c].kind is not None and _holds_values(profile.columns[c])
    }
    task = (profile.schema.task, profile.schema.positive) if profile.schema.task is not None else None
    if found or (task is not None and schema.task is None):
        fix_kinds(s, model_name, {c: Kind(k) for c, k in found.items()}, f"the reference {name!r}", task=task)
    row = s.get(Reference, (model.id, name))
    if row is None:
        s.add(Reference(model_id=model.id, name=name, profile=profile.to_bytes(), meta=meta or {}))
    else:
        row.profile, row.meta = profile.to_bytes(), meta or {}
    if name == "default" and profile.edges():
        set_anchor(s, model.id, profile.edges())


def _holds_values(column: Any) -> bool:
    return int(getattr(column, "n", 0)) > int(getattr(column, "missing", 0))


def get_reference(s: Session, model_name: str, name: str = "default") -> Profile:
    model = get_model(s, model_name)
    row = s.get(Reference, (model.id, name))
    if row is None:
        names = reference_names(s, model.id)
        known = f"its references: {', '.join(map(repr, names))}" if names else "it has none yet"
        raise NotFoundError(f"model {model_name!r} has no reference named {name!r}; {known}")
    return Profile.from_bytes(row.profile)


def stored_reference(
    s: Session, model_name: str, name: str = "default"
) -> tuple[bytes, dict[str, Any]] | None:
    """A stored reference's serialised Profile and what it was made from (``meta``: ``source`` ``window``
    with its ``start`` and ``end`` for a pinned window of logged traffic, ``upload``, ``lineage``), or
    None."""
    model = get_model(s, model_name)
    row = s.get(Reference, (model.id, name))
    return None if row is None else (bytes(row.profile), dict(row.meta or {}))


def reference_names(s: Session, model_id: int) -> list[str]:
    return list(
        s.scalars(select(Reference.name).where(Reference.model_id == model_id).order_by(Reference.name))
    )


def metrics(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
    reference: str | None = "default",
    segment: str | None = None,
) -> dict[str, Any]:
    """Drift, quality, performance (realized and estimated), fairness and operations for a window."""
    model = get_model(s, model_name)
    cur = window(s, model_name, start, end, version)
    out: dict[str, Any] = {
        "model": model_name,
        "window": {"start": _iso(start), "end": _iso(end), "version": version, "n": cur.n},
    }
    if segment is not None and "=" not in segment:
        raise ParameterError("segment", segment, "column=value, e.g. purpose=car")
    try:
        view = cur.segment(*segment.split("=", 1)) if segment else cur
    except KeyError as exc:  # an unknown segment column or value: Profile.segment's message names both
        raise NotFoundError(str(exc.args[0])) from None
    ref = None
    if reference is not None:
        # A model without any reference yet is answered without drift (and says so); a reference asked for
        # by a name that does not exist is an error naming those that do, never a silently missing section.
        if reference == "default" and not reference_names(s, model.id):
            out["drift"] = None
            out["warnings"] = ["the model has no reference yet: drift and estimation need one"]
        else:
            ref = get_reference(s, model_name, reference)
    if ref is not None:
        try:
            rview = (
                ref.segment(*segment.split("=", 1))
                if segment and segment.split("=", 1)[0] in ref.segments
                else ref
            )
        except KeyError:  # the reference has no rows of that value: compare with it whole
            rview = ref
        comparison = compare(rview, view).comparison
        out["drift"] = Report(comparison).to_dict()
        out.setdefault("warnings", []).extend(comparison.not_compared_warnings())
    task = view.task
    schema = model_schema(model)
    out["task"] = {
        "task": schema.task.value if schema.task is not None else (task.task if task is not None else None),
        "positive": schema.positive,
        "source": schema.task_source,
    }
    if isinstance(task, ClassificationProfile):
        names = [
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "log_loss",
            "brier_score",
            "expected_calibration_error",
        ]
    elif isinstance(task, RegressionProfile):
        names = ["mae", "rmse", "mape", "r2", "mean_error"]
    else:
        names = []
    out["performance"] = (
        {n: perf.compute(n, task, schema).to_dict() for n in names} if task is not None else None
    )
    if isinstance(task, RegressionProfile) and schema.task is None:
        out.setdefault("warnings", []).append(
            "monitored as regression because prediction and target are numbers; if they are classes, "
            "declare 'task: binary' or 'task: multiclass' in the model's schema"
        )
    if ref is not None and isinstance(task, ClassificationProfile) and task.est_all and ref.task is not None:
        try:
            out["estimated_performance"] = {
                k: v.to_dict() for k, v in estimate_performance(ref, view).items()
            }
        except Exception as exc:  # estimation is advisory; say why it is missing
            out["estimated_performance"] = {"error": str(exc)}
    seg_cols = [c.name for c in cur.schema.by_role(Role.SEGMENT)]
    if isinstance(cur.task, ClassificationProfile) and not segment:
        out["fairness"] = {}
        for seg in seg_cols:
            try:
                out["fairness"][seg] = fairness(cur, seg).to_dict()
            except Exception as exc:
                out["fairness"][seg] = {"error": str(exc)}
    out["operations"] = operations(s, model.id, start, end, version)
    return out


def operations(
    s: Session, model_id: int, start: dt.datetime | None, end: dt.datetime | None, version: str | None
) -> dict[str, Any]:
    q = in_window(
        select(func.count(), func.min(Event.ts), func.max(Event.ts)).where(Event.model_id == model_id),
        Event,
        start,
        end,
        version,
    )
    lat = in_window(
        select(Event.latency_ms).where(Event.model_id == model_id, Event.latency_ms.is_not(None)),
        Event,
        start,
        end,
        version,
    )
    n, first, last = s.execute(q).one()
    latencies = sorted(float(v) for (v,) in s.execute(lat.limit(1_000_000)) if v is not None)
    pct = (
        {f"p{p}": latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] for p in (50, 90, 99)}
        if latencies
        else None
    )
    feedback_n = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.model_id == model_id))
    return {
        "predictions": n,
        "first": _iso(first),
        "last": _iso(last),
        "latency_ms": pct,
        "feedback": feedback_n,
    }


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def series(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
    bucket: str = "hour",
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Per hour (or day, merging hours): volume, label coverage, a headline metric, and column means."""
    if bucket not in ("hour", "day"):
        from loopwise.errors import ParameterError

        raise ParameterError("bucket", bucket, ("hour", "day"))
    model = get_model(s, model_name)
    q = select(BucketProfile.version, BucketProfile.bucket).where(
        BucketProfile.model_id == model.id, BucketProfile.n > 0
    )
    qp = select(BucketPart.version, BucketPart.bucket).where(BucketPart.model_id == model.id).distinct()
    keys = {tuple(k) for k in s.execute(in_window(q, BucketProfile, start, end, version))}
    keys |= {tuple(k) for k in s.execute(in_window(qp, BucketPart, start, end, version))}
    groups: dict[dt.datetime, Profile] = {}
    for (_, b), p in sorted(bucket_profiles(s, model.id, keys).items(), key=lambda kv: kv[0][1]):
        key = b.replace(hour=0) if bucket == "day" else b
        groups[key] = groups[key].merge(p) if key in groups else p
    points = []
    for key, p in sorted(groups.items()):
        point: dict[str, Any] = {"bucket": key.isoformat(), "n": p.n}
        task = p.task
        if task is not None:
            point["label_coverage"] = task.label_coverage
            name = "accuracy" if isinstance(task, ClassificationProfile) else "mae"
            r = perf.compute(name, task)
            point[name] = r.value
        for col in columns or []:
            cp = p.columns.get(col)
            if cp is None:
                raise NotFoundError(f"no column {col!r} in model {model_name!r}")
            summary = cp.summary()
            point[col] = {
                "mean": summary.get("mean"),
                "missing_rate": (summary["missing"] / summary["n"]) if summary.get("n") else None,
            }
        points.append(point)
    return {"model": model_name, "bucket": bucket, "points": points}


def pinned(
    s: Session,
    model_name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    version: str | None = None,
    chunk_size: int | None = None,
) -> Profile:
    """A window to pin as a reference; with ``chunk_size``, with chunks for calibrated thresholds: its
    hourly buckets, in time order, merged until each group holds at least ``chunk_size`` rows."""
    prof = window(s, model_name, start, end, version, cache=False)
    if chunk_size is None:
        return prof
    from loopwise.errors import ParameterError
    from loopwise.profiles.chunks import MIN_CHUNKS, from_parts

    model = get_model(s, model_name)
    q = select(BucketProfile.version, BucketProfile.bucket).where(
        BucketProfile.model_id == model.id, BucketProfile.n > 0
    )
    qp = select(BucketPart.version, BucketPart.bucket).where(BucketPart.model_id == model.id).distinct()
    keys = {tuple(k) for k in s.execute(in_window(q, BucketProfile, start, end, version))}
    keys |= {tuple(k) for k in s.execute(in_window(qp, BucketPart, start, end, version))}
    hours: dict[dt.datetime, list[Profile]] = {}
    for (_, b), p in bucket_profiles(s, model.id, keys).items():
        hours.setdefault(b, []).append(p)
    parts = [merge_profiles(ps) for _, ps in sorted(hours.items(), key=lambda kv: kv[0])]
    chunks = from_parts(prof, parts, chunk_size) if chunk_size >= 1 else None
    if chunks is None:
        raise ParameterError(
            "chunk_size",
            chunk_size,
            f"small enough that the window's {len(parts)} hourly buckets ({prof.n} rows) make at least "
            f"{MIN_CHUNKS} chunks",
        )
    prof.chunks = chunks
    return prof
