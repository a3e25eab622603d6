"""Ingesting predictions: validate, de-duplicate, store compactly, update bucket profiles: one transaction.

Decisions 0003 and 0004 (docs/decisions/): each batch is stored as one zstd-compressed Arrow IPC blob, each
event as a narrow index row (id, version, time, bucket, batch and row, latency), and the profile of the
batch's rows in each (version, hour) bucket as a part of that bucket, all in one transaction. Validation
and profiling happen before it (``prepare_predictions``), so the write transaction is short. Late labels
rebuild their bucket's task profiles from the batches and the current labels.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopwise.errors import DataError, LoopwiseError, SchemaValidationError
from loopwise.ingest.buckets import (
    ANCHOR_SECONDS,
    ROWS_BELOW,
    claim_anchor,
    fold,
    get_anchor,
    lock_bucket,
    pack,
    read_ipc,
    rows_part,
    store_edges,
    to_ipc,
    unpack,
)
from loopwise.ingest.errors import IdempotencyMismatchError, LimitError
from loopwise.ingest.models import ensure_kinds, model_schema, registered
from loopwise.profiles import Profile
from loopwise.profiles import merge as merge_profiles
from loopwise.profiles.canonical import canonical, canonical_keys
from loopwise.profiles.histogram import DEFAULT_BINS, fingerprint, quantile_edges
from loopwise.profiles.numeric import as_float_array
from loopwise.profiles.profile import MISSING_SEGMENT, empty_task, update_task
from loopwise.schema import Column, Kind, Role, Schema, validate
from loopwise.schema.timestamps import to_utc_us
from loopwise.schema.validate import ValidationIssue, row_issues
from loopwise.store.tables import Batch, BucketPart, Event, Feedback, Idempotency, Model
from loopwise.store.types import utcnow

DEFAULT_VERSION = "default"
RESERVED = ("model_version", "latency_ms")
#: Earliest and latest accepted event times (anything else is a clock or unit error).
MIN_TS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)
#: Batches with fewer rows are prepared together with the rest of their write group, not alone, and their
#: rows become row parts (``buckets.rows_part``) rather than profiles: a profile costs about 2 ms whatever its
#: size (40 columns), so a single event profiled alone would cost that much.
PROFILE_ALONE = ROWS_BELOW

#: What a batch contributes to a bucket: its profile, or (few rows) the rows to profile later.
Part: TypeAlias = Profile | pa.Table


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _bucket(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[h]").astype("datetime64[us]")


def _ts_column(table: pa.Table, name: str, unit: str | None = None) -> np.ndarray:
    """The event times of ``table[name]`` as UTC microseconds (``datetime64[us]``; NaT where missing).

    The one place a server batch's times are normalised (decision 0016): strings and epoch numbers by the
    library's one conversion rule (``loopwise.schema.timestamps``, decision 0019), Arrow timestamps of any
    unit and zone. A time that does not exist (30 February), or that the cast
    to microseconds would overflow (a seconds value past year 294,247 used to wrap silently to a time
    in range), is an issue naming its rows; so is one outside [2000, now + 1 day].
    """
    arr = table.column(name)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        _no_rolled_days(arr, name)
    if not pa.types.is_timestamp(arr.type) and not pa.types.is_date(arr.type):
        try:
            arr = to_utc_us(arr, name, unit)
        except DataError as exc:
            problem = "out_of_range" if "outside the years" in str(exc) else "wrong_type"
            message = str(exc).removeprefix(f"column {name!r}: ")
            raise SchemaValidationError([ValidationIssue(name, problem, message)]) from None
    elif pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s"))
    if not pa.types.is_timestamp(arr.type):
        raise SchemaValidationError(
            [ValidationIssue(name, "wrong_type", f"expected timestamps, got {arr.type}")]
        )
    # Arrow keeps every timestamp as a count of its unit since the epoch in UTC, whatever its zone: the
    # range is checked on that count, in the column's own unit, before anything is multiplied.
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[arr.type.unit]
    counts = np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False))
    missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    low = int(MIN_TS.timestamp()) * per_second
    high = int((dt.datetime.now(dt.UTC) + MAX_FUTURE).timestamp()) * per_second
    with np.errstate(invalid="ignore"):
        bad = missing | (np.nan_to_num(counts.astype(np.float64), nan=low) < low) | (counts > high)
    if bad.any():
        raise SchemaValidationError(
            row_issues(bad, name, "out_of_range", "time missing, before 2000 or more than a day ahead")
        )
    # Sub-microsecond digits are dropped: event times are kept to the microsecond.
    counts = counts.astype(np.int64)
    us = counts * (10**6 // per_second) if per_second <= 10**6 else counts // (per_second // 10**6)
    return us.astype("datetime64[us]")


def _no_rolled_days(arr: pa.ChunkedArray, name: str) -> None:
    """A day that does not exist in its month (30 February) is an issue naming its rows: parsers roll it
    over into the next month (2 March) rather than refuse it."""

    # The day as written must be in its month. (An hour, minute or second out of range fails to parse.)
    def part(a: int, b: int) -> np.ndarray:
        sliced = pc.utf8_slice_codeunits(arr, a, b)
        return np.asarray(
            pc.cast(sliced, pa.int64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64
        )

    try:
        day = part(8, 10)
        late = day >= 29
        if late.any():
            year, month = part(0, 4)[late], part(5, 7)[late]
            leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
            last = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month.astype(np.int64) - 1] + (
                (month == 2) & leap
            )
            rolled = np.zeros(len(day), dtype=bool)
            rolled[np.flatnonzero(late)] = day[late] > last
            if rolled.any():
                raise SchemaValidationError(
                    row_issues(rolled, name, "out_of_range", "no such date (e.g. 30 February)")
                )
    except (pa.ArrowInvalid, IndexError):
        pass  # not the YYYY-MM-DD layout: the conversion rule judges it


def _version_column(table: pa.Table) -> tuple[pa.Table, list[ValidationIssue]]:
    """``model_version`` as strings (integers are converted); another type is an issue."""
    if "model_version" not in table.column_names:
        return table, []
    col = table.column("model_version")
    t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    if not (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_null(t)
    ):
        return table, [
            ValidationIssue("model_version", "wrong_type", f"model_version must be a string; got {t}")
        ]
    i = table.column_names.index("model_version")
    return table.set_column(i, "model_version", col.cast(pa.string())), []


def check_batch(schema: Schema, table: pa.Table, max_rows: int) -> tuple[pa.Table, list[str], np.ndarray]:
    """Every problem of a batch at once (raises SchemaValidationError), else the batch, its ids and times.

    JSON has no timestamp type, so the timestamp column's ISO 8601 strings and epoch numbers are converted
    (``loopwise.schema.timestamps``: a bad or ambiguous one is an issue naming the column); nothing else is.
    """
    if table.num_rows == 0:
        raise SchemaValidationError([ValidationIssue(None, "empty", "the batch has no rows")])
    if table.num_rows > max_rows:
        raise LimitError(f"the batch has {table.num_rows} rows; the limit is {max_rows} per batch")
    served = Schema(tuple(c for c in schema if c.role is not Role.TARGET))
    reserved = [c for c in RESERVED if c in table.column_names]
    extra = sorted(set(table.column_names) - set(served.names) - set(RESERVED))
    if len(extra) > 20:  # dropping thousands of columns costs their square; the list alone says enough
        raise SchemaValidationError(
            [
                ValidationIssue(
                    ", ".join(extra[:20]) + f" and {len(extra) - 20} more",
                    "unknown_column",
                    "column(s) not in the model's schema (targets go to /feedback)",
                )
            ]
        )
    ts_column = schema.by_role(Role.TIMESTAMP)[0]
    ts_name = ts_column.name
    times: np.ndarray | None = None
    if ts_name in table.column_names:
        try:
            times = _ts_column(table, ts_name, ts_column.unit)
        except SchemaValidationError as exc:
            time_issues = exc.issues
        else:
            time_issues = []
            # Stored as UTC microseconds whatever was sent, so every batch of a model reads back as one type.
            table = table.set_column(
                table.column_names.index(ts_name),
                ts_name,
                pa.array(times, type=pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            )
    table, version_issues = _version_column(table)
    # A frame's pandas metadata would restore the zone it was sent in (and types it no longer has) on export.
    table = table.replace_schema_metadata(None)
    issues = validate(served, table.drop_columns(reserved + extra), allow_extra_columns=False)
    issues += version_issues
    if ts_name in table.column_names:
        issues = [i for i in issues if i.column != ts_name] + time_issues
    if extra:
        issues.append(
            ValidationIssue(
                ", ".join(extra),
                "unknown_column",
                "column(s) not in the model's schema (targets go to /feedback)",
            )
        )
    if "latency_ms" in reserved and not (
        pa.types.is_integer(table.column("latency_ms").type)
        or pa.types.is_floating(table.column("latency_ms").type)
    ):
        issues.append(
            ValidationIssue("latency_ms", "wrong_type", "latency_ms must be a number of milliseconds")
        )
    id_col = schema.by_role(Role.ID)[0].name
    ids: list[str] = []
    ts = np.array([], dtype="datetime64[us]")
    if id_col in table.column_names:
        raw = table.column(id_col)
        if raw.null_count:
            issues += row_issues(
                raw.is_null().to_numpy(zero_copy_only=False), id_col, "null", "every event needs an id"
            )
        ids = (
            [canonical(v) for v in raw.to_pylist()]
            if raw.null_count
            else [k for k in canonical_keys(raw) if k is not None]
        )
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup_mask = np.zeros(len(ids), dtype=bool)
            for i, e in enumerate(ids):
                dup_mask[i] = e in seen
                seen.add(e)
            issues += row_issues(dup_mask, id_col, "duplicate_id", "an event id appears twice in the batch")
    if times is not None:
        ts = times
    if issues:
        raise SchemaValidationError(issues)
    return table, ids, ts


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
    shared: SharedParts | None = None  # the parts of a group of small batches validated together


@dataclass(eq=False)
class SharedParts:
    """The profile of several small batches' rows together; used only if every one of them is stored whole."""

    size: int
    parts: dict[tuple[str, dt.datetime], Part]


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

    ``profile=False`` (or a batch under ``PROFILE_ALONE`` rows) leaves the profiling to ``write_group``.
    """
    model_id, schema = registered(s, model_name)
    # A kind the schema left open is fixed by the first batch that holds the column, before validation,
    # so that batch and every later one are profiled (and validated) as that kind.
    schema = ensure_kinds(s, model_name, schema, table, "the first predictions batch holding the column")
    table, ids, ts = check_batch(schema, table, max_rows)
    versions = _versions(table, version)
    anchor = get_anchor(s, model_id, max_age=ANCHOR_SECONDS)
    edges = anchor.edges if anchor is not None else own_edges(schema, table)
    parts = None
    if profile and len(ids) >= PROFILE_ALONE:
        labels = labels_for(s, model_id, ids) if schema.by_role(Role.TARGET) else {}
        parts = profile_parts(schema, table, ids, ts, versions, edges, labels)
    return Prepared(
        model_id, schema, table, ids, ts, versions, anchor.serial if anchor else None, edges, parts
    )


@dataclass
class Raw:
    """A small batch not validated yet: ``prepare_group`` validates it together with others."""

    model_name: str
    table: pa.Table
    version: str | None = None
    max_rows: int = 100_000


def prepare_group(s: Session, raws: list[Raw], *, profile: bool = False) -> list[Prepared | LoopwiseError]:
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
                shared = SharedParts(len(idx), _profile(s, prep)) if profile else None
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
                    alone.parts = _profile(s, alone)
            except LoopwiseError as exc:
                out[i] = exc
            else:
                out[i] = alone
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def _profile(s: Session, prep: Prepared) -> dict[tuple[str, dt.datetime], Part]:
    labels = labels_for(s, prep.model_id, prep.ids) if prep.schema.by_role(Role.TARGET) else {}
    return profile_parts(
        prep.schema,
        prep.table,
        prep.ids,
        prep.ts,
        prep.versions,
        prep.edges,
        labels,
        rows=prep.table.num_rows < ROWS_BELOW,
    )


def prepare_writes(s: Session, writes: Sequence[Write | LoopwiseError]) -> list[Write | LoopwiseError]:
    """Validate and profile the raw batches among ``writes``, together; an error replaces a bad one.

    Then ``stage`` makes what each model's group would store. Reads only: the server's writer runs it
    before taking the write lock, so that on SQLite another process's writer can store its group meanwhile.
    """
    out = list(writes)
    raw = [i for i, w in enumerate(writes) if isinstance(w, Write) and isinstance(w.prep, Raw)]
    if raw:
        preps = prepare_group(
            s,
            [writes[i].prep for i in raw],  # type: ignore[union-attr,misc]
            profile=True,
        )
        for i, p in zip(raw, preps, strict=True):
            w = writes[i]
            assert isinstance(w, Write)
            out[i] = Write(p, w.idempotency_key, w.body_hash) if isinstance(p, Prepared) else p
    stage(s, out)
    return out


@dataclass
class Write:
    """One request's batch (prepared, or raw: prepared with its group), idempotency key and body digest."""

    prep: Prepared | Raw
    idempotency_key: str | None = None
    body_hash: str | None = None
    staged: Material | None = None  # what its write group would store, computed before the write lock


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
    if any(isinstance(w, Write) and isinstance(w.prep, Raw) for w in writes):
        writes = prepare_writes(s, writes)
    by_model: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(writes):
        if isinstance(w, Write):
            by_model[_prep(w).model_id].append(i)
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
    known = (  # one query for the group's keys (the SDK sends one with every request)
        {
            row.key: row
            for row in s.scalars(
                select(Idempotency).where(Idempotency.model_id == model_id, Idempotency.key.in_(keys))
            )
        }
        if keys
        else {}
    )
    for i in idx:
        w = writes[i]
        key = w.idempotency_key
        if key is not None:
            seen = known.get(key)
            if seen is not None:
                out[i] = (
                    dict(seen.response) | {"replayed": True}
                    if seen.body_hash == w.body_hash
                    else IdempotencyMismatchError(
                        f"idempotency key {key!r} was used for a different request body"
                    )
                )
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
        existing = _existing_ids(s, model_id, [e for i in live for e in _prep(writes[i]).ids])
        alone = _store_live(s, model_id, writes, live, out, existing, duplicates)
    remembered = [
        {
            "model_id": model_id,
            "key": w.idempotency_key,
            "body_hash": w.body_hash or "",
            "response": result,
            "created_at": utcnow(),
        }
        for i in live
        if i not in alone  # stored by itself, key and all
        and (w := writes[i]).idempotency_key is not None
        and isinstance(result := out[i], dict)
    ]
    if remembered:
        s.execute(insert(Idempotency), remembered)
    for i, j in repeats:
        result = out[j]
        same = writes[i].body_hash == writes[j].body_hash
        out[i] = (
            (dict(result) | {"replayed": True} if isinstance(result, dict) else result)
            if same
            else IdempotencyMismatchError(
                f"idempotency key {writes[i].idempotency_key!r} was used for a different request body"
            )
        )


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
    schema = _prep(writes[live[0]]).schema
    staged = next((writes[i].staged for i in live if writes[i].staged is not None), None)
    alone: set[int] = set()
    masks: dict[int, np.ndarray] = {}
    for i in live:
        batch_ids = _prep(writes[i]).ids
        masks[i] = np.fromiter((e not in existing for e in batch_ids), dtype=bool, count=len(batch_ids))
        existing.update(batch_ids)  # a later batch of the group repeating these ids is a duplicate
    # As read while preparing, usually: no query (its edges come from the process cache either way).
    current = get_anchor(s, model_id, max_age=ANCHOR_SECONDS)
    anchor = current if current is not None else claim_anchor(s, model_id, _prep(writes[live[0]]).edges)
    fps: dict[str, str] | None = None  # the anchor's fingerprints, for batches prepared without one
    kept = [i for i in live if masks[i].any()]
    tables: list[pa.Table] = []
    ids: list[list[str]] = []
    ts: list[np.ndarray] = []
    versions: list[list[str]] = []
    ready: dict[tuple[str, dt.datetime], list[Part]] = defaultdict(list)
    redo: list[int] = []  # positions in `tables` to profile here
    shared: dict[int, tuple[SharedParts, list[int]]] = {}  # groups' parts, and their members' positions
    same_edges: dict[int, bool] = {}  # by id() of a batch's edges: often one dict for a whole group
    for i in kept:
        p, mask = _prep(writes[i]), masks[i]
        whole = bool(mask.all())
        tables.append(p.table if whole else p.table.filter(pa.array(mask)))
        ids.append(p.ids if whole else [e for e, k in zip(p.ids, mask, strict=True) if k])
        ts.append(p.ts if whole else p.ts[mask])
        versions.append(p.versions if whole else [v for v, k in zip(p.versions, mask, strict=True) if k])
        if p.anchor_serial is not None:
            same_anchor = p.anchor_serial == anchor.serial
        else:
            fps = fps if fps is not None else _fingerprints(anchor.edges)
            if id(p.edges) not in same_edges:
                same_edges[id(p.edges)] = _fingerprints(p.edges) == fps
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
    if tables and staged is not None and _fits(staged, [writes[i] for i in kept], masks, redo):
        batch_id = _store(s, model_id, staged, fail_whole=duplicates == "raise")
        tables = []  # stored, as made before the lock
    if tables:
        try:
            # One chunk per column: a blob of many one-row chunks costs 20 ms to compress, not 0.1.
            table = tables[0] if len(tables) == 1 else _concat(tables).combine_chunks()
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
                sub[0] if len(sub) == 1 else _concat(sub).combine_chunks(),
                sub_ids,
                np.concatenate([ts[j] for j in redo]),
                [v for j in redo for v in versions[j]],
                anchor.edges,
                labels,
                rows=len(sub_ids) < ROWS_BELOW,
            )
            for bucket_key, profile in fresh.items():
                ready[bucket_key].append(profile)
        batch_id = _store(
            s,
            model_id,
            _materialize(s, table, all_ids, all_ts, all_versions, ready),
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


@dataclass
class Material:
    """What one model's new rows of a write group store: the blob, the index columns and the packed parts.

    The writer makes it before taking the write lock, assuming every row is new and the anchor unchanged;
    under the lock it is used only if that held (``_fits``), so the lock is held for the SQL alone.
    """

    members: tuple[int, ...]  # id() of the writes it was made from, in order
    n: int
    blob: bytes
    index: tuple[list[str], list[str], list[Any], list[Any], list[Any]]  # ids, versions, ts, hour, latency
    parts: list[tuple[str, dt.datetime, int, bytes]]  # version, bucket, rows, packed profile
    edges: dict[str, np.ndarray]  # the edge sets the parts name


def _materialize(
    s: Session,
    table: pa.Table,
    ids: list[str],
    ts: np.ndarray,
    versions: list[str],
    ready: dict[tuple[str, dt.datetime], list[Part]],
    members: tuple[int, ...] = (),
) -> Material:
    edges: dict[str, np.ndarray] = {}
    parts = []
    for (version, bucket), items in sorted(ready.items()):
        profiles = [p for p in items if isinstance(p, Profile)]
        rows = [t for t in items if isinstance(t, pa.Table)]
        if profiles:
            merged = merge_profiles(profiles)
            parts.append((version, bucket, merged.n, merged.to_bytes(edges_out=edges)))
        if rows:  # a bucket may get both: a large batch's profile and small batches' rows
            together = rows[0] if len(rows) == 1 else _concat(rows)
            parts.append((version, bucket, together.num_rows, rows_part(together)))
    index = index_columns(s.get_bind().dialect.name, table, ids, ts, versions)
    return Material(members, table.num_rows, to_ipc(table), index, parts, edges)


def _fits(staged: Material, kept: list[Write], masks: dict[int, np.ndarray], redo: list[int]) -> bool:
    return (
        not redo
        and staged.members == tuple(id(w) for w in kept)
        and all(bool(m.all()) for m in masks.values())
    )


def _store(s: Session, model_id: int, m: Material, *, fail_whole: bool = False) -> int:
    """Insert the blob, its index rows and its parts; returns the batch id.

    ``fail_whole``: the caller gives up its transaction if an event id is stored already (``"raise"``), so
    the index insert may end the transaction on that conflict instead of undoing just its own statement.
    """
    store_edges(s, m.edges)
    if m.n < AT_ONCE_BELOW and s.get_bind().dialect.name == "postgresql":
        return _store_at_once(s, model_id, m)
    # Core statements, not the ORM's unit of work: flushing a Batch and its parts cost a write group of
    # five single events a third of a millisecond of CPU more (decision 0009).
    now = utcnow()
    batch_id: int = s.execute(
        insert(Batch).returning(Batch.id),
        {"model_id": model_id, "received_at": now, "n_rows": m.n, "arrow": m.blob},
    ).scalar_one()
    insert_index(s, model_id, batch_id, m.index, fail_whole=fail_whole)
    if m.parts:
        s.execute(
            insert(BucketPart),
            [
                {
                    "model_id": model_id,
                    "version": version,
                    "bucket": bucket,
                    "batch_id": batch_id,
                    "n": n,
                    "profile": blob,
                    "created_at": now,
                }
                for version, bucket, n, blob in m.parts
            ],
        )
    return batch_id


#: Groups with fewer rows are stored on PostgreSQL by one statement (``_STORE_AT_ONCE``), larger ones by an
#: insert of the batch, a COPY of its index rows and an insert of its parts: passed as arrays, 100 rows cost
#: what those statements do, 300 rows a millisecond more (decision 0009).
AT_ONCE_BELOW = 100

# The batch, its index rows and its parts in one statement: one round trip where the batch's insert, the
# COPY (two) and the parts' insert took four, each a wait for the server and then for the GIL under load
# (decision 0009). Times go as ISO 8601 text with a zone, as COPY takes them.
_STORE_AT_ONCE = text(
    """
    WITH b AS (
        INSERT INTO batches (model_id, received_at, n_rows, arrow) VALUES (:model, now(), :n, :blob)
        RETURNING id
    ), e AS (
        INSERT INTO events (model_id, event_id, version, ts, bucket, batch_id, row, latency_ms)
        SELECT :model, u.event_id, u.version, u.ts, u.bucket, b.id, u.row - 1, u.latency
        FROM b, unnest(
            CAST(:ids AS text[]), CAST(:versions AS text[]),
            CAST(:ts AS timestamptz[]), CAST(:hours AS timestamptz[]), CAST(:latency AS float8[])
        ) WITH ORDINALITY AS u(event_id, version, ts, bucket, latency, row)
    ), p AS (
        INSERT INTO bucket_parts (model_id, version, bucket, batch_id, n, profile, created_at)
        SELECT :model, u.version, u.bucket, b.id, u.n, u.profile, now()
        FROM b, unnest(
            CAST(:part_versions AS text[]), CAST(:part_buckets AS timestamptz[]), CAST(:part_rows AS int[]),
            CAST(:part_blobs AS bytea[])
        ) AS u(version, bucket, n, profile)
    )
    SELECT id FROM b
    """
)


def _store_at_once(s: Session, model_id: int, m: Material) -> int:
    ids, versions, ts, hours, latency = m.index
    params = {
        "model": model_id,
        "n": m.n,
        "blob": m.blob,
        "ids": ids,
        "versions": versions,
        "ts": ts,
        "hours": hours,
        "latency": latency,
        "part_versions": [p[0] for p in m.parts],
        "part_buckets": [p[1] for p in m.parts],
        "part_rows": [p[2] for p in m.parts],
        "part_blobs": [p[3] for p in m.parts],
    }
    return int(s.execute(_STORE_AT_ONCE, params).scalar_one())


def stage(s: Session, writes: list[Write | LoopwiseError]) -> None:
    """Make each model's ``Material`` for a write group, before the write lock (``Write.staged``).

    Assumes what is usual: every row new, the anchor the batches were profiled on still the model's.
    Only groups whose batches all carry their profiles are staged (the rest is profiled under the lock).
    """
    by_model: dict[int, list[Write]] = defaultdict(list)
    for w in writes:
        if isinstance(w, Write) and isinstance(w.prep, Prepared):
            by_model[w.prep.model_id].append(w)
    for group in by_model.values():
        seen: set[str] = set()
        keys = set()
        ready: dict[tuple[str, dt.datetime], list[Part]] = defaultdict(list)
        shared: dict[int, tuple[SharedParts, int]] = {}
        for w in group:
            p = _prep(w)
            if w.idempotency_key is not None:
                keys.add(w.idempotency_key)
            if p.parts is not None:
                for key, profile in p.parts.items():
                    ready[key].append(profile)
            elif p.shared is not None:
                got = shared.get(id(p.shared), (p.shared, 0))
                shared[id(p.shared)] = (p.shared, got[1] + 1)
            else:
                break
            seen.update(p.ids)
        else:
            if sum(len(_prep(w).ids) for w in group) != len(seen) or len(keys) < sum(
                w.idempotency_key is not None for w in group
            ):
                continue  # ids or keys repeated inside the group: left to the write itself
            if any(count != sp.size for sp, count in shared.values()):
                continue
            for sp, _ in shared.values():
                for key, profile in sp.parts.items():
                    ready[key].append(profile)
            preps = [_prep(w) for w in group]
            try:
                table = (
                    preps[0].table if len(preps) == 1 else _concat([p.table for p in preps]).combine_chunks()
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                continue
            group[0].staged = _materialize(
                s,
                table,
                [e for p in preps for e in p.ids],
                np.concatenate([p.ts for p in preps]),
                [v for p in preps for v in p.versions],
                ready,
                tuple(id(w) for w in group),
            )


def _concat(tables: list[pa.Table]) -> pa.Table:
    first = tables[0].schema
    if all(t.schema == first for t in tables):
        return pa.concat_tables(tables)  # zero-copy; unifying types costs ten times as much
    return pa.concat_tables(tables, promote_options="permissive")


def _prep(w: Write) -> Prepared:
    assert isinstance(w.prep, Prepared)  # write_group prepared every raw batch first
    return w.prep


def _existing_ids(s: Session, model_id: int, ids: list[str]) -> set[str]:
    """The ids among ``ids`` already stored for the model (one query per 10,000 ids)."""
    conn = s.connection()
    out: set[str] = set()
    rows: Any
    for i in range(0, len(ids), 10_000):
        chunk = ids[i : i + 10_000]
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT event_id FROM events WHERE model_id = ? "
                "AND event_id IN (SELECT value FROM json_each(?))",
                (model_id, json.dumps(chunk)),
            )
        elif conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT event_id FROM events WHERE model_id = %s AND event_id = ANY(%s)", (model_id, chunk)
            )
        else:
            rows = s.execute(
                select(Event.event_id).where(Event.model_id == model_id, Event.event_id.in_(chunk))
            )
        out.update(r[0] for r in rows)
    return out


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


