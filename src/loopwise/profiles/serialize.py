"""Versioned binary form of a Profile: no pickle, and files written today load in later versions.

Layout: ``b"LWPF"``, the format version (uint16, little-endian), flags (uint16),
then the compressed body: header length (uint32), a JSON header, and the
binary blobs (DataSketches' own serializations and little-endian NumPy
arrays) in the order the header lists their lengths. Flags 0: the body is a
zlib stream (the first files were written so). Flag bit 0: the body is
Zstandard, preceded by its decompressed size (uint64); four times faster to
write, which matters because the server rewrites a bucket's profile per batch.
Flag bit 1: numeric histograms' edges are not in the body but named by their
fingerprint (``meta["edges"]``); the reader is given them (``loads(data, edges=...)``).
The server keeps each edge set once (a reference's 30 x 1,001 edges were about
two thirds of every stored bucket), not once per bucket.

Format version 2 adds the reference's chunks (``profile(..., chunk_size=N)``):
``header["chunks"]``, with their blobs after all the others; a version 1 file
reads as a profile without chunks.

Format version 3 (decision 0037), written since: the same layout, in fewer bytes and
less time. A segment's profile does not repeat the schema and options of the
profile it is part of; numeric histograms' counts and a classifier's score
histograms are stored in the narrowest unsigned width that holds them
(``meta["width"]``, ``meta["widths"]``), a classifier's other counts as int64
(not float64); absent values are left out, not written as ``null``; and the
header is written by orjson when that writes it exactly (``profiles.compact``).
Versions 1 and 2 are still read; readers before version 3 refuse a version 3 file
with "written by a newer loopwise".

Format version 4 (decision 0043), written since: a numeric column's KLL sketch is not
stored while it holds exactly the values its atoms count (at most ``kll_k`` finite
values, every one counted: ``meta["kll"] = "atoms"``, and the column's blobs start at
the histogram's); the reader makes the sketch from the atoms when it is first asked for.
A backfilled bucket's cells (114 rows an hour, 28 a segment) stored their values twice.
Versions 1 to 3 are still read; readers of version 3 refuse a version 4 file with
"written by a newer loopwise".

Format version 5 (decision 0051), written since: a numeric column's histogram counts are
stored sparse where that is smaller (``meta["nz"]``: how many bins are not zero and the
width of their gaps; the bins' gaps, then their counts in ``meta["width"]``, in place of
the counts blob; ``compact.counts_state``), and its atoms' counts in the
narrowest width that holds them (``meta["atom_width"]``, absent for int64). A backfilled
bucket's 35 histograms (114 values in 1,040 bins) were two fifths of its body before zstd.
Versions 1 to 4 are still read; readers of version 4 refuse a version 5 file with
"written by a newer loopwise".
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from loopwise.errors import ProfileFormatError
from loopwise.profiles import chunks as chunk_state
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.compact import dump_json, load_json
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile
from loopwise.profiles.profile import ColumnProfile, Profile, ProfileOptions
from loopwise.profiles.task import ClassificationProfile, RegressionProfile
from loopwise.schema import Schema

MAGIC = b"LWPF"
ZSTD = 1
EXTERNAL_EDGES = 2
FORMAT_VERSION = 5
_PREFIX = struct.Struct("<4sHH")

_KINDS: dict[str, type[Any]] = {
    "numeric": NumericProfile,
    "categorical": CategoricalProfile,
    "boolean": BooleanProfile,
    "text": TextProfile,
    "datetime": DatetimeProfile,
}


def dumps(profile: Profile, *, edges_out: dict[str, np.ndarray] | None = None) -> bytes:
    """The profile's bytes; with ``edges_out``, histogram edges go there (by fingerprint) instead."""
    blobs: list[bytes] = []
    header = _encode(profile, blobs, edges_out, whole=True)
    if profile.chunks is not None:
        header["chunks"], chunk_blobs = chunk_state.to_state(profile.chunks)
        blobs.extend(chunk_blobs)
    return pack(dump_json(header), blobs, EXTERNAL_EDGES if edges_out is not None else 0)


