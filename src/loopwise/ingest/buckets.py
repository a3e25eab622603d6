"""Bucket profiles: parts appended by ingestion, folded into the bucket by a background job, read together.

Decision 0004 (docs/decisions/0004-ingestion-write-path.md): a batch appends the profile of its rows in each
(model, version, hour) bucket as a *part*, in the batch's own transaction; nothing is locked or rewritten on
the ingestion path. ``compact`` later merges a bucket's parts into its profile and deletes them, in one
transaction (the server's compactor, ``loopwise.server.jobs``, folds every pending bucket each second), so
every acknowledged row is counted once whether a reader finds it in a part or in the bucket.
Readers merge the bucket with its pending parts inside one snapshot.

A part is either a packed profile or, for a handful of rows, the rows themselves (``ROWS``: Arrow IPC of the
columns a profile reads, labels included): profiling 44 columns costs about 2 ms whatever the row count, so
a one-event request would pay that on its write path and the compactor again to read the part back, where
rows cost nothing to write and the compactor profiles the rows of all such parts of a bucket at once
(decision docs/decisions/0007-row-parts.md).

Stored profiles name their histogram edges by fingerprint (``Profile.to_bytes(edges_out=...)``); each edge
set is stored once in ``edge_sets``. All new profiles of a model use the model's *anchor* (its default
reference's edges, or else the edges of its first batch), so parts, buckets and windows merge exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from loopwise.ingest.collector import gc_paused
from loopwise.ingest.models import model_schema
from loopwise.profiles import Profile
from loopwise.profiles import merge as merge_profiles
from loopwise.profiles.histogram import fingerprint
from loopwise.profiles.serialize import check as check_profile
from loopwise.schema import Role
from loopwise.store.engine import insert_ignore, insert_ignore_many, transaction
from loopwise.store.tables import Anchor, BucketPart, BucketProfile, EdgeSet, Model
from loopwise.store.types import utcnow

# Edge sets are content-addressed (a fingerprint names one array forever), so this cache is never stale.
_EDGES: dict[str, np.ndarray] = {}
#: Fingerprints seen committed, per database engine: a process may write to two databases (two local
#: clients, a demo that recreates its file), and an edge set stored in one is not in the other.
_STORED: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def edge_lookup(s: Session) -> Callable[[str], np.ndarray]:
    """A resolver for ``Profile.from_bytes(edges=...)`` backed by the process cache and ``edge_sets``."""

    def get(fp: str) -> np.ndarray:
        edges = _EDGES.get(fp)
        if edges is None:
            blob = s.scalar(select(EdgeSet.edges).where(EdgeSet.fingerprint == fp))
            if blob is None:
                raise KeyError(fp)
            edges = np.frombuffer(blob, dtype="<f8").astype(np.float64)
            edges.flags.writeable = False  # shared by every profile read with it
            known = _stored(s)
            with _lock:
                _EDGES[fp] = edges
                known.add(fp)
        return edges

    return get


#: Digests of the packed parts this process made from profiles (well formed by construction), at most
#: ``_PACKED_CAP``: the compactor passes such a part on as its bucket without checking it (decompressing it
#: and parsing its header cost 0.4 ms a bucket; the local client folds its own parts right after writing).
_PACKED: set[bytes] = set()
_PACKED_CAP = 100_000


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def packed_here(data: bytes) -> bytes:
    """``data`` (a profile's bytes, as ``Profile.to_bytes`` made them), remembered as well formed."""
    if len(_PACKED) >= _PACKED_CAP:
        _PACKED.clear()
    _PACKED.add(_digest(data))
    return data


def unpack(s: Session, blob: bytes) -> Profile:
    return Profile.from_bytes(blob, edges=edge_lookup(s))


#: Write groups (and batches prepared alone) with fewer rows than this store rows as their parts, not
#: profiles: a profile costs about 2 ms whatever its size (40 columns); see the module docstring.
ROW_PARTS_BELOW = 100
ROWS = b"LWRP"


#: A batch is stored zstd-compressed when that takes it to at most this share of its Arrow size, else
#: LZ4-compressed: zstd's reads cost five to seven times LZ4's, worth it only where it saves much more.
#: Measured noise barely compresses: the replay bench's batches (40 normal floats, an id, a time, a
#: prediction, a score) went to 0.90 with zstd for 0.52 s of CPU per 1,000,000 rows at every read, to 0.96
#: with LZ4 for 0.07 s (a replay reads them all, decision 0044); the ingest bench's mixed columns
#: (bench/gen.py) go to 0.77 with zstd (0.90 with LZ4) and stay zstd.
KEEP_ZSTD = 0.85
#: Else LZ4-compressed when that takes it to at most this share, else stored as it is (decision 0049): the
#: replay bench's batches went to 0.96 with LZ4 (40 normal floats do not compress at all; the ids and times
#: do), for 0.06-0.08 s of CPU per 1,000,000 rows at every read, against 0.02 s for the plain buffers.
KEEP_LZ4 = 0.9


def to_ipc(table: pa.Table) -> bytes:
    """Arrow IPC stream bytes: uncompressed under ``ROW_PARTS_BELOW`` rows (for a few rows a compression
    context per column buffer, ~1 ms for 44 columns, costs more than the bytes it saves), else zstd when it
    saves at least 15% (``KEEP_ZSTD``), else LZ4 when it saves at least 10% (``KEEP_LZ4``), else
    uncompressed; readers take any of the three."""
    if table.num_rows < ROW_PARTS_BELOW:
        return _ipc(table, None)
    packed = _ipc(table, "zstd")
    if len(packed) <= KEEP_ZSTD * table.nbytes:
        return packed
    packed = _ipc(table, "lz4")
    if len(packed) <= KEEP_LZ4 * table.nbytes:
        return packed
    return _ipc(table, None)


def _ipc(table: pa.Table, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_ipc(blob: bytes | memoryview) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def rows_part(table: pa.Table) -> bytes:
    """A part holding ``table`` (the profiled columns of some rows of one bucket, labels included)."""
    # One record batch: a group's table is a chunk per request, and each would be a message of its own
    # (eight one-row requests: 23 KB where one batch of eight rows takes 4).
    return ROWS + to_ipc(table.combine_chunks())


def part_profiles(s: Session, model_id: int, blobs: Iterable[bytes]) -> list[Profile]:
    """The profiles of a bucket's parts: packed ones unpacked, row parts profiled together as one.

    Rows are profiled on the model's anchor as it is now (a packed part used it as it was when written; the
    two differ only after a new default reference, and then both merge as parts of different anchors do).
    """
    out: list[Profile] = []
    tables: list[pa.Table] = []
    for blob in blobs:
        if blob[:4] == ROWS:
            tables.append(read_ipc(memoryview(blob)[4:]))
        else:
            out.append(unpack(s, blob))
    if tables:
        model = s.get(Model, model_id)
        if model is None:
            raise KeyError(f"model {model_id} has parts but no row")
        schema = model_schema(model)
        anchor = get_anchor(s, model_id)
        profile = Profile.empty(
            schema,
            anchors=anchor.edges if anchor is not None else {},
            segments=[c.name for c in schema.by_role(Role.SEGMENT)],
        )
        try:
            together = [pa.concat_tables(tables, promote_options="permissive")]
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            together = tables  # JSON typed a column one way in one request and another way in the next
        for t in together:
            profile.update(t)
        out.append(profile)
    return out


def _stored(s: Session) -> set[str]:
    """The fingerprints known to be committed in the database ``s`` is bound to."""
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _lock:
        found = _STORED.get(engine)
        if found is None:
            found = _STORED[engine] = set()
        return found


def store_edges(s: Session, edges: Mapping[str, np.ndarray]) -> None:
    """Make sure each edge set is stored (in the caller's transaction)."""
    stored = _stored(s)
    new = [fp for fp in edges if fp not in stored]
    if not new:
        return
    present = set(s.scalars(select(EdgeSet.fingerprint).where(EdgeSet.fingerprint.in_(new))))
    for fp in new:
        if fp in present:
            with _lock:
                stored.add(fp)
        else:
            # Not marked stored until a later read sees it: this transaction may still roll back.
            insert_ignore(
                s, EdgeSet, {"fingerprint": fp, "edges": np.ascontiguousarray(edges[fp], "<f8").tobytes()}
            )
        with _lock:
            if fp not in _EDGES:
                kept = np.array(edges[fp], dtype=np.float64)
                kept.flags.writeable = False
                _EDGES[fp] = kept


def pack(s: Session, profile: Profile) -> bytes:
    """The profile's bytes with its edges stored apart (once per edge set)."""
    out: dict[str, np.ndarray] = {}
    data = profile.to_bytes(edges_out=out)
    store_edges(s, out)
    return data


@dataclass(frozen=True)
class ModelAnchor:
    """The histogram edges new profiles of a model use; ``serial`` changes whenever they change."""

    serial: int
    edges: dict[str, np.ndarray]


#: Seconds the write path may use a model's anchor as read before (``get_anchor(max_age=...)``): a write group
#: then makes no read before its insert. A new default reference anchors another process's writes this much
#: later; parts name their edges, so until then they are parts of the older anchor (see ``part_profiles``).
ANCHOR_SECONDS = 1.0
# (time read, anchor) by model id, per database (the engine's pool, shared by its read-only variants).
_ANCHORS: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, ModelAnchor]]] = weakref.WeakKeyDictionary()