def _fingerprints(edges: dict[str, np.ndarray]) -> dict[str, str]:
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
    buckets = _bucket(ts)
    groups: dict[tuple[str, np.datetime64], list[int]] = defaultdict(list)
    if len(set(versions)) == 1 and buckets.size and (buckets == buckets[0]).all():
        groups[(versions[0], buckets[0])] = list(range(len(ids)))
    else:
        for i, key in enumerate(zip(versions, buckets, strict=True)):
            groups[key].append(i)
    target = schema.by_role(Role.TARGET)
    segments = [c.name for c in schema.by_role(Role.SEGMENT)]
    keep = [c for c in table.column_names if c in schema.names]
    out: dict[tuple[str, dt.datetime], Part] = {}
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


def index_columns(
    dialect: str, table: pa.Table, ids: list[str], ts: np.ndarray, versions: list[str]
) -> tuple[list[str], list[str], list[Any], list[Any], list[Any]]:
    """The index rows' columns (ids, versions, time, hour, latency) as the dialect's fast path takes them.

    Times are formatted by NumPy, whole columns at once (SQLAlchemy's per-row parameter processing cost
    about 30 ms per 1,000 events): SQLAlchemy's own SQLite text form, which it reads back; ISO 8601 with a
    zone for PostgreSQL's COPY; datetime objects for any other database.
    """
    text = np.datetime_as_string(ts, unit="us")
    hours = np.datetime_as_string(_bucket(ts), unit="us")
    latency = (
        table.column("latency_ms").cast(pa.float64()).to_pylist()
        if "latency_ms" in table.column_names
        else [None] * len(ids)
    )
    if dialect == "postgresql":
        return ids, versions, np.char.add(text, "Z").tolist(), np.char.add(hours, "Z").tolist(), latency
    if dialect == "sqlite":
        return (
            ids,
            versions,
            np.char.replace(text, "T", " ").tolist(),
            np.char.replace(hours, "T", " ").tolist(),
            latency,
        )
    utc = dt.UTC
    return (
        ids,
        versions,
        [dt.datetime.fromisoformat(t).replace(tzinfo=utc) for t in text.tolist()],
        [dt.datetime.fromisoformat(h).replace(tzinfo=utc) for h in hours.tolist()],
        latency,
    )


