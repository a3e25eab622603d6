"""The profiles of a batch's groups (``profiles.grouped``) written from the batch's arrays, their column
profiles made only when read (decision 0054).

A backfill's batch makes a bucket per hour its rows fall in (44 for 5,000 rows spread over a year), each
with its segments' profiles: 3,300 column profiles a batch, each an object or four, then turned into a dict
for the header, written once and never read in that request. Here a group's profile (``Pending``) holds its
batch and its index; its columns and segments are made from the batch when first read (``columns``,
``segments``), and ``to_bytes`` of one not read writes the header from the batch's per-cell numbers
(``ColumnCells.entry``: each column's entry rendered as ``serialize`` writes it) and the blobs from the
slices the batch converted once. The bytes are those ``serialize.dumps`` writes for the same profile, byte
for byte (tests/profiles/test_grouped_write.py holds it over random batches): the header's floats are
written by orjson (as ``compact.dump_json`` writes them), and a header whose JSON would hold ``null`` (a
NaN or an infinity among its moments, or a category named so, which ``dump_json`` writes with the standard
library) is written by ``dumps`` from the profile's objects instead. A backfill's classifier cells (no
label in the batch) are written from their blocks' counts and made when read (``grouped_tasks.Unlabelled``);
other task profiles are made with the batch (their counts come from one pass over it) and written by their
own ``to_state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

from loopwise.profiles.grouped_tasks import Unlabelled
from loopwise.profiles.profile import MISSING_SEGMENT, ColumnProfile, Profile, ProfileOptions
from loopwise.profiles.task import TaskProfile
from loopwise.schema import Schema


class ColumnCells(Protocol):
    """One column's profiles in every cell of a batch, found at once (``profiles.grouped``)."""

    kind: bytes

    def profile(self, c: int) -> ColumnProfile:
        """Cell ``c``'s column profile (a new object each call)."""
        ...

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        """Cell ``c``'s entry in the header (``{"kind":...,"meta":...,"blobs":[...]}``, the meta naming the
        edge set ``edges``, JSON, where it has a histogram) and its blobs, as ``serialize`` writes them."""
        ...


@dataclass
class Cells:
    """A batch's groups (cells ``0..groups-1``) and their segments' cells: the column profiles of every cell
    (``columns``), the task profile of each with rows (made with the batch), each cell's rows, and the
    segment columns: (column, keys, first cell), a group's key ``k`` in cell ``first + group * len(keys) +
    k``; ``firsts``: each cell's first row, which orders a group's segments (as ``Profile.update`` adds
    them)."""

    schema: Schema
    options: ProfileOptions
    anchors: dict[str, np.ndarray]
    segment_columns: tuple[str, ...]
    columns: dict[str, ColumnCells]
    tasks: dict[int, TaskProfile]
    unlabelled: Unlabelled | None  # in place of ``tasks``: a binary classifier's cells without labels
    sizes: list[int]
    segments: list[tuple[str, list[str], int]]
    firsts: list[int]
    names: _Names | None = None  # what its profiles' headers share, found when the first is written

    def present(self, g: int) -> list[tuple[str, list[tuple[str, int]]]]:
        """Group ``g``'s segments: each segment column's (key, cell) with rows, in ``Profile.update``'s
        order (by first row, the missing value last)."""
        out = []
        for seg, keys, first in self.segments:
            base = first + g * len(keys)
            here = [k for k in range(len(keys)) if self.sizes[base + k]]
            here.sort(key=lambda k: (keys[k] == MISSING_SEGMENT, self.firsts[base + k]))
            out.append((seg, [(keys[k], base + k) for k in here]))
        return out

    def columns_of(self, c: int) -> dict[str, ColumnProfile]:
        return {name: cells.profile(c) for name, cells in self.columns.items()}

    def task(self, c: int) -> TaskProfile | None:
        """Cell ``c``'s task profile (made now, when the batch's cells are ``unlabelled``)."""
        if self.unlabelled is not None:
            return self.unlabelled.profile(c)
        return self.tasks.get(c)


class Pending(Profile):
    """Group ``g``'s profile of a batch: its columns and segments made from the batch when first read, and
    written from the batch's arrays while they have not been (``to_bytes``)."""

    def __init__(self, batch: Cells, g: int) -> None:
        # Not ``Profile.__init__``: ``columns``, ``segments`` and ``task`` are left unset until read.
        self.__dict__.update(
            schema=batch.schema,
            n=batch.sizes[g],
            segment_columns=batch.segment_columns,
            options=batch.options,
            anchors=batch.anchors,
            chunks=None,
            _batch=batch,
            _group=g,
        )

    # ``task`` has a class default (None), so it is not found by ``__getattr__``: a property, made when read.
    @property
    def task(self) -> TaskProfile | None:
        if "task" not in self.__dict__:
            self.__dict__["task"] = self._batch.task(self._group)
        task: TaskProfile | None = self.__dict__["task"]
        return task

    @task.setter
    def task(self, value: TaskProfile | None) -> None:
        self.__dict__["task"] = value

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set: ``columns`` and ``segments`` until read, made then.
        if name == "columns":
            self.__dict__["columns"] = self._batch.columns_of(self._group)
            return self.__dict__["columns"]
        if name == "segments":
            batch = self._batch
            segments: dict[str, dict[str, Profile]] = {}
            for seg, present in batch.present(self._group):
                segments[seg] = {}
                for key, c in present:
                    sub = Profile(
                        batch.schema,
                        batch.columns_of(c),
                        batch.sizes[c],
                        options=batch.options,
                        anchors=batch.anchors,
                    )
                    sub.task = batch.task(c)
                    segments[seg][key] = sub
            self.__dict__["segments"] = segments
            return segments
        raise AttributeError(name)

    def unread(self) -> bool:
        """Whether neither its columns nor its segments were read (or set): the batch still holds them."""
        return "columns" not in self.__dict__ and "segments" not in self.__dict__

    def to_bytes(self, *, edges_out: dict[str, np.ndarray] | None = None) -> bytes:
        if edges_out is not None and self.unread():
            data = write(self, edges_out)
            if data is not None:
                return data
        return super().to_bytes(edges_out=edges_out)


