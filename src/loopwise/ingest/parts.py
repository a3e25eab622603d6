"""A batch's contribution to its buckets: the profile (or, for a few rows, the rows) of each (version, hour).

Decisions 0004 and 0007: a batch appends a part to each (version, hour) bucket its rows fall in, profiled on
the model's anchor edges; a model's first batch anchors on its own edges (``own_edges``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from loopwise.profiles import Profile
from loopwise.profiles.grouped import profile_groups
from loopwise.profiles.histogram import DEFAULT_BINS, fingerprint, quantile_edges
from loopwise.profiles.numeric import as_float_array
from loopwise.profiles.profile import empty_task, update_task
from loopwise.schema import Kind, Role, Schema
from loopwise.store.bulk import bucket_hours

#: What a batch contributes to a bucket: its profile, or (few rows) the rows to profile later.
Part: TypeAlias = Profile | pa.Table


def fingerprints_of(edges: dict[str, np.ndarray]) -> dict[str, str]:
    """Each column's edges named by fingerprint (equal names, equal edges)."""
    return {c: fingerprint(e) for c, e in edges.items()}


def own_edges(schema: Schema, table: pa.Table, bins: int = DEFAULT_BINS) -> dict[str, np.ndarray]:
    """Histogram edges from the batch itself (quantiles of each numeric column), for a model's first batch."""
    out: dict[str, np.ndarray] = {}
    for c in schema:
        if c.kind is Kind.NUMERIC and c.role is not Role.ID and c.name in table.column_names:
            values, _ = as_float_array(table.column(c.name))
            finite = np.sort(values[np.isfinite(values)])
            if finite.size:
                out[c.name] = quantile_edges(finite, bins)
    return out


def profile_parts(
    schema: Schema,
    table: pa.Table,
    ids: list[str],
    ts: np.ndarray,
    versions: list[str],
    edges: dict[str, np.ndarray],
    labels: dict[str, Any],
    *,
    rows: bool = False,
) -> dict[tuple[str, dt.datetime], Part]:
    """A profile of the batch's rows in each (version, hour) bucket, anchored on ``edges``; with ``rows``,
    the rows to profile instead (the columns a profile reads).

    The rows carry the labels already known for them (feedback may come first).
    """
    groups = _groups(versions, bucket_hours(ts))
    target = schema.by_role(Role.TARGET)
    segments = [c.name for c in schema.by_role(Role.SEGMENT)]
    keep = [c for c in table.column_names if c in schema.names]
    out: dict[tuple[str, dt.datetime], Part] = {}
    if not rows:
        profiles = _profile_buckets(schema, table.select(keep), ids, groups, edges, labels)
        if profiles is not None:
            for (version, bucket), profile in zip(groups, profiles, strict=True):
                out[(version, bucket.astype(dt.datetime).replace(tzinfo=dt.UTC))] = profile
            return out
    for (version, bucket), members in groups.items():
        part = table if len(members) == table.num_rows else table.take(pa.array(members))
        part = part.select(keep)
        if target:
            part = part.append_column(
                target[0].name, pa.array([labels.get(ids[i]) for i in members], from_pandas=True)
            )
        key = (version, bucket.astype(dt.datetime).replace(tzinfo=dt.UTC))
        if rows:
            task = empty_task(schema)
            if task is not None:
                # The checks a profile makes of predictions and scores, now rather than when the rows are
                # profiled: bad rows must be refused, not stored where they would break their bucket.
                update_task(task, schema, part)
            out[key] = part
        else:
            profile = Profile.empty(schema, anchors=edges, segments=segments)
            profile.update(part)
            out[key] = profile
    return out


def _groups(versions: list[str], buckets: np.ndarray) -> dict[tuple[str, np.datetime64], np.ndarray]:
    """The positions of each (version, hour)'s rows, in order of first appearance (a stable sort, not a
    Python loop over rows: a year's batch has a bucket per 114 rows)."""
    names = sorted(set(versions))
    if not buckets.size:
        return {}
    if len(names) == 1 and (buckets == buckets[0]).all():
        return {(names[0], buckets[0]): np.arange(buckets.size)}
    codes = np.zeros(buckets.size, dtype=np.int64)
    if len(names) > 1:
        index = {v: i for i, v in enumerate(names)}
        codes = np.fromiter((index[v] for v in versions), dtype=np.int64, count=len(versions))
    keys = np.stack([codes, buckets.view(np.int64)])
    _, first, inverse = np.unique(keys, axis=1, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse))[:-1]
    members = np.split(order, bounds)
    out: dict[tuple[str, np.datetime64], np.ndarray] = {}
    for g in np.argsort(first, kind="stable"):
        pos = int(first[g])
        out[(versions[pos], buckets[pos])] = members[g]
    return out


def _profile_buckets(
    schema: Schema,
    table: pa.Table,
    ids: list[str],
    groups: dict[tuple[str, np.datetime64], np.ndarray],
    edges: dict[str, np.ndarray],
    labels: dict[str, Any],
) -> list[Profile] | None:
    """The profile of each group's rows, all built at once (``profiles.grouped``: a batch spread over a year
    touches a bucket per hour, and profiling each alone cost ~0.3 ms per column and segment); None when the
    known labels do not make one column (types mixed across buckets): then bucket by bucket, as before."""
    target = schema.by_role(Role.TARGET)
    if target:
        try:
            known = pa.array([labels.get(e) for e in ids], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        table = table.append_column(target[0].name, known)
    codes = np.empty(len(ids), dtype=np.int64)
    for g, members in enumerate(groups.values()):
        codes[members] = g
    segments = [c.name for c in schema.by_role(Role.SEGMENT)]
    return profile_groups(schema, table, codes, len(groups), anchors=edges, segments=segments)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """The rows of ``tables`` in one table, unifying column types only if they differ."""
    first = tables[0].schema
    if all(t.schema == first for t in tables):
        return pa.concat_tables(tables)  # zero-copy; unifying types costs ten times as much
    return pa.concat_tables(tables, promote_options="permissive")