def get_anchor(s: Session, model_id: int, *, max_age: float = 0.0) -> ModelAnchor | None:
    """The model's anchor (None if it has none yet); one read at most ``max_age`` seconds old will do."""
    pool = s.get_bind().engine.pool
    if max_age > 0:
        with _lock:
            hit = _ANCHORS.get(pool, {}).get(model_id)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
    anchor = _read_anchor(s, model_id)
    # Not remembered if this session wrote an anchor (claim_anchor, set_anchor): it may still roll back.
    if anchor is not None and not s.info.get("anchor_written"):
        with _lock:
            _ANCHORS.setdefault(pool, {})[model_id] = (time.monotonic(), anchor)
    return anchor


def _read_anchor(s: Session, model_id: int) -> ModelAnchor | None:
    row = s.execute(select(Anchor.serial, Anchor.edges).where(Anchor.model_id == model_id)).first()
    if row is None:
        return None
    lookup = edge_lookup(s)
    return ModelAnchor(int(row.serial), {c: lookup(fp) for c, fp in row.edges.items()})


def _forget_anchor(s: Session, model_id: int) -> None:
    s.info["anchor_written"] = True
    with _lock:
        _ANCHORS.get(s.get_bind().engine.pool, {}).pop(model_id, None)


def set_anchor(s: Session, model_id: int, edges: Mapping[str, np.ndarray]) -> None:
    """Anchor the model's new profiles on ``edges`` (a new default reference's)."""
    fps = {c: fingerprint(e) for c, e in edges.items()}
    store_edges(s, {fps[c]: e for c, e in edges.items()})
    _forget_anchor(s, model_id)
    row = s.get(Anchor, model_id, with_for_update=True, populate_existing=True)
    if row is None:
        s.add(Anchor(model_id=model_id, edges=fps, serial=1, updated_at=utcnow()))
    elif row.edges != fps:
        row.edges, row.serial, row.updated_at = fps, row.serial + 1, utcnow()


