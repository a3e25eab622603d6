"""Write groups: prepared batches stored in the caller's transaction, each model's group as one blob.

Decisions 0003 and 0004 (docs/decisions/): each group is stored as one zstd-compressed Arrow IPC blob, each
event as a narrow index row (id, version, time, bucket, batch and row, latency), and the profile of the
group's rows in each (version, hour) bucket as a part of that bucket, all in one transaction. Event ids
stored before are skipped (found optimistically, by the unique key, or looked up); idempotency keys seen
before answer with the stored result (``idempotency``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopwise.errors import LoopwiseError
from loopwise.ingest.buckets import ANCHOR_SECONDS, ROW_PARTS_BELOW, claim_anchor, get_anchor
from loopwise.ingest.collector import gc_paused
from loopwise.ingest.idempotency import known_keys, remember, replay
from loopwise.ingest.labels import labels_for
from loopwise.ingest.parts import Part, concat_tables, fingerprints_of, profile_parts
from loopwise.ingest.preparation import GroupProfile, Prepared, UnvalidatedBatch, prepare_predictions
from loopwise.ingest.staging import Write, pack_fits, pack_group, prepare_writes, store_packed
from loopwise.schema import Role
from loopwise.store.bulk import existing_event_ids


def write_predictions(
    s: Session,
    prep: Prepared,
    *,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
) -> dict[str, Any]:
    """Store one prepared batch (see ``write_group``); raises the batch's own error, if any."""
    (out,) = write_group(s, [Write(prep, idempotency_key, body_hash)])
    if isinstance(out, Exception):
        raise out
    return out


#: How ``write_group`` finds event ids stored before: "savepoint" (store optimistically in a savepoint and,
#: if the unique key says some existed, look them up and store again), "raise" (optimistically, without a
#: savepoint: the unique key's IntegrityError reaches the caller, whose transaction is then lost and who
#: runs the group again with "lookup"), "lookup" (look them up first).
Duplicates: TypeAlias = Literal["savepoint", "raise", "lookup"]


@gc_paused
def write_group(
    s: Session,
    writes: list[Write | LoopwiseError],
    *,
    duplicates: Duplicates = "savepoint",
) -> list[dict[str, Any] | Exception]:
    """Store prepared batches in the caller's transaction: one answer (or error) per batch, in order.

    Batches of one model share one stored blob, one insert of index rows, and one part per bucket (the
    group commit of the server's writer: many small requests cost about one). Event ids already stored,
    or earlier in the group, are skipped; a batch whose rows or anchor changed since it was prepared (or
    that was too small to profile then) is profiled here. An idempotency key seen before answers with the
    stored result (or an error if the body differs) and stores nothing.

    The model's anchor is the one the write path read within ``ANCHOR_SECONDS`` (usually while preparing):
    a new anchor committed meanwhile only means parts on the older edges, which every part names.
    """
    out: list[dict[str, Any] | Exception | None] = [None] * len(writes)
    if any(isinstance(w, Write) and isinstance(w.prep, UnvalidatedBatch) for w in writes):
        writes = prepare_writes(s, writes)
    by_model: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(writes):
        if isinstance(w, Write):
            by_model[w.prepared().model_id].append(i)
        else:
            out[i] = w
    for model_id, idx in by_model.items():
        group = {i: w for i in idx if isinstance(w := writes[i], Write)}
        _write_model(s, model_id, group, out, duplicates)
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def _write_model(
    s: Session,
    model_id: int,
    writes: dict[int, Write],
    out: list[dict[str, Any] | Exception | None],
    duplicates: Duplicates = "savepoint",
) -> None:
    idx = list(writes)
    live: list[int] = []
    first_of_key: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    keys = {w.idempotency_key for w in writes.values() if w.idempotency_key is not None}
    known = known_keys(s, model_id, keys)  # one query for the group's keys (the SDK sends one each)
    for i in idx:
        w = writes[i]
        key = w.idempotency_key
        if key is not None:
            seen = known.get(key)
            if seen is not None:
                out[i] = replay(key, w.body_hash, seen.body_hash, dict(seen.response))
                continue
            if key in first_of_key:  # the same key twice in one group: the second is a retry of the first
                repeats.append((i, first_of_key[key]))
                continue
            first_of_key[key] = i
        live.append(i)
    alone: set[int] = set()
    # Optimistic unless told to look up: event ids are new unless proven otherwise. The unique key proves it
    # (a retry, or another process racing), and then the group is stored again knowing which ids exist.
    # Looking them up first cost 4 ms per 1,000 events on PostgreSQL, for a case that is rare.
    if live and duplicates == "raise":
        alone = _store_live(s, model_id, writes, live, out, set(), duplicates)
    elif live and duplicates == "savepoint":
        try:
            with s.begin_nested():
                alone = _store_live(s, model_id, writes, live, out, set(), duplicates)
        except IntegrityError:
            for i in live:
                out[i] = None
            duplicates = "lookup"
    if live and duplicates == "lookup":
        existing = existing_event_ids(s, model_id, [e for i in live for e in writes[i].prepared().ids])
        alone = _store_live(s, model_id, writes, live, out, existing, duplicates)
    remember(
        s,
        model_id,
        (
            (w.idempotency_key, w.body_hash, result)
            for i in live
            if i not in alone  # stored by itself, key and all
            and (w := writes[i]).idempotency_key is not None
            and isinstance(result := out[i], dict)
        ),
    )
    for i, j in repeats:
        first = out[j]
        assert first is not None
        out[i] = replay(writes[i].idempotency_key, writes[i].body_hash, writes[j].body_hash, first)