def pack(head: bytes, blobs: list[bytes], flags: int) -> bytes:
    """A profile's bytes from its header's JSON and its blobs (``dumps``, and ``profiles.grouped_write``,
    which writes a batch's headers without ``_encode``); ``flags``: 0 or ``EXTERNAL_EDGES``."""
    body = b"".join([struct.pack("<I", len(head)), head, *blobs])
    packed: bytes = pa.compress(body, codec="zstd", asbytes=True)
    return b"".join([_PREFIX.pack(MAGIC, FORMAT_VERSION, ZSTD | flags), struct.pack("<Q", len(body)), packed])


def external_edges(data: bytes) -> bool:
    """Whether ``data`` names its histogram edges by fingerprint (written with ``edges_out``)."""
    return len(data) >= _PREFIX.size and bool(_PREFIX.unpack_from(data)[2] & EXTERNAL_EDGES)


def decompressed_size(data: bytes, cap: int) -> int:
    """The size of ``data``'s body once decompressed, or ``cap + 1`` if more: read before ``loads`` by one
    who must bound what a profile from outside costs (a megabyte of zstd declares gigabytes).

    Example:
        >>> import loopwise as lw
        >>> import pandas as pd
        >>> data = lw.profile(pd.DataFrame({"x": [1.0, 2.0]})).to_bytes()
        >>> 0 < decompressed_size(data, 10**9) <= 10**9
        True
    """
    if len(data) < _PREFIX.size or data[:4] != MAGIC:
        return 0  # not a profile: ``loads`` says so
    flags = _PREFIX.unpack_from(data)[2]
    if flags & ZSTD:
        if len(data) < _PREFIX.size + 8:
            return 0
        return min(int(struct.unpack_from("<Q", data, _PREFIX.size)[0]), cap + 1)
    d = zlib.decompressobj()
    try:
        return len(d.decompress(data[_PREFIX.size :], cap + 1))
    except zlib.error:
        return 0