def claim_anchor(s: Session, model_id: int, edges: Mapping[str, np.ndarray]) -> ModelAnchor:
    """The model's anchor, made from ``edges`` if it has none yet (the first batch's own edges)."""
    fps = {c: fingerprint(e) for c, e in edges.items()}
    store_edges(s, {fps[c]: e for c, e in edges.items()})
    _forget_anchor(s, model_id)
    insert_ignore(s, Anchor, {"model_id": model_id, "edges": fps, "serial": 1, "updated_at": utcnow()})
    anchor = get_anchor(s, model_id)
    assert anchor is not None
    return anchor


def lock_bucket(
    s: Session, model_id: int, version: str, bucket: dt.datetime, *, skip_locked: bool = False
) -> BucketProfile | None:
    """The bucket's row, created empty if needed and locked (None if ``skip_locked`` and another holds it).

    Under PostgreSQL's READ COMMITTED, whoever waited for this lock then reads everything committed before it
    got it (reading first and locking after lost an update; tests/server/test_durability.py found it).
    SQLite writers are serialized by BEGIN IMMEDIATE.
    """
    values = {"model_id": model_id, "version": version, "bucket": bucket, "n": 0, "profile": b""}
    insert_ignore(s, BucketProfile, values)
    return s.scalar(
        select(BucketProfile)
        .where(
            BucketProfile.model_id == model_id,
            BucketProfile.version == version,
            BucketProfile.bucket == bucket,
        )
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )


