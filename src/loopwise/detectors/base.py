"""The shape every change detector shares: river's (``update``, ``drift_detected``, ``reset``), plus the index
where the change is thought to begin, a vectorised ``update_many`` and a versioned, pickle-free state.

Samples are numbered from 0 in the order a detector saw them since it was made or ``reset()``; a detection
restarts the detector's statistics on the next sample (as river's detectors do) but never that count, so a
``change_point`` read after a restart from ``to_bytes`` still names the same sample.
"""

from __future__ import annotations

import abc
import inspect
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, overload

import numpy as np
import numpy.typing as npt

from loopwise.errors import DataError, LoopwiseError, ParameterError, UnknownNameError

#: The first bytes of a detector's state, then the format version (big-endian u16) and the header's length.
MAGIC = b"LWDT"
#: The newest format any detector writes (each writes its class's ``format_version``; decision 0057).
FORMAT_VERSION = 2
_PREFIX = struct.Struct(">4sHI")

#: First and largest slice ``update_many`` hands a vectorised detector: the work past a detection in a
#: slice is thrown away, so slices start small and double while nothing fires.
_FIRST_SLICE = 1024
_LARGEST_SLICE = 1 << 20

#: How a detector says where a change began: its own estimate (river's: ADWIN's cut, CUSUM's last reset, ...)
#: or the best split of the values since its last restart (see ``Detector.locate``).
LOCATES = ("split", "native")
#: Values kept for ``locate="split"``: the most recent of the current segment.
SEGMENT_CAP = 10_000
#: Fewest values on either side of a split.
MIN_SIDE = 5
#: What values a detector takes (``Detector.takes``): any finite number, a number in [0, 1], or 0 and 1 only.
TAKES = ("numbers", "unit", "binary")

Indices = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Sensitivity:
    """The parameter that sets a detector's sensitivity, the range ``calibrate`` searches, and which way
    gives more alarms. ``relative``: the range is in units of the reference's spread (its standard deviation),
    for a parameter in data units (Page-Hinkley's threshold)."""

    parameter: str
    low: float
    high: float
    more_alarms: Literal["higher", "lower"]
    scale: Literal["log", "linear"] = "log"
    relative: bool = False


