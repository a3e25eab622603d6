"""Versioned binary form of a Profile: no pickle, and files written today load in later versions.

Layout: ``b"LWPF"``, the format version (uint16, little-endian), flags (uint16),
then the compressed body: header length (uint32), a JSON header, and the
binary blobs (DataSketches' own serializations and little-endian NumPy
arrays) in the order the header lists their lengths. Flags 0: the body is a
zlib stream (the first files were written so). Flag bit 0: the body is
Zstandard, preceded by its decompressed size (uint64); four times faster to
write, which matters because the server rewrites a bucket's profile per batch.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pyarrow as pa

from loopwise.errors import ProfileFormatError
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile
from loopwise.profiles.profile import ColumnProfile, Profile, ProfileOptions
from loopwise.profiles.task import ClassificationProfile, RegressionProfile
from loopwise.schema import Schema

MAGIC = b"LWPF"
ZSTD = 1
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHH")

_KINDS: dict[str, type[Any]] = {
    "numeric": NumericProfile,
    "categorical": CategoricalProfile,
    "boolean": BooleanProfile,
    "text": TextProfile,
    "datetime": DatetimeProfile,
}


def dumps(profile: Profile) -> bytes:
    blobs: list[bytes] = []
    header = _encode(profile, blobs)
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body = struct.pack("<I", len(head)) + head + b"".join(blobs)
    packed: bytes = pa.compress(body, codec="zstd", asbytes=True)
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, ZSTD) + struct.pack("<Q", len(body)) + packed


def loads(data: bytes) -> Profile:
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
        header = json.loads(body[4 : 4 + head_len].decode("utf-8"))
        cursor = [4 + head_len]
        profile = _decode(header, body, cursor)
    except ProfileFormatError:
        raise
    except Exception as exc:  # any failure below means the bytes are damaged
        raise ProfileFormatError(
            f"the profile is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    if cursor[0] != len(body):
        raise ProfileFormatError("the profile has trailing bytes; it is corrupt")
    return profile


def _encode(profile: Profile, blobs: list[bytes]) -> dict[str, Any]:
    columns = {}
    for name, col in profile.columns.items():
        meta, col_blobs = col.to_state()
        columns[name] = {"kind": col.kind.value, "meta": meta, "blobs": [len(b) for b in col_blobs]}
        blobs.extend(col_blobs)
    task = None
    if profile.task is not None:
        meta, task_blobs = profile.task.to_state()
        task = {"kind": profile.task.task, "meta": meta, "blobs": [len(b) for b in task_blobs]}
        blobs.extend(task_blobs)
    segments = {
        seg: {key: _encode(sub, blobs) for key, sub in values.items()}
        for seg, values in profile.segments.items()
    }
    o = profile.options
    return {
        "task": task,
        "n": profile.n,
        "schema": profile.schema.to_dict(),
        "options": {"kll_k": o.kll_k, "bins": o.bins, "category_cap": o.category_cap},
        "columns": columns,
        "segment_columns": list(profile.segment_columns),
        "segments": segments,
    }


def _take(body: bytes, cursor: list[int], sizes: list[int]) -> list[bytes]:
    out = []
    for size in sizes:
        start = cursor[0]
        if start + size > len(body):
            raise ProfileFormatError("the profile is truncated")
        out.append(body[start : start + size])
        cursor[0] = start + size
    return out


def _decode(header: dict[str, Any], body: bytes, cursor: list[int]) -> Profile:
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
    segments = {
        seg: {key: _decode(sub, body, cursor) for key, sub in values.items()}
        for seg, values in header["segments"].items()
    }
    profile = Profile(
        task=task,
        schema=Schema.from_dict(header["schema"]),
        columns=columns,
        n=int(header["n"]),
        segment_columns=tuple(header["segment_columns"]),
        segments=segments,
        options=ProfileOptions(**header["options"]),
    )
    profile.anchors = profile.edges()
    return profile