def lock_buckets(
    s: Session, model_id: int, version: str, buckets: list[dt.datetime]
) -> dict[dt.datetime, BucketProfile]:
    """``lock_bucket`` of many buckets of one version, waiting for each, in two statements: the rows created
    empty where missing, then selected and locked in bucket order (the order every writer of bucket rows
    takes them in). A first label's request touches a bucket per hour of its events; a statement pair per
    bucket was most of its SQL over a year (decision 0043)."""
    ordered = sorted(buckets)
    insert_ignore_many(
        s,
        BucketProfile,
        [{"model_id": model_id, "version": version, "bucket": b, "n": 0, "profile": b""} for b in ordered],
    )
    locked = s.scalars(
        select(BucketProfile)
        .where(
            BucketProfile.model_id == model_id,
            BucketProfile.version == version,
            BucketProfile.bucket.in_(ordered),
        )
        .order_by(BucketProfile.bucket)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.bucket: row for row in locked}


def fold_many(s: Session, rows: list[BucketProfile]) -> int:
    """``fold`` of many locked rows of one model and version: their pending parts read in one statement."""
    if not rows:
        return 0
    first = rows[0]
    by_bucket: dict[dt.datetime, list[tuple[int, int, bytes]]] = defaultdict(list)
    for i in range(0, len(rows), 500):
        for part_id, bucket, n, blob in s.execute(
            select(BucketPart.id, BucketPart.bucket, BucketPart.n, BucketPart.profile)
            .where(
                BucketPart.model_id == first.model_id,
                BucketPart.version == first.version,
                BucketPart.bucket.in_([r.bucket for r in rows[i : i + 500]]),
            )
            .order_by(BucketPart.id)
        ):
            by_bucket[bucket].append((int(part_id), int(n), blob))
    gone: list[int] = []
    for row in rows:
        parts = by_bucket.get(row.bucket)
        if not parts:
            continue
        folded = _folded(s, row.model_id, row.profile, [(n, blob) for _, n, blob in parts])
        row.n, row.profile, row.updated_at = folded.n, folded.data, utcnow()
        store_edges(s, folded.edges)
        gone += [i for i, _, _ in parts]
    for i in range(0, len(gone), 500):
        s.execute(delete(BucketPart).where(BucketPart.id.in_(gone[i : i + 500])))
    return len(gone)


def compact(
    s: Session, model_id: int, version: str, bucket: dt.datetime, *, skip_locked: bool = False
) -> int:
    """Fold the bucket's pending parts into its profile, in the caller's transaction; returns how many."""
    row = lock_bucket(s, model_id, version, bucket, skip_locked=skip_locked)
    return 0 if row is None else fold(s, row)


def fold(s: Session, row: BucketProfile) -> int:
    """Fold the pending parts of the bucket whose row ``row`` is (and must already be locked)."""
    parts = s.execute(
        select(BucketPart.id, BucketPart.n, BucketPart.profile)
        .where(
            BucketPart.model_id == row.model_id,
            BucketPart.version == row.version,
            BucketPart.bucket == row.bucket,
        )
        .order_by(BucketPart.id)
    ).all()
    if not parts:
        return 0
    folded = _folded(s, row.model_id, row.profile, [(int(n), blob) for _, n, blob in parts])
    row.n, row.profile, row.updated_at = folded.n, folded.data, utcnow()
    store_edges(s, folded.edges)
    s.execute(delete(BucketPart).where(BucketPart.id.in_([i for i, _, _ in parts])))
    return len(parts)


@dataclass(frozen=True)
class _Folded:
    """A bucket's stored profile merged with its parts: rows, packed bytes and the edge sets they name."""

    n: int
    data: bytes
    edges: dict[str, np.ndarray]


def _folded(s: Session, model_id: int, stored: bytes | None, parts: list[tuple[int, bytes]]) -> _Folded:
    """The bucket's ``stored`` profile merged with its ``parts`` ((rows, blob), oldest first)."""
    if not stored and len(parts) == 1 and parts[0][1][:4] != ROWS:
        # The usual bucket of a backfill: empty, with one packed part. The part's bytes are the bucket's
        # (same format, edges stored with the part): decoding and encoding them again cost 6 ms per bucket.
        # Checked, not decoded: damaged bytes must fail here, where one bucket's failure is isolated (bytes
        # this process packed are the ones it made, unless a 128-bit digest collides).
        if _digest(parts[0][1]) not in _PACKED:
            check_profile(parts[0][1])
        return _Folded(parts[0][0], parts[0][1], {})
    profiles = [unpack(s, stored)] if stored else []
    profiles += part_profiles(s, model_id, [blob for _, blob in parts])
    merged = merge_profiles(profiles)
    edges: dict[str, np.ndarray] = {}
    data = merged.to_bytes(edges_out=edges)
    return _Folded(merged.n, data, edges)