def loads(data: bytes, *, edges: Callable[[str], np.ndarray] | None = None) -> Profile:
    """The profile in ``data``; ``edges`` gives the edge set of a fingerprint when the edges are external."""
    if len(data) < _PREFIX.size or data[:4] != MAGIC:
        raise ProfileFormatError("not a loopwise profile (the file does not start with the LWPF magic bytes)")
    _magic, version, flags = _PREFIX.unpack_from(data)
    if version > FORMAT_VERSION:
        raise ProfileFormatError(
            f"profile format version {version} was written by a newer loopwise; "
            f"this version reads formats up to {FORMAT_VERSION}"
        )
    try:
        if flags & ZSTD:
            (size,) = struct.unpack_from("<Q", data, _PREFIX.size)
            body = pa.decompress(data[_PREFIX.size + 8 :], decompressed_size=size, codec="zstd", asbytes=True)
        else:
            body = zlib.decompress(data[_PREFIX.size :])
        (head_len,) = struct.unpack_from("<I", body)
        header = load_json(body[4 : 4 + head_len])
        cursor = [4 + head_len]
        if flags & EXTERNAL_EDGES and edges is None:
            raise ProfileFormatError("the profile's histogram edges are stored apart; pass edges= to read it")
        profile = _decode(header, body, cursor, edges, None)
        if header.get("chunks") is not None:
            profile.chunks = chunk_state.from_state(
                header["chunks"], lambda sizes: _take(body, cursor, sizes)
            )
            _check_chunks(profile)
    except ProfileFormatError:
        raise
    except Exception as exc:  # any failure below means the bytes are damaged
        raise ProfileFormatError(
            f"the profile is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    if cursor[0] != len(body):
        raise ProfileFormatError("the profile has trailing bytes; it is corrupt")
    return profile


def check(data: bytes) -> None:
    """Raise ``ProfileFormatError`` unless ``data`` is well formed: the prefix, the compressed body, the
    header, and blobs that fill the body exactly. Much cheaper than ``loads`` (nothing is decoded), for one
    who passes stored bytes on as they are."""
    if len(data) < _PREFIX.size + 8 or data[:4] != MAGIC:
        raise ProfileFormatError("not a loopwise profile (the file does not start with the LWPF magic bytes)")
    _magic, version, flags = _PREFIX.unpack_from(data)
    if version > FORMAT_VERSION or not flags & ZSTD:
        raise ProfileFormatError(f"profile format version {version}, flags {flags}: not checked here")
    try:
        (size,) = struct.unpack_from("<Q", data, _PREFIX.size)
        body = pa.decompress(data[_PREFIX.size + 8 :], decompressed_size=size, codec="zstd", asbytes=True)
        (head_len,) = struct.unpack_from("<I", body)
        header = load_json(body[4 : 4 + head_len])
        total = 4 + head_len + _blob_bytes(header)
    except Exception as exc:  # any failure means the bytes are damaged
        raise ProfileFormatError(
            f"the profile is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    if header.get("chunks") is None and total != len(body):  # a reference's chunks are not summed here
        raise ProfileFormatError("the profile's blobs do not fill its body; it is corrupt")


def _blob_bytes(header: dict[str, Any]) -> int:
    total = sum(sum(entry["blobs"]) for entry in header["columns"].values())
    if header.get("task"):
        total += sum(header["task"]["blobs"])
    for values in header["segments"].values():
        total += sum(_blob_bytes(sub) for sub in values.values())
    return int(total)


def _check_chunks(profile: Profile) -> None:
    """Chunk counts must fit the whole's histograms (they are counts on its edges)."""
    assert profile.chunks is not None
    for name, cc in profile.chunks.columns.items():
        col = profile.columns.get(name)
        if cc.kind in ("numeric", "text"):
            num = col.lengths if isinstance(col, TextProfile) else col
            if not isinstance(num, NumericProfile) or num.hist is None:
                raise ProfileFormatError(f"chunks of column {name!r} have no histogram to belong to")
            if cc.counts.shape[1] != num.hist.edges.size + 1:
                raise ProfileFormatError(f"chunks of column {name!r} do not match its histogram")


def _encode(
    profile: Profile,
    blobs: list[bytes],
    edges_out: dict[str, np.ndarray] | None,
    *,
    whole: bool,
    names: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The header of ``profile`` (its blobs appended to ``blobs``); a segment's (not ``whole``) leaves out
    the schema and options, which are its whole's. ``names``: the fingerprint of each edge array met so far
    in this profile, by ``id`` (its segments share the whole's arrays: named once, not once a cell)."""
    columns = {}
    names = {} if names is None else names
    for name, col in profile.columns.items():
        if edges_out is not None and type(col) is NumericProfile and col.hist is not None:
            meta, col_blobs = col.to_state(edges=False)  # the edges are kept apart
            edges = col.hist.edges
            key = names.get(id(edges))
            if key is None:
                key = names[id(edges)] = col.hist.key
                edges_out[key] = edges
            meta["edges"] = key
        else:
            meta, col_blobs = col.to_state()
        kind = _KIND_NAMES.get(type(col)) or col.kind.value  # the enum's value, looked up once per class
        columns[name] = {"kind": kind, "meta": meta, "blobs": list(map(len, col_blobs))}
        blobs.extend(col_blobs)
    header: dict[str, Any] = {"n": profile.n}
    if profile.task is not None:
        meta, task_blobs = profile.task.to_state()
        header["task"] = {"kind": profile.task.task, "meta": meta, "blobs": list(map(len, task_blobs))}
        blobs.extend(task_blobs)
    if whole:
        o = profile.options
        header["schema"] = _schema_dict(profile.schema)
        header["options"] = {
            "kll_k": o.kll_k,
            "bins": o.bins,
            "category_cap": o.category_cap,
            "discrete_cap": o.discrete_cap,
        }
    header["columns"] = columns
    header["segment_columns"] = list(profile.segment_columns)
    header["segments"] = {
        seg: {key: _encode(sub, blobs, edges_out, whole=False, names=names) for key, sub in values.items()}
        for seg, values in profile.segments.items()
    }
    return header


_KIND_NAMES: dict[type[Any], str] = {cls: kind for kind, cls in _KINDS.items()}


_SCHEMAS: dict[str, Schema] = {}
_SCHEMA_DICTS: dict[int, tuple[Schema, dict[str, Any]]] = {}


def _schema_dict(schema: Schema) -> dict[str, Any]:
    """``schema.to_dict()``, remembered per schema object (immutable): a bucket's profile and each of its
    segments write the same one, a backfill thousands of times."""
    hit = _SCHEMA_DICTS.get(id(schema))
    if hit is None or hit[0] is not schema:
        if len(_SCHEMA_DICTS) >= 64:
            _SCHEMA_DICTS.clear()
        hit = _SCHEMA_DICTS[id(schema)] = (schema, schema.to_dict())
    return hit[1]


def _schema(spec: dict[str, Any]) -> Schema:
    """``Schema.from_dict``, remembered: the parts of a bucket, and every segment of a profile, repeat one
    schema (reading it was an eighth of reading a one-event part). Schemas are immutable."""
    key = json.dumps(spec, separators=(",", ":"))
    schema = _SCHEMAS.get(key)
    if schema is None:
        schema = Schema.from_dict(spec)
        if len(_SCHEMAS) >= 64:
            _SCHEMAS.clear()
        _SCHEMAS[key] = schema
    return schema


def _take(body: bytes, cursor: list[int], sizes: list[int]) -> list[bytes]:
    out = []
    for size in sizes:
        start = cursor[0]
        if start + size > len(body):
            raise ProfileFormatError("the profile is truncated")
        out.append(body[start : start + size])
        cursor[0] = start + size
    return out


def _decode(
    header: dict[str, Any],
    body: bytes,
    cursor: list[int],
    edges: Callable[[str], np.ndarray] | None,
    whole: Profile | None,
) -> Profile:
    """The profile of ``header``; a segment's (``whole`` given) takes the whole's schema and options where
    its header has none (format 3)."""
    columns: dict[str, ColumnProfile] = {}
    for name, entry in header["columns"].items():
        blobs = []
        for size in entry["blobs"]:
            start = cursor[0]
            if start + size > len(body):
                raise ProfileFormatError("the profile is truncated")
            blobs.append(body[start : start + size])
            cursor[0] = start + size
        cls = _KINDS.get(entry["kind"])
        if cls is None:
            raise ProfileFormatError(f"column {name!r} has an unknown profile kind {entry['kind']!r}")
        if "edges" in entry["meta"]:
            if edges is None or cls is not NumericProfile:
                raise ProfileFormatError(
                    f"column {name!r} names edge set {entry['meta']['edges']} but none given"
                )
            try:
                edge_set = edges(entry["meta"]["edges"])
            except KeyError:
                raise ProfileFormatError(
                    f"column {name!r} needs edge set {entry['meta']['edges']}, which is not stored"
                ) from None
            # The looked-up array itself, not a copy: every part of a model's buckets shares its edges.
            columns[name] = NumericProfile.from_state(
                entry["meta"], blobs, edges=np.asarray(edge_set, dtype=np.float64)
            )
        else:
            columns[name] = cls.from_state(entry["meta"], blobs)
    task = None
    if header.get("task"):  # absent in files written before task profiles existed
        entry = header["task"]
        blobs = _take(body, cursor, entry["blobs"])
        kinds: dict[str, type[Any]] = {
            "classification": ClassificationProfile,
            "regression": RegressionProfile,
        }
        if entry["kind"] not in kinds:
            raise ProfileFormatError(f"unknown task profile kind {entry['kind']!r}")
        task = kinds[entry["kind"]].from_state(entry["meta"], blobs)
    if whole is not None and "schema" not in header:
        schema, options = whole.schema, whole.options
    else:
        schema, options = _schema(header["schema"]), ProfileOptions(**header["options"])
    profile = Profile(
        task=task,
        schema=schema,
        columns=columns,
        n=int(header["n"]),
        segment_columns=tuple(header["segment_columns"]),
        segments={},
        options=options,
    )
    profile.segments = {
        seg: {key: _decode(sub, body, cursor, edges, profile) for key, sub in values.items()}
        for seg, values in header["segments"].items()
    }
    profile.anchors = profile.edges()
    return profile