class Detector(abc.ABC):
    """A streaming change detector: feed values one at a time (``update``) or as an array (``update_many``).

    ``drift_detected`` is true right after the value that raised the alarm and false again after the next
    ``update`` (which first restarts the detector's statistics); ``change_point`` is the index of the sample
    where the detector thinks the change began (kept until the next detection); ``n`` counts the samples seen.
    """

    #: The name a detector's class is stored under in ``to_bytes`` (and found by in ``from_bytes``).
    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type[Detector]]] = {}
    #: "split": at an alarm, ``change_point`` is the split of the values since the last restart (at most the
    #: last ``SEGMENT_CAP``) that best separates two means (the largest ``k (n - k) / n (mean₁ - mean₂)²``,
    #: at least ``MIN_SIDE`` values a side); "native": the detector's own estimate. Detections are the same.
    locate: str = "native"
    #: The parameter ``calibrate`` sets from a reference stream (None: nothing to calibrate).
    sensitivity: ClassVar[Sensitivity | None] = None
    #: The format of the state this kind writes; a kind that changes its state's layout raises it and reads
    #: the older ones in ``_read_older``.
    format_version: ClassVar[int] = 1
    #: Whether ``_run`` stops at the first alarm without wasted work (a compiled loop): ``update_many`` then
    #: hands it all the values left rather than slices that double.
    _whole_slices: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            Detector._kinds[cls.kind] = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> Detector:
        """Refuse arguments the constructor does not take with a ParameterError naming the argument and the
        valid ones (Python's own TypeError says neither which detector nor what it takes)."""
        if args or kwargs:
            _check_arguments(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(self) -> None:
        if self.locate not in LOCATES:
            raise ParameterError("locate", self.locate, LOCATES)
        self._n = 0
        self._drift_detected = False
        self._change_point: int | None = None
        self._clear_segment()
        self._restart()

    # -- what a caller reads -------------------------------------------------------------------------------

    @property
    def drift_detected(self) -> bool:
        """Whether the last value seen raised an alarm."""
        return self._drift_detected

    @property
    def change_point(self) -> int | None:
        """Index of the sample where the last detected change is thought to begin (None before any)."""
        return self._change_point

    @property
    def n(self) -> int:
        """Samples seen since the detector was made or ``reset()``."""
        return self._n

    @property
    def takes(self) -> str:
        """What values it takes (one of ``TAKES``): ``"numbers"`` (any finite number), ``"unit"`` (in [0, 1])
        or ``"binary"`` (0 or 1: an error stream). A value outside raises a DataError."""
        return "numbers"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    # -- feeding -------------------------------------------------------------------------------------------

    def update(self, x: float) -> None:
        """Feed one value."""
        v = self._check_value(x)
        if self._drift_detected:
            self._after_detection()
            self._clear_segment()
            self._drift_detected = False
        self._drift_detected = self._step(v)
        self._n += 1
        if self.locate == "split":
            self._tail.append(v)
            if len(self._tail) >= 1024:
                self._flush()
            if self._drift_detected:
                self._split()

    @overload
    def update_many(self, values: npt.ArrayLike, *, with_change_points: Literal[False] = ...) -> Indices: ...

    @overload
    def update_many(
        self, values: npt.ArrayLike, *, with_change_points: Literal[True]
    ) -> tuple[Indices, Indices]: ...

    def update_many(self, values: npt.ArrayLike, *, with_change_points: bool = False) -> Any:
        """Feed every value of a 1-d array, in order; the same as ``update`` on each, only faster.

        Returns the positions in ``values`` at which ``drift_detected`` became true; with
        ``with_change_points=True`` also each detection's ``change_point``, counted from the same start (so
        negative when the change began before ``values``).
        """
        arr = self._check_values(values)
        start = self._n
        hits: list[int] = []
        points: list[int] = []
        pos, size = 0, _FIRST_SLICE
        while pos < len(arr):
            if self._drift_detected:
                self._after_detection()
                self._clear_segment()
                self._drift_detected = False
            chunk = arr[pos:] if self._whole_slices else arr[pos : pos + size]
            used = self._run(chunk)
            if self.locate == "split":
                self._flush(chunk[:used])
            pos += used
            if self._drift_detected:
                if self.locate == "split":
                    self._split()
                hits.append(pos - 1)
                points.append(-1 if self._change_point is None else self._change_point - start)
                size = max(_FIRST_SLICE, 2 * used)
            else:
                size = min(2 * size, _LARGEST_SLICE)
        idx = np.asarray(hits, dtype=np.int64)
        if with_change_points:
            return idx, np.asarray(points, dtype=np.int64)
        return idx

    def reset(self) -> None:
        """Forget everything seen: the same detector as a new one with the same parameters."""
        self._n = 0
        self._drift_detected = False
        self._change_point = None
        self._clear_segment()
        self._restart()

    # -- where a change began ------------------------------------------------------------------------------

    def _clear_segment(self) -> None:
        self._segment = np.empty(0)
        self._tail: list[float] = []

    def _flush(self, more: npt.NDArray[np.float64] | None = None) -> None:
        parts = [self._segment, np.asarray(self._tail, dtype=np.float64)]
        if more is not None:
            parts.append(more)
        self._segment = np.concatenate(parts)[-SEGMENT_CAP:]
        self._tail = []

    def _split(self) -> None:
        """Set ``change_point`` to the best split of the segment (kept as it is when the segment is short)."""
        self._flush()
        x = self._segment
        n = len(x)
        if n < 2 * MIN_SIDE:
            return
        sums = np.cumsum(x - x[0])
        k = np.arange(MIN_SIDE, n - MIN_SIDE + 1)
        left = sums[k - 1]
        gap = left / k - (sums[-1] - left) / (n - k)
        best = int(k[int(np.argmax(k * (n - k) / n * gap * gap))])
        self._change_point = self._n - n + best

    # -- what a detector implements ------------------------------------------------------------------------

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor's arguments: ``type(d)(**d.params())`` is a fresh detector like ``d``."""

    @abc.abstractmethod
    def _restart(self) -> None:
        """Forget the statistics (not ``n`` nor ``change_point``): after a detection, and at construction."""

    def _after_detection(self) -> None:
        """What the value after a detection finds first: by default (river's) the statistics start again."""
        self._restart()

    @abc.abstractmethod
    def _step(self, x: float) -> bool:
        """Take sample number ``self._n``; return whether it raises an alarm (then set ``_change_point``)."""

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        """Take a prefix of ``chunk`` up to and including the first alarm; return its length.

        Sets ``_drift_detected`` and advances ``_n``. This default loops over ``_step``; a detector whose
        recursion allows it does the same with array operations (and must reach the same state).
        """
        for i, x in enumerate(chunk.tolist()):
            fired = self._step(x)
            self._n += 1
            if fired:
                self._drift_detected = True
                return i + 1
        return len(chunk)

    @abc.abstractmethod
    def _state(self) -> dict[str, Any]:
        """The statistics as JSON-able scalars (floats may be inf) and NumPy arrays."""

    @abc.abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None:
        """Set the statistics from what ``_state`` gave (arrays come back as NumPy arrays)."""

    @classmethod
    def _read_older(
        cls, version: int, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The parameters and state of an older format of this kind, as the current format has them."""
        raise DataError(f"{cls.__name__} state of format {version} is not read by this loopwise")

    # -- input checks --------------------------------------------------------------------------------------

    def _check_value(self, x: Any) -> float:
        if isinstance(x, (str, bytes)):  # float("0.5") would take a string a caller did not mean to feed
            raise DataError(f"{type(self).__name__} takes numbers; got {x!r}")
        try:
            v = float(x)
        except (TypeError, ValueError):
            raise DataError(f"{type(self).__name__} takes numbers; got {x!r}") from None
        if not math.isfinite(v):
            raise DataError(f"{type(self).__name__} takes finite numbers; got {v}")
        return v

    def _check_values(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{type(self).__name__}.update_many takes an array of numbers") from None
        if arr.ndim != 1:
            raise DataError(f"{type(self).__name__}.update_many takes a 1-d array; got shape {arr.shape}")
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise DataError(f"{type(self).__name__} takes finite numbers; got {arr[bad]} at position {bad}")
        return arr

    # -- state on disk -------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The detector (parameters and state) as bytes that ``Detector.from_bytes`` reads back.

        Layout: ``LWDT``, the format version (u16) and the header's length (u32), big-endian; a UTF-8 JSON
        header (kind, parameters, scalar state, and the dtype and shape of each array); the arrays' raw
        little-endian bytes in the header's order. No pickle: reading runs no code from the bytes.
        """
        scalars: dict[str, Any] = {"n": self._n, "drift_detected": self._drift_detected}
        scalars["change_point"] = self._change_point
        arrays: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        self._flush()
        for name, value in {**self._state(), "_segment": self._segment}.items():
            if isinstance(value, np.ndarray):
                a = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
                arrays.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape)})
                blobs.append(a.tobytes())
            else:
                scalars[name] = value
        header = {"kind": self.kind, "params": self.params(), "state": scalars, "arrays": arrays}
        head = json.dumps(header, separators=(",", ":")).encode()
        return _PREFIX.pack(MAGIC, self.format_version, len(head)) + head + b"".join(blobs)

    @classmethod
    def from_bytes(cls, data: bytes) -> Detector:
        """The detector ``to_bytes`` wrote, ready to take the next value where it stopped. Called on a kind
        (``ADWIN.from_bytes``), a state of another kind is refused; ``Detector.from_bytes`` reads any."""
        if len(data) < _PREFIX.size or data[:4] != MAGIC:
            raise DataError("not a loopwise detector state (it does not start with LWDT)")
        _, version, length = _PREFIX.unpack_from(data)
        if version > FORMAT_VERSION:
            raise DataError(f"detector state of format {version} is newer than this loopwise reads")
        try:
            header = json.loads(data[_PREFIX.size : _PREFIX.size + length])
            found = Detector._kinds.get(header["kind"])
            if found is None:
                raise UnknownNameError("detector", header["kind"], sorted(Detector._kinds))
            if not issubclass(found, cls):
                raise DataError(
                    f"the state is of {_article(found.__name__)} {found.__name__} detector, not "
                    f"{cls.__name__}; read it with Detector.from_bytes"
                )
            if version > found.format_version:
                raise DataError(
                    f"{found.__name__} state of format {version} is newer than this loopwise reads"
                    f" (format {found.format_version})"
                )
            params = dict(header["params"])
            state = dict(header["state"])
            pos = _PREFIX.size + length
            for spec in header["arrays"]:
                dtype = np.dtype(spec["dtype"])
                count = int(np.prod(spec["shape"], dtype=np.int64))
                end = pos + count * dtype.itemsize
                if end > len(data):
                    raise DataError("detector state is truncated")
                raw = np.frombuffer(data[pos:end], dtype=dtype).reshape(spec["shape"])
                state[spec["name"]] = raw.astype(dtype.newbyteorder("="))
                pos = end
            if pos != len(data):
                raise DataError("detector state has bytes after its last array")
            if version < found.format_version:
                params, state = found._read_older(version, params, state)
            try:
                detector = found(**params)
            except ParameterError as exc:  # parameters no loopwise writes: the bytes are not a state
                raise DataError(f"detector state is corrupt: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LoopwiseError):
                raise
            raise DataError(f"detector state is corrupt: {exc}") from None
        detector._n = int(state.pop("n"))
        detector._drift_detected = bool(state.pop("drift_detected"))
        cp = state.pop("change_point")
        detector._change_point = None if cp is None else int(cp)
        detector._segment = np.asarray(state.pop("_segment", np.empty(0)), dtype=np.float64)
        detector._load_state(state)
        return detector


def _check_arguments(cls: type[Detector], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    signature = inspect.signature(cls.__init__)
    names = [p for p in signature.parameters if p != "self"]
    valid = f"one of {cls.__name__}'s parameters ({', '.join(names) or 'it takes none'})"
    for key, value in kwargs.items():
        if key not in names:
            raise ParameterError(key, value, valid)
    try:
        signature.bind(None, *args, **kwargs)
    except TypeError as exc:  # too many positional arguments, or one given twice
        raise ParameterError(
            "arguments", list(args), f"{cls.__name__}'s parameters, in order ({', '.join(names)}): {exc}"
        ) from None


def _article(name: str) -> str:
    """The article before a detector's name, as it is read: an initialism by its letters (an ADWIN, an
    HDDM_A, a DDM), a word by its first letter (a MultiStream)."""
    initialism = name.split("_")[0].isupper()
    return "an" if name[0] in ("AEFHILMNORSX" if initialism else "AEIOU") else "a"


def running_extreme(
    values: npt.NDArray[np.float64],
    start: float,
    start_at: int,
    at: npt.NDArray[np.int64],
    better: Any,
    accumulate: Any,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The running extremum of ``values`` after ``start``, and the index of the sample that set it.

    A value sets a new extremum when ``better`` (``np.less``: strictly, the first of equal values keeps it, as
    a loop with ``if v < best`` would; ``np.less_equal``: the last of them).
    """
    best = accumulate.accumulate(np.concatenate(([start], values)))
    new = better(values, best[:-1])
    where = np.maximum.accumulate(np.where(new, at, -1))
    return best[1:], np.where(where >= 0, where, start_at)


def positive(name: str, value: float, *, integer: bool = False, zero: bool = False) -> None:
    """Raise ParameterError unless ``value`` is a positive (or, with ``zero``, non-negative) finite number."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if zero else value > 0)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "integer" if integer else "number"
        raise ParameterError(name, value, f"a {'non-negative' if zero else 'positive'} {kind}")


def in_open_unit(name: str, value: float, *, closed_right: bool = False) -> None:
    """Raise ParameterError unless ``0 < value < 1`` (``<= 1`` with ``closed_right``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and value > 0 and (value <= 1 if closed_right else value < 1)
    if not ok:
        raise ParameterError(name, value, f"a number in (0, 1{']' if closed_right else ')'}")