def insert_index(
    s: Session,
    model_id: int,
    batch_id: int,
    columns: tuple[list[str], list[str], list[Any], list[Any], list[Any]],
    *,
    fail_whole: bool = False,
) -> None:
    """Insert a batch's index rows the fast way: COPY on PostgreSQL, multi-row VALUES on SQLite.

    ``fail_whole``: on SQLite, an id stored already rolls the whole transaction back (``INSERT OR
    ROLLBACK``), for a caller that would discard it anyway. SQLite then keeps no statement journal: undoing
    just the failed statement means copying every page it changes first, and random ids change a page per
    row (1,000 rows into 400,000: 8.2 -> 2.9 ms, decision 0010).
    """
    ids, versions, text, hours, latency = columns
    n = len(ids)
    conn = s.connection()
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        s.execute(
            insert(Event),
            [
                {
                    "model_id": model_id,
                    "event_id": e,
                    "version": v,
                    "ts": t,
                    "bucket": h,
                    "batch_id": batch_id,
                    "row": i,
                    "latency_ms": lat,
                }
                for i, (e, v, t, h, lat) in enumerate(zip(ids, versions, text, hours, latency, strict=True))
            ],
        )
        return
    rows = zip(
        repeat(model_id, n),
        ids,
        versions,
        text,
        hours,
        repeat(batch_id, n),
        range(n),
        latency,
        strict=False,
    )
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cur: Any = dbapi.cursor()
    try:
        if dialect == "postgresql":
            with cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            _insert_values(dbapi, cur, list(rows), "INSERT OR ROLLBACK" if fail_whole else "INSERT")
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        # The same as SQLAlchemy raises on its own path, so the routes' retry-on-conflict still applies.
        raise IntegrityError("INSERT INTO events", None, exc) from exc