def pending(s: Session, limit: int = 1000) -> list[tuple[int, str, dt.datetime]]:
    """Buckets with parts waiting to be folded, oldest first."""
    q = (
        select(BucketPart.model_id, BucketPart.version, BucketPart.bucket)
        .group_by(BucketPart.model_id, BucketPart.version, BucketPart.bucket)
        .order_by(BucketPart.bucket)
        .limit(limit)
    )
    return [(int(m), str(v), b) for m, v, b in s.execute(q)]


#: A bucket's (model id, version, hour).
BucketKey = tuple[int, str, dt.datetime]


@gc_paused
def compact_pending(
    factory: sessionmaker[Session],
    readers: sessionmaker[Session] | None = None,
    failed: dict[BucketKey, Exception] | None = None,
    skip: Container[BucketKey] = (),
) -> int:
    """Fold every pending bucket; buckets another replica holds are skipped.

    With ``readers``, the parts of up to ``FOLD_TOGETHER`` buckets are merged in one read snapshot first and
    the write transaction only checks that each bucket is as read and swaps it in: the merge (most of the
    cost) holds no write lock, so on SQLite ingestion is not stalled behind it. Without, one transaction per
    bucket. With ``failed``, a bucket that cannot be folded (anything but the database being unreachable)
    is recorded there and the pass goes on to the others: one bad bucket must not stop compaction for every
    model. Buckets in ``skip`` are left for later.
    """
    with (readers or factory)() as s:
        todo = [k for k in pending(s, 1000 + len(skip) if isinstance(skip, Sized) else 1000) if k not in skip]
    done = 0
    if readers is not None:
        for i in range(0, len(todo), FOLD_TOGETHER):
            done += _compact_merged(factory, readers, todo[i : i + FOLD_TOGETHER], failed)
        return done
    for model_id, version, bucket in todo:
        try:
            with transaction(factory) as s:
                done += compact(s, model_id, version, bucket, skip_locked=True)
        except OperationalError:
            raise  # the database, not the bucket: the whole pass waits for it
        except Exception as exc:
            if failed is None:
                raise
            failed[(model_id, version, bucket)] = exc
    return done


#: Buckets folded in one read snapshot and one write transaction: a backfill leaves thousands, each with a
#: part or two, and a transaction each cost more than the fold (decision 0021).
FOLD_TOGETHER = 200


def _compact_merged(
    factory: sessionmaker[Session],
    readers: sessionmaker[Session],
    keys: list[BucketKey],
    failed: dict[BucketKey, Exception] | None,
) -> int:
    merged: dict[BucketKey, tuple[bytes, list[int], _Folded]] = {}
    with readers() as rs:
        stored, parts = _stored_and_parts(rs, keys)
        for key in keys:
            found = parts.get(key)
            if not found:
                continue
            try:
                before = stored.get(key) or b""
                folded = _folded(rs, key[0], before, [(n, blob) for _, n, blob in found])
            except OperationalError:
                raise
            except Exception as exc:
                if failed is None:
                    raise
                failed[key] = exc
                continue
            merged[key] = (before, [i for i, _, _ in found], folded)
    if not merged:
        return 0
    done = 0
    by_version: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for m, v, b in merged:
        by_version[(m, v)].append(b)
    with transaction(factory) as s:
        for (model_id, version), buckets in by_version.items():
            # The rows, created empty where missing and locked, a statement each for all the buckets (one
            # savepoint and two statements per bucket were most of a backfill's compaction).
            rows = _lock_buckets(s, model_id, version, buckets)
            ready = []
            for b in buckets:
                before, ids, folded = merged[(model_id, version, b)]
                row = rows.get(b)
                if row is not None and (row.profile or b"") == before:  # else: changed meanwhile, next pass
                    ready.append((row, ids, folded))
            wanted = [i for _, ids, _ in ready for i in ids]
            present: set[int] = set()
            for i in range(0, len(wanted), 500):
                present.update(s.scalars(select(BucketPart.id).where(BucketPart.id.in_(wanted[i : i + 500]))))
            gone: list[int] = []
            now = utcnow()
            for row, ids, folded in ready:
                if not present.issuperset(ids):
                    continue  # another replica folded some of its parts: the bucket changed, next pass
                store_edges(s, folded.edges)
                row.n, row.profile, row.updated_at = folded.n, folded.data, now
                gone += ids
            for i in range(0, len(gone), 500):
                s.execute(delete(BucketPart).where(BucketPart.id.in_(gone[i : i + 500])))
            done += len(gone)
    return done