def write(p: Pending, edges_out: dict[str, np.ndarray]) -> bytes | None:
    """The bytes ``serialize.dumps(p, edges_out=edges_out)`` writes, from the batch's arrays; None where the
    header is not written so (a ``null`` in it, a segment key that is not a string): ``dumps`` then."""
    from loopwise.profiles.serialize import EXTERNAL_EDGES, pack

    batch: Cells = p._batch
    if (
        p.chunks is not None
        or p.segment_columns != batch.segment_columns
        or p.schema is not batch.schema
        or p.options != batch.options
    ):
        return None
    names = batch.names = batch.names or _names(batch)
    fingerprints: dict[str, bytes] = {}
    for name, (_key, edges, fp) in names.fingerprints.items():
        edges_out[fp] = edges
        fingerprints[name] = _key
    blobs: list[bytes] = []
    head = [b'{"n":%d' % p.n]
    task_blobs = (
        _task(p.__dict__["task"], head) if "task" in p.__dict__ else _cell_task(batch, p._group, head)
    )
    head.append(names.whole)
    _columns(batch, p._group, names, fingerprints, head, blobs)
    blobs.extend(task_blobs)
    head.append(b"},")
    head.append(names.segment_columns)
    head.append(b',"segments":{')
    for i, (seg, present) in enumerate(batch.present(p._group)):
        head.append(b"%b%b:{" % (b"," if i else b"", orjson.dumps(seg)))
        for j, (key, c) in enumerate(present):
            if not isinstance(key, str):
                return None
            head.append(b'%b%b:{"n":%d' % (b"," if j else b"", orjson.dumps(key), batch.sizes[c]))
            sub_blobs = _cell_task(batch, c, head)
            head.append(b',"columns":{')
            _columns(batch, c, names, fingerprints, head, blobs)
            blobs.extend(sub_blobs)
            head.append(b'},"segment_columns":[],"segments":{}}')
        head.append(b"}")
    head.append(b"}}")
    header = b"".join(head)
    if b"null" in header:  # ``dump_json`` would write this header with the standard library
        return None
    return pack(header, blobs, EXTERNAL_EDGES)


def _task(task: TaskProfile | None, head: list[bytes]) -> list[bytes]:
    if task is None:
        return []
    meta, blobs = task.to_state()
    head.append(b',"task":')
    head.append(orjson.dumps({"kind": task.task, "meta": meta, "blobs": [len(b) for b in blobs]}))
    return blobs


def _cell_task(batch: Cells, c: int, head: list[bytes]) -> list[bytes]:
    if batch.unlabelled is None:
        return _task(batch.tasks.get(c), head)
    entry, blobs = batch.unlabelled.entry(c)
    head.append(b',"task":')
    head.append(entry)
    return blobs


def _columns(
    batch: Cells,
    c: int,
    names: _Names,
    fingerprints: Mapping[str, bytes],
    head: list[bytes],
    blobs: list[bytes],
) -> None:
    first = True
    for name, cells in batch.columns.items():
        entry, col_blobs = cells.entry(c, fingerprints.get(name))
        head.append(names.keys[name] if first else names.next_keys[name])
        head.append(entry)
        blobs.extend(col_blobs)
        first = False


@dataclass
class _Names:
    """What every profile of a batch writes alike: each column's key, each edge set's fingerprint, the
    whole's schema and options."""

    keys: dict[str, bytes]
    next_keys: dict[str, bytes]
    fingerprints: dict[str, tuple[bytes, np.ndarray, str]]
    whole: bytes
    segment_columns: bytes


def _names(batch: Cells) -> _Names:
    from loopwise.profiles.histogram import fingerprint
    from loopwise.profiles.serialize import _schema_dict

    keys = {name: orjson.dumps(name) + b":" for name in batch.columns}
    fps = {}
    for name, cells in batch.columns.items():
        hist = getattr(cells, "hist", None)
        if hist is not None:
            fp = fingerprint(hist.edges)
            fps[name] = (orjson.dumps(fp), hist.edges, fp)
    o = batch.options
    options = {
        "kll_k": o.kll_k,
        "bins": o.bins,
        "category_cap": o.category_cap,
        "discrete_cap": o.discrete_cap,
    }
    schema = orjson.dumps(_schema_dict(batch.schema))
    whole = b',"schema":%b,"options":%b,"columns":{' % (schema, orjson.dumps(options))
    return _Names(
        keys,
        {name: b"," + key for name, key in keys.items()},
        fps,
        whole,
        b'"segment_columns":' + orjson.dumps(list(batch.segment_columns)),
    )


__all__ = ["Cells", "ColumnCells", "Pending", "write"]