EVENT_COLUMNS = ("model_id", "event_id", "version", "ts", "bucket", "batch_id", "row", "latency_ms")
_ROW_MARKS = "(" + ", ".join("?" * len(EVENT_COLUMNS)) + ")"


def _insert_values(dbapi: Any, cur: Any, rows: list[tuple[Any, ...]], verb: str = "INSERT") -> None:
    """Insert rows with as few statements as SQLite's bound-parameter limit allows.

    Not executemany: the sqlite3 module releases the GIL around every row's step, and under load each release
    hands the GIL to a preparing thread for up to the switch interval, so 1,000 rows could wait seconds
    (measured: 26% of the server's samples in the index insert; one statement per chunk releases it once).
    """
    per = max(1, dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(EVENT_COLUMNS))
    head = f"{verb} INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        cur.execute(head + ", ".join(repeat(_ROW_MARKS, len(chunk))), list(chain.from_iterable(chunk)))


def _versions(table: pa.Table, version: str | None) -> list[str]:
    if "model_version" in table.column_names:
        vals = table.column("model_version").to_pylist()
        return [str(v) if v is not None else (version or DEFAULT_VERSION) for v in vals]
    return [version or DEFAULT_VERSION] * table.num_rows


def labels_for(s: Session, model_id: int, event_ids: list[str]) -> dict[str, Any]:
    """The current label of each event: ground truth first, else the latest reviewer label or correction."""
    out: dict[str, tuple[int, dt.datetime, Any]] = {}
    for i in range(0, len(event_ids), 500):
        chunk = event_ids[i : i + 500]
        for fb in s.scalars(
            select(Feedback).where(
                Feedback.model_id == model_id,
                Feedback.event_id.in_(chunk),
                Feedback.kind.in_(("label", "correction")),
            )
        ):
            rank = 0 if fb.source == "ground_truth" else 1
            prev = out.get(fb.event_id)
            if prev is None or (rank, -fb.updated_at.timestamp()) < (prev[0], -prev[1].timestamp()):
                out[fb.event_id] = (rank, fb.updated_at, fb.value.get("label"))
    return {k: v[2] for k, v in out.items()}


