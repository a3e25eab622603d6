"""The small encodings format 3 of a profile uses (decision 0037): histogram counts in the narrowest unsigned
width that holds them, and a JSON header written by orjson.

A backfilled bucket of 114 rows wrote 30 histograms of 1,040 int64 counts (0.3 MB before zstd), nearly all
zeros and none above 114; in one byte each they are an eighth of it, and zstd has an eighth to compress.
orjson writes the header (about 900 values a bucket) a tenth as slowly as the standard library's encoder, but
writes NaN and infinities as ``null``: a header is written by it only when its output holds no ``null`` at
all (format 3 leaves absent values out rather than writing ``null``), and by the standard library otherwise,
whose ``NaN`` and ``Infinity`` read back as they were.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

#: Width code (bytes per count) -> little-endian dtype.
_WIDTHS = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<i8"}
_LIMITS = ((1, 0xFF), (2, 0xFFFF), (4, 0xFFFFFFFF))
#: The dtype of each width, for a writer that converts many arrays of one width (``as_width`` without a call
#: each).
WIDTH_DTYPES = _WIDTHS

_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def narrow(counts: np.ndarray) -> tuple[int, bytes]:
    """``counts`` (int64) as bytes of the narrowest width that holds them all, and the width: int64 (8) when
    one is negative or past 32 bits.

    Example:
        >>> w, data = narrow(np.array([0, 3, 255]))
        >>> w, widen(data, w).tolist()
        (1, [0, 3, 255])
        >>> narrow(np.array([0, 256]))[0], narrow(np.array([-1, 2]))[0]
        (2, 8)
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    # One reduction: seen as unsigned, a negative count is past every limit.
    top = int(counts.view(np.uint64).max()) if counts.size else 0
    for width, limit in _LIMITS:
        if top <= limit:
            return width, counts.astype(_WIDTHS[width]).tobytes()
    return 8, counts.astype("<i8", copy=False).tobytes()


def widths(top: np.ndarray) -> np.ndarray:
    """The narrowest width (1, 2, 4 or 8 bytes) that holds counts whose largest is ``top``, elementwise (a
    negative ``top``: 8).

    Example:
        >>> widths(np.array([0, 255, 256, 70_000, 2**33, -1])).tolist()
        [1, 1, 2, 4, 8, 8]
    """
    top = np.asarray(top, dtype=np.int64)
    out = np.full(top.shape, 8, dtype=np.int64)
    for width, limit in reversed(_LIMITS):
        out[(top >= 0) & (top <= limit)] = width
    return out


def width_of(top: int) -> int:
    """The narrowest width (1, 2, 4 or 8 bytes) that holds non-negative counts of at most ``top``.

    Example:
        >>> [width_of(t) for t in (0, 255, 256, 70_000, 2**33)]
        [1, 1, 2, 4, 8]
    """
    for width, limit in _LIMITS:
        if 0 <= top <= limit:
            return width
    return 8


def as_width(counts: np.ndarray, width: int) -> bytes:
    """``counts`` as bytes of ``width``, which must hold them (at least ``narrow``'s width for them)."""
    return counts.astype(_WIDTHS[width], copy=False).tobytes()