def _lock_buckets(
    s: Session, model_id: int, version: str, buckets: list[dt.datetime]
) -> dict[dt.datetime, BucketProfile]:
    """The buckets' rows, created empty where missing and locked; those another holds are left out."""
    values = [
        {"model_id": model_id, "version": version, "bucket": b, "n": 0, "profile": b""} for b in buckets
    ]
    insert_ignore_many(s, BucketProfile, values)
    locked = s.scalars(
        select(BucketProfile)
        .where(
            BucketProfile.model_id == model_id,
            BucketProfile.version == version,
            BucketProfile.bucket.in_(buckets),
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return {row.bucket: row for row in locked}


def _stored_and_parts(
    s: Session, keys: list[BucketKey]
) -> tuple[dict[BucketKey, bytes], dict[BucketKey, list[tuple[int, int, bytes]]]]:
    """The stored profiles of ``keys``' buckets, and their parts ((id, rows, blob), oldest first)."""
    by_version: dict[tuple[int, str], list[dt.datetime]] = {}
    for m, v, b in keys:
        by_version.setdefault((m, v), []).append(b)
    stored: dict[BucketKey, bytes] = {}
    parts: dict[BucketKey, list[tuple[int, int, bytes]]] = {}
    for (m, v), buckets in by_version.items():
        for b, blob in s.execute(
            select(BucketProfile.bucket, BucketProfile.profile).where(
                BucketProfile.model_id == m, BucketProfile.version == v, BucketProfile.bucket.in_(buckets)
            )
        ):
            stored[(m, v, b)] = blob
        for i, b, n, blob in s.execute(
            select(BucketPart.id, BucketPart.bucket, BucketPart.n, BucketPart.profile)
            .where(BucketPart.model_id == m, BucketPart.version == v, BucketPart.bucket.in_(buckets))
            .order_by(BucketPart.id)
        ):
            parts.setdefault((m, v, b), []).append((int(i), int(n), blob))
    return stored, parts


def bucket_profiles(
    s: Session, model_id: int, keys: Iterable[tuple[str, dt.datetime]]
) -> dict[tuple[str, dt.datetime], Profile]:
    """The profile of each (version, bucket): its stored profile merged with its pending parts.

    Call inside one snapshot (a read session: SQLite's deferred transaction, PostgreSQL's repeatable read),
    so that a compaction committing meanwhile is seen either whole or not at all.
    """
    wanted = sorted(set(keys))
    out: dict[tuple[str, dt.datetime], list[Profile]] = {}
    by_version: dict[str, list[dt.datetime]] = {}
    for v, b in wanted:
        by_version.setdefault(v, []).append(b)
    for v, buckets in by_version.items():
        for i in range(0, len(buckets), 500):
            chunk = buckets[i : i + 500]
            for b, blob in s.execute(
                select(BucketProfile.bucket, BucketProfile.profile).where(
                    BucketProfile.model_id == model_id,
                    BucketProfile.version == v,
                    BucketProfile.bucket.in_(chunk),
                )
            ):
                if blob:
                    out.setdefault((v, b), []).insert(0, unpack(s, blob))
            pending: dict[dt.datetime, list[bytes]] = {}
            for b, blob in s.execute(
                select(BucketPart.bucket, BucketPart.profile)
                .where(
                    BucketPart.model_id == model_id,
                    BucketPart.version == v,
                    BucketPart.bucket.in_(chunk),
                )
                .order_by(BucketPart.id)
            ):
                pending.setdefault(b, []).append(blob)
            for b, blobs in pending.items():
                out.setdefault((v, b), []).extend(part_profiles(s, model_id, blobs))
    return {k: merge_profiles(ps) for k, ps in out.items()}