def _store_live(
    s: Session,
    model_id: int,
    writes: dict[int, Write],
    live: list[int],
    out: list[dict[str, Any] | Exception | None],
    existing: set[str],
    duplicates: Duplicates = "savepoint",
) -> set[int]:
    """Store the group's new rows (those whose ids are not in ``existing``) and answer each batch.

    Returns the batches stored one by one instead (their columns did not unify with the others').
    """
    schema = writes[live[0]].prepared().schema
    staged = next((writes[i].staged for i in live if writes[i].staged is not None), None)
    alone: set[int] = set()
    masks: dict[int, np.ndarray] = {}
    for i in live:
        batch_ids = writes[i].prepared().ids
        masks[i] = np.fromiter((e not in existing for e in batch_ids), dtype=bool, count=len(batch_ids))
        existing.update(batch_ids)  # a later batch of the group repeating these ids is a duplicate
    # As read while preparing, usually: no query (its edges come from the process cache either way).
    current = get_anchor(s, model_id, max_age=ANCHOR_SECONDS)
    anchor = current if current is not None else claim_anchor(s, model_id, writes[live[0]].prepared().edges)
    fps: dict[str, str] | None = None  # the anchor's fingerprints, for batches prepared without one
    kept = [i for i in live if masks[i].any()]
    tables: list[pa.Table] = []
    ids: list[list[str]] = []
    ts: list[np.ndarray] = []
    versions: list[list[str]] = []
    ready: dict[tuple[str, dt.datetime], list[Part]] = defaultdict(list)
    redo: list[int] = []  # positions in `tables` to profile here
    shared: dict[int, tuple[GroupProfile, list[int]]] = {}  # groups' parts, and their members' positions
    same_edges: dict[int, bool] = {}  # by id() of a batch's edges: often one dict for a whole group
    for i in kept:
        p, mask = writes[i].prepared(), masks[i]
        whole = bool(mask.all())
        tables.append(p.table if whole else p.table.filter(pa.array(mask)))
        ids.append(p.ids if whole else [e for e, k in zip(p.ids, mask, strict=True) if k])
        ts.append(p.ts if whole else p.ts[mask])
        versions.append(p.versions if whole else [v for v, k in zip(p.versions, mask, strict=True) if k])
        if p.anchor_serial is not None:
            same_anchor = p.anchor_serial == anchor.serial
        else:
            fps = fps if fps is not None else fingerprints_of(anchor.edges)
            if id(p.edges) not in same_edges:
                same_edges[id(p.edges)] = fingerprints_of(p.edges) == fps
            same_anchor = same_edges[id(p.edges)]
        if whole and p.parts is not None and same_anchor:
            for bucket_key, profile in p.parts.items():
                ready[bucket_key].append(profile)
        elif whole and p.shared is not None and same_anchor:
            shared.setdefault(id(p.shared), (p.shared, []))[1].append(len(tables) - 1)
        else:
            redo.append(len(tables) - 1)
    for group, members in shared.values():
        if len(members) == group.size:  # every batch of the group is stored whole
            for bucket_key, profile in group.parts.items():
                ready[bucket_key].append(profile)
        else:
            redo += members
    batch_id: int | None = None
    if tables and staged is not None and pack_fits(staged, [writes[i] for i in kept], masks, redo):
        batch_id = store_packed(s, model_id, staged, fail_whole=duplicates == "raise")
        tables = []  # stored, as made before the lock
    if tables:
        try:
            # One chunk per column: a blob of many one-row chunks costs 20 ms to compress, not 0.1.
            table = tables[0] if len(tables) == 1 else concat_tables(tables).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # Batches whose columns do not unify (JSON typed one as int, another as text): one each.
            for i in kept:
                _write_model(s, model_id, {i: writes[i]}, out, duplicates)
            alone = set(kept)
            kept, tables = [], []
    if tables:
        all_ids = [e for part in ids for e in part]
        all_ts = np.concatenate(ts)
        all_versions = [v for part in versions for v in part]
        if redo:
            sub = [tables[j] for j in redo]
            sub_ids = [e for j in redo for e in ids[j]]
            labels = labels_for(s, model_id, sub_ids) if schema.by_role(Role.TARGET) else {}
            fresh = profile_parts(
                schema,
                sub[0] if len(sub) == 1 else concat_tables(sub).combine_chunks(),
                sub_ids,
                np.concatenate([ts[j] for j in redo]),
                [v for j in redo for v in versions[j]],
                anchor.edges,
                labels,
                rows=len(sub_ids) < ROW_PARTS_BELOW,
            )
            for bucket_key, profile in fresh.items():
                ready[bucket_key].append(profile)
        batch_id = store_packed(
            s,
            model_id,
            pack_group(s, schema, table, all_ids, all_ts, all_versions, ready),
            fail_whole=duplicates == "raise",
        )
    for i in live:
        if out[i] is not None:  # answered by the one-by-one fallback above
            continue
        accepted = int(masks[i].sum())
        out[i] = {
            "accepted": accepted,
            "duplicates": len(masks[i]) - accepted,
            "batch_id": batch_id if accepted else None,
        }
    return alone


@gc_paused
def log_predictions(
    s: Session,
    model_name: str,
    table: pa.Table,
    *,
    version: str | None = None,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
    max_rows: int = 100_000,
) -> dict[str, Any]:
    """Store a batch of predictions; returns {accepted, duplicates, batch_id}. Idempotent by event id, key.

    ``prepare_predictions`` then ``write_predictions`` in one session (the server splits them so that
    validation and profiling happen outside the write transaction).
    """
    prep = prepare_predictions(s, model_name, table, version=version, max_rows=max_rows)
    return write_predictions(s, prep, idempotency_key=idempotency_key, body_hash=body_hash)