def counts_state(
    counts: np.ndarray, width: int | None = None
) -> tuple[int, tuple[int, int] | None, list[bytes]]:
    """How a histogram's counts are stored (format 5, decision 0051): their width, whether sparse, and the
    blobs. ``width`` is the narrowest that holds them when the caller knows it (else found here).

    Sparse (the second item is then the number of non-zero bins and the width of their gaps, else None):
    the non-zero bins as gaps (the first bin's index, then each one's distance from the one before) in the
    narrowest width that holds the largest, then their counts in ``width``; whenever ``nonzero * (gap width
    + width) < counts.size * width``, the one rule every writer follows (``profiles.grouped`` decides it for
    a batch's cells at once). A backfilled bucket's cell (114 values in 1,040 bins) stores about 230 bytes
    instead of 1,040, and zstd has that much less to compress; gaps, mostly small, compress as well as the
    zeros did where indices did not.

    Example:
        >>> width, sparse, blobs = counts_state(np.array([0, 0, 7, 0, 0, 0, 0, 300]))
        >>> width, sparse, widen(blobs[0], 1).tolist(), widen(blobs[1], width).tolist()
        (2, (2, 1), [2, 5], [7, 300])
        >>> counts_state(np.array([1, 2, 3]))[1] is None
        True
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if width is None:
        width = width_of(int(counts.view(np.uint64).max()) if counts.size else 0)
    nonzero = int(np.count_nonzero(counts))
    if nonzero * (1 + width) >= counts.size * width:  # not smaller even with gaps of a byte
        return width, None, [as_width(counts, width)]
    at = np.flatnonzero(counts)
    gaps = at.copy()
    gaps[1:] -= at[:-1]
    gap_width = width_of(int(gaps.max()) if gaps.size else 0)
    if nonzero * (gap_width + width) < counts.size * width:
        return width, (nonzero, gap_width), [as_width(gaps, gap_width), as_width(counts[at], width)]
    return width, None, [as_width(counts, width)]


def check_sparse(gaps: bytes, values: bytes, size: int, width: int, gap_width: int) -> None:
    """Raise a ValueError unless ``sparse_counts`` can read these: as many gaps as counts, in known widths,
    every bin within ``size`` (the gaps' sum, without decoding them)."""
    step = _WIDTHS.get(gap_width)
    if step is None or width not in _WIDTHS:
        raise ValueError(f"unknown count width {gap_width!r} or {width!r}")
    n = len(values) // width
    if len(values) != n * width or len(gaps) != n * gap_width:
        raise ValueError("sparse histogram bins do not match their counts")
    if gap_width == 1:
        last = sum(gaps) if n else -1  # a byte string sums in C, faster than NumPy for a few dozen
    else:
        steps = np.frombuffer(gaps, dtype=step)
        if gap_width == 8 and bool((steps < 0).any()):
            raise ValueError("sparse histogram bins pass the histogram")
        last = int(steps.sum(dtype=np.uint64)) if n else -1
    if last >= size:
        raise ValueError("sparse histogram bins pass the histogram")


def sparse_counts(gaps: bytes, values: bytes, size: int, width: int, gap_width: int) -> np.ndarray:
    """The ``size`` int64 counts that ``counts_state`` stored sparse (``gaps`` of their bins in ``gap_width``,
    ``values`` in ``width``); a ValueError if they do not fit (more gaps than counts, a bin past the last).
    Like dense counts, what fits is taken as stored (a profile file has no checksum).

    Example:
        >>> sparse_counts(bytes([2, 5]), bytes([7, 1]), 8, 1, 1).tolist()
        [0, 0, 7, 0, 0, 0, 0, 1]
    """
    step, value = _WIDTHS.get(gap_width), _WIDTHS.get(width)
    if step is None or value is None:
        raise ValueError(f"unknown count width {gap_width!r} or {width!r}")
    n = len(values) // width
    if len(values) != n * width or len(gaps) != n * gap_width:
        raise ValueError("sparse histogram bins do not match their counts")
    counts = np.zeros(size, dtype=np.int64)
    if n:
        steps = np.frombuffer(gaps, dtype=step)
        at = np.cumsum(steps)  # unsigned widths: increasing; an int64 gap may not be negative
        if int(at[-1]) >= size or (gap_width == 8 and bool((steps < 0).any())):
            raise ValueError("sparse histogram bins pass the histogram")
        counts[at] = np.frombuffer(values, dtype=value)
    return counts


def widen(data: bytes, width: int) -> np.ndarray:
    """The int64 counts ``narrow`` wrote in ``width`` bytes each."""
    dtype = _WIDTHS.get(width)
    if dtype is None:
        raise ValueError(f"unknown count width {width!r}")
    return np.frombuffer(data, dtype=dtype).astype(np.int64)


def dump_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, exactly as it reads back: by orjson unless that wrote a ``null`` (a
    NaN or an infinity it cannot write, or a real None) or refused the value (a key that is not a string, an
    integer past 64 bits), then by the standard library.

    Example:
        >>> dump_json({"a": [1, 2.5, "é"]}).decode()
        '{"a":[1,2.5,"é"]}'
        >>> dump_json({"x": float("nan")}).decode()
        '{"x":NaN}'
    """
    try:
        out = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        out = b"null"
    if b"null" not in out:
        return out
    return _STDLIB.encode(value).encode("utf-8")


def load_json(data: bytes) -> Any:
    """JSON written by ``dump_json`` (or by the standard library: ``NaN`` and ``Infinity`` included).

    Example:
        >>> load_json(b'{"x":NaN,"y":[1]}')
        {'x': nan, 'y': [1]}
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8"))


__all__ = [
    "WIDTH_DTYPES",
    "as_width",
    "check_sparse",
    "counts_state",
    "dump_json",
    "load_json",
    "narrow",
    "sparse_counts",
    "widen",
    "width_of",
    "widths",
]