def rebuild_tasks(s: Session, model: Model, touched: set[tuple[str, dt.datetime]]) -> None:
    """Rebuild the task profiles (whole, per segment) of buckets whose labels changed.

    The bucket's pending parts are folded first; then predictions, scores and segment values of the
    bucket's events come from their batches (only those columns are used) and labels from the feedback.
    The target's column profile is rebuilt from the labels too (target drift is the labels' distribution);
    the other column profiles are untouched: a late label does not change the inputs' distributions.
    """
    schema = model_schema(model)
    pred, target = schema.by_role(Role.PREDICTION), schema.by_role(Role.TARGET)
    if not pred or not target:
        return
    scores = [c.name for c in schema.by_role(Role.SCORE)]
    seg_cols = [c.name for c in schema.by_role(Role.SEGMENT)]
    needed = [pred[0].name, *scores, *seg_cols]
    for version, bucket in sorted(touched):
        row = lock_bucket(s, model.id, version, bucket)
        assert row is not None
        fold(s, row)
        if not row.profile:
            continue
        profile = unpack(s, row.profile)
        # One statement, so one snapshot: a batch whose part is still pending (committed after the fold
        # above) is left out here as its part is left out of the bucket.
        pending_batches = select(BucketPart.batch_id).where(
            BucketPart.model_id == model.id, BucketPart.version == version, BucketPart.bucket == bucket
        )
        events = s.execute(
            select(Event.event_id, Event.batch_id, Event.row)
            .where(
                Event.model_id == model.id,
                Event.version == version,
                Event.bucket == bucket,
                Event.batch_id.not_in(pending_batches),
            )
            .order_by(Event.batch_id, Event.row)
        ).all()
        by_batch: dict[int, list[int]] = defaultdict(list)
        for _, b, r in events:
            by_batch[b].append(r)
        pieces = []
        for batch_id, arrow in s.execute(select(Batch.id, Batch.arrow).where(Batch.id.in_(list(by_batch)))):
            t = read_ipc(arrow)
            cols = {c: t.column(c) if c in t.column_names else pa.nulls(t.num_rows) for c in needed}
            pieces.append((batch_id, pa.table(cols).take(pa.array(by_batch[batch_id]))))
        pieces.sort(key=lambda p: p[0])
        index = pa.concat_tables([p for _, p in pieces], promote_options="permissive")
        labels = labels_for(s, model.id, [e for e, _, _ in events])
        values = [labels.get(e) for e, _, _ in events]
        try:
            label_array = pa.array(values, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            # Labels of mixed JSON types (true and "yes" for one model) were each accepted: read them as text,
            # so that the hour still profiles (and the kinds' warning says why it compares badly).
            label_array = pa.array([None if v is None else str(v) for v in values], pa.string())
        index = index.append_column(target[0].name, label_array)
        task = empty_task(schema)
        if task is None:
            continue
        update_task(task, schema, index)
        profile.task = task
        _relabel(profile, target[0], index)
        for seg, subs in profile.segments.items():
            keys = [canonical(v) if v is not None else MISSING_SEGMENT for v in index.column(seg).to_pylist()]
            for key, sub in subs.items():
                sub_task = empty_task(schema)
                assert sub_task is not None
                rows = index.filter(pa.array([k == key for k in keys]))
                update_task(sub_task, schema, rows)
                sub.task = sub_task
                _relabel(sub, target[0], rows)
        row.profile, row.updated_at = pack(s, profile), utcnow()


def _relabel(profile: Profile, target: Column, rows: pa.Table) -> None:
    """Replace the target's column profile by one of the labels ``rows`` hold now (same kind as before)."""
    old = profile.columns.get(target.name)
    if old is None or target.kind is None:
        return
    values = rows.column(target.name)
    # Built anew from every label the bucket's events have, so a bucket profiled before the labels fixed
    # the target's kind (all missing then, of no kind) gets the fixed one.
    fresh = Profile.empty(Schema((target,)), anchors=profile.anchors, options=profile.options)
    column = fresh.columns[target.name]
    try:
        column.update(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
        return  # labels of a type the column cannot hold: performance still counts them, drift does not
    profile.columns[target.name] = column
