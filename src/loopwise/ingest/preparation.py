"""Preparation: a batch validated and profiled outside the write transaction, alone or with other small ones.

Reads only (the model, its anchor, labels already given), so the server runs it in parallel, before the
write lock; ``writes.write_group`` then stores what it made in a short transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from loopwise.errors import LoopwiseError
from loopwise.ingest.buckets import ANCHOR_SECONDS, ROW_PARTS_BELOW, get_anchor
from loopwise.ingest.collector import gc_paused
from loopwise.ingest.labels import labels_for
from loopwise.ingest.models import ensure_kinds, registered
from loopwise.ingest.parts import Part, own_edges, profile_parts
from loopwise.ingest.validation import check_batch, versions_of
from loopwise.schema import Role, Schema


@dataclass
class Prepared:
    """A validated batch, profiled per (version, hour) bucket, ready for one short write transaction."""

    model_id: int
    schema: Schema
    table: pa.Table
    ids: list[str]
    ts: np.ndarray
    versions: list[str]
    anchor_serial: int | None  # the model anchor the parts were profiled on; None: on the batch's own edges
    edges: dict[str, np.ndarray]
    parts: dict[tuple[str, dt.datetime], Part] | None  # None: too small, profiled with its group
    shared: GroupProfile | None = None  # the parts of a group of small batches validated together


@dataclass(eq=False)
class GroupProfile:
    """The profile of several small batches' rows together; used only if every one of them is stored whole."""

    size: int
    parts: dict[tuple[str, dt.datetime], Part]


@gc_paused
def prepare_predictions(
    s: Session,
    model_name: str,
    table: pa.Table,
    *,
    version: str | None = None,
    max_rows: int = 100_000,
    profile: bool = True,
) -> Prepared:
    """Validate and profile a batch; reads only, so the server does it outside the write transaction.

    ``profile=False`` (or a batch under ``ROW_PARTS_BELOW`` rows) leaves the profiling to ``write_group``.
    """
    model_id, schema = registered(s, model_name)
    # A kind the schema left open is fixed by the first batch that holds the column, before validation,
    # so that batch and every later one are profiled (and validated) as that kind.
    schema = ensure_kinds(s, model_name, schema, table, "the first predictions batch holding the column")
    table, ids, ts = check_batch(schema, table, max_rows)
    versions = versions_of(table, version)
    anchor = get_anchor(s, model_id, max_age=ANCHOR_SECONDS)
    edges = anchor.edges if anchor is not None else own_edges(schema, table)
    parts = None
    if profile and len(ids) >= ROW_PARTS_BELOW:
        labels = labels_for(s, model_id, ids) if schema.by_role(Role.TARGET) else {}
        parts = profile_parts(schema, table, ids, ts, versions, edges, labels)
    return Prepared(
        model_id, schema, table, ids, ts, versions, anchor.serial if anchor else None, edges, parts
    )


@dataclass
class UnvalidatedBatch:
    """A small batch not validated yet: ``prepare_group`` validates it together with others."""

    model_name: str
    table: pa.Table
    version: str | None = None
    max_rows: int = 100_000


def prepare_group(
    s: Session, raws: list[UnvalidatedBatch], *, profile: bool = False
) -> list[Prepared | LoopwiseError]:
    """Prepare small batches together; each gets exactly the answer it would get alone.

    Batches of one model and version with the same Arrow schema are validated as one (a single-event request
    alone costs a millisecond of per-column overhead; thirty together cost about the same). Only a
    combined batch without any issue is split back; on any issue (including an event id repeated across
    the batches, which is a duplicate to skip, not an error) each batch is validated alone, so its errors
    name its own rows. ``profile``: profile them too (together), for ``write_group`` to use if nothing
    changed in between.
    """
    out: list[Prepared | LoopwiseError | None] = [None] * len(raws)
    # Keyed by the Arrow schema (names, order and types): batches that agree concatenate without copying or
    # unifying types; one that differs (say, an int where the rest sent floats) is simply validated apart.
    groups: dict[tuple[str, str | None, pa.Schema], list[int]] = defaultdict(list)
    for i, r in enumerate(raws):
        groups[(r.model_name, r.version, r.table.schema)].append(i)
    for (name, version, _), idx in groups.items():
        together = len(idx) > 1 and all(0 < raws[i].table.num_rows <= raws[i].max_rows for i in idx)
        if together:
            try:
                combined = pa.concat_tables([raws[i].table for i in idx])
                prep = prepare_predictions(
                    s,
                    name,
                    combined,
                    version=version,
                    max_rows=combined.num_rows,
                    profile=False,
                )
                # Profiling checks what validation cannot see by column (scores in [0, 1], class scores
                # summing to one): an error here is one batch's too, so each is then tried alone.
                shared = GroupProfile(len(idx), _bucket_parts(s, prep)) if profile else None
            except LoopwiseError:
                pass  # each alone, below
            else:
                start = 0
                for i in idx:
                    n = raws[i].table.num_rows
                    out[i] = Prepared(
                        prep.model_id,
                        prep.schema,
                        prep.table.slice(start, n),
                        prep.ids[start : start + n],
                        prep.ts[start : start + n],
                        prep.versions[start : start + n],
                        prep.anchor_serial,
                        prep.edges,
                        None,
                        shared,
                    )
                    start += n
                continue
        for i in idx:
            try:
                alone = prepare_predictions(
                    s,
                    name,
                    raws[i].table,
                    version=version,
                    max_rows=raws[i].max_rows,
                    profile=False,
                )
                if profile:
                    alone.parts = _bucket_parts(s, alone)
            except LoopwiseError as exc:
                out[i] = exc
            else:
                out[i] = alone
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def _bucket_parts(s: Session, prep: Prepared) -> dict[tuple[str, dt.datetime], Part]:
    labels = labels_for(s, prep.model_id, prep.ids) if prep.schema.by_role(Role.TARGET) else {}
    return profile_parts(
        prep.schema,
        prep.table,
        prep.ids,
        prep.ts,
        prep.versions,
        prep.edges,
        labels,
        rows=prep.table.num_rows < ROW_PARTS_BELOW,
    )
