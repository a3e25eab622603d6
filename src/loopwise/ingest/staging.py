"""Write groups staged before the write lock: each request's ``Write``, and what its model's group stores.

The server's writer validates and profiles a group's raw batches together (``prepare_writes``), then packs
each model's rows into the blob, index columns and bucket parts they would store (``stage``), all before it
takes the write lock; under the lock the pack is used only if every row was new and the anchor unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from loopwise.errors import LoopwiseError
from loopwise.ingest.buckets import ROWS, packed_here, rows_part, store_edges, to_ipc
from loopwise.ingest.collector import gc_paused
from loopwise.ingest.parts import Part, concat_tables
from loopwise.ingest.preparation import GroupProfile, Prepared, UnvalidatedBatch, prepare_group
from loopwise.profiles import Profile
from loopwise.profiles import merge as merge_profiles
from loopwise.schema import Schema
from loopwise.store.batch_outputs import narrow_table
from loopwise.store.bulk import IndexColumns, PartRow, dialect_of, index_columns, insert_batch


@gc_paused
def prepare_writes(s: Session, writes: Sequence[Write | LoopwiseError]) -> list[Write | LoopwiseError]:
    """Validate and profile the raw batches among ``writes``, together; an error replaces a bad one.

    Then ``stage`` makes what each model's group would store. Reads only: the server's writer runs it
    before taking the write lock, so that on SQLite another process's writer can store its group meanwhile.
    """
    out = list(writes)
    raw = [i for i, w in enumerate(writes) if isinstance(w, Write) and isinstance(w.prep, UnvalidatedBatch)]
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

    prep: Prepared | UnvalidatedBatch
    idempotency_key: str | None = None
    body_hash: str | None = None
    staged: PackedGroup | None = None  # what its write group would store, computed before the write lock

    def prepared(self) -> Prepared:
        """The batch as prepared (``write_group`` prepares every raw batch first)."""
        assert isinstance(self.prep, Prepared)
        return self.prep


@dataclass
class PackedGroup:
    """What one model's new rows of a write group store: the blob, its narrow columns' blob
    (``store.batch_outputs``), the index columns and the packed parts.

    The writer makes it before taking the write lock, assuming every row is new and the anchor unchanged;
    under the lock it is used only if that held (``pack_fits``), so the lock is held for the SQL alone.
    """

    members: tuple[int, ...]  # id() of the writes it was made from, in order
    n: int
    blob: bytes
    outputs: bytes  # the narrow columns' blob
    index: IndexColumns  # ids, versions, ts, hour, latency
    parts: list[PartRow]  # version, bucket, rows, packed profile
    edges: dict[str, np.ndarray]  # the edge sets the parts name


def pack_group(
    s: Session,
    schema: Schema,
    table: pa.Table,
    ids: list[str],
    ts: np.ndarray,
    versions: list[str],
    ready: dict[tuple[str, dt.datetime], list[Part]],
    members: tuple[int, ...] = (),
) -> PackedGroup:
    """Pack a model's rows, their narrow columns and their bucket parts (profiles merged per bucket, rows
    together) for storing."""
    edges: dict[str, np.ndarray] = {}
    parts = []
    for (version, bucket), items in sorted(ready.items()):
        profiles = [p for p in items if isinstance(p, Profile)]
        rows = [t for t in items if isinstance(t, pa.Table)]
        if profiles:
            merged = merge_profiles(profiles)
            parts.append((version, bucket, merged.n, packed_here(merged.to_bytes(edges_out=edges))))
        if rows:  # a bucket may get both: a large batch's profile and small batches' rows
            together = rows[0] if len(rows) == 1 else concat_tables(rows)
            parts.append((version, bucket, together.num_rows, rows_part(together)))
    index = index_columns(dialect_of(s), table, ids, ts, versions)
    # The narrow blob from the table's own buffers (a selection of its columns, one more IPC write): about
    # a tenth of the whole blob's bytes to write, and what a paired comparison reads (decision 0062).
    outputs = to_ipc(narrow_table(schema, table))
    return PackedGroup(members, table.num_rows, to_ipc(table), outputs, index, parts, edges)


def pack_fits(staged: PackedGroup, kept: list[Write], masks: dict[int, np.ndarray], redo: list[int]) -> bool:
    """Whether the pack staged before the lock is what the group stores now: same batches, all rows new."""
    return (
        not redo
        and staged.members == tuple(id(w) for w in kept)
        and all(bool(m.all()) for m in masks.values())
    )


def store_packed(s: Session, model_id: int, m: PackedGroup, *, fail_whole: bool = False) -> int:
    """Insert the pack's edge sets, blob and narrow blob, index rows and parts; returns the batch id.

    ``fail_whole``: the caller gives up its transaction if an event id is stored already (``"raise"``), so
    the index insert may end the transaction on that conflict instead of undoing just its own statement.
    """
    store_edges(s, m.edges)
    # A packed profile becomes its bucket where the bucket has no row yet (``insert_new_buckets``); rows
    # are always parts (the compactor profiles a bucket's rows together).
    rows = [p for p in m.parts if p[3][:4] == ROWS]
    profiles = [p for p in m.parts if p[3][:4] != ROWS]
    return insert_batch(
        s,
        model_id,
        m.n,
        m.blob,
        m.index,
        rows,
        new_buckets=profiles,
        fail_whole=fail_whole,
        outputs=m.outputs,
    )


def stage(s: Session, writes: list[Write | LoopwiseError]) -> None:
    """Make each model's ``PackedGroup`` for a write group, before the write lock (``Write.staged``).

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
        shared: dict[int, tuple[GroupProfile, int]] = {}
        for w in group:
            p = w.prepared()
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
            if sum(len(w.prepared().ids) for w in group) != len(seen) or len(keys) < sum(
                w.idempotency_key is not None for w in group
            ):
                continue  # ids or keys repeated inside the group: left to the write itself
            if any(count != sp.size for sp, count in shared.values()):
                continue
            for sp, _ in shared.values():
                for key, profile in sp.parts.items():
                    ready[key].append(profile)
            preps = [w.prepared() for w in group]
            try:
                table = (
                    preps[0].table
                    if len(preps) == 1
                    else concat_tables([p.table for p in preps]).combine_chunks()
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                continue
            group[0].staged = pack_group(
                s,
                preps[0].schema,
                table,
                [e for p in preps for e in p.ids],
                np.concatenate([p.ts for p in preps]),
                [v for p in preps for v in p.versions],
                ready,
                tuple(id(w) for w in group),
            )
