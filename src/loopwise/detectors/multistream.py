"""One detector for a series of several streams: a change reported once, however many streams show it
(decision 0057).

``MultiStream`` runs a member detector per stream (by default a ``Consensus``) and takes a row of numbers per
``update``, one per stream. When a member places a change point, it is the multi-stream detector's change,
unless a change point within ``window`` values of it was reported already: a change seen at 181, 182 and
183 in three sensors of a room is one change, reported when the first of them places it. TCPD's methods
are scored that way (one partition per series), and a monitor watching a group of columns wants one alarm
for one change, not one per column.

The members are independent; only the reporting is shared. ``update_many`` hands each member its whole
column (their own fast paths) and walks their detections in order.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import SEGMENT_CAP, Detector, Indices, positive
from loopwise.errors import DataError, ParameterError

#: At most this many reported change points are remembered (the most recent), to tell a change seen again.
_REPORTED_CAP = 256


def _member_class(member: Any) -> type[Detector]:
    if isinstance(member, type) and issubclass(member, Detector) and member.kind:
        member = member.kind
    kinds = {k: c for k, c in Detector._kinds.items() if k != MultiStream.kind}
    if not isinstance(member, str) or member not in kinds:
        raise ParameterError("member", member, sorted(kinds))
    return kinds[member]


class MultiStream(Detector):
    """A member detector per stream of a row; a change reported once when its streams place change points
    within ``window`` values of each other (module docstring).

    ``member``: a detector's kind (``"consensus"``, ``"bocpd"``, ...) or class; ``params``: its parameters.
    The number of streams is the length of the first row. ``stream`` says which stream placed the change
    last reported (``streams``: all that placed it at that value).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> rows = rng.normal(0, 1, (600, 3))
    >>> rows[300:, :2] += 2.0  # two of three streams change at 300
    >>> d = MultiStream()
    >>> d.update_many(rows, with_change_points=True)
    (array([329]), array([300]))
    >>> d.streams  # the second stream placed it first
    (1,)
    """

    kind = "multistream"
    _whole_slices = True
    _members: list[Detector]
    _queue: list[tuple[int, int, int]]  # members' detections not reached yet: (row, stream, change point)
    _new: list[tuple[int, int]]  # change points placed and not yet reported: (change point, stream)
    _reported: list[int]
    _streams: tuple[int, ...]

    def __init__(
        self, member: Any = "consensus", params: dict[str, Any] | None = None, window: int = 10
    ) -> None:
        cls = _member_class(member)
        if params is not None and not isinstance(params, dict):
            raise ParameterError("params", params, f"a mapping of {cls.__name__}'s parameters")
        try:
            cls(**(params or {}))
        except ParameterError as exc:  # the member's parameter, named as a key of ``params``
            raise ParameterError(f"params.{exc.name}", exc.value, exc.allowed) from None
        positive("window", window, integer=True, zero=True)
        self.member = cls.kind
        self.member_params = dict(params or {})
        self.window = int(window)
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {"member": self.member, "params": dict(self.member_params), "window": self.window}

    def members(self) -> list[Detector]:
        """The member detectors, one per stream, as they stand (none before the first row): read-only use."""
        return list(self._members)

    @property
    def takes(self) -> str:
        """What each stream's values may be: what the member detector takes."""
        return self._make().takes

    @property
    def width(self) -> int | None:
        """The number of streams (None before the first row)."""
        return len(self._members) or None

    @property
    def stream(self) -> int | None:
        """The stream whose change point was last reported (None before any)."""
        return self._streams[0] if self._streams else None

    @property
    def streams(self) -> tuple[int, ...]:
        """The streams that placed the change last reported, at the value it was reported."""
        return self._streams

    # -- feeding -------------------------------------------------------------------------------------------

    def update(self, x: Any) -> None:
        """Feed one row: a number per stream."""
        row = self._rows(x, ndim=1)
        self._drift_detected = False
        self._feed(row[None, :])
        self._drift_detected = self._decide(self._n)
        self._n += 1

    @overload
    def update_many(self, values: npt.ArrayLike, *, with_change_points: Literal[False] = ...) -> Indices: ...

    @overload
    def update_many(
        self, values: npt.ArrayLike, *, with_change_points: Literal[True]
    ) -> tuple[Indices, Indices]: ...

    def update_many(self, values: npt.ArrayLike, *, with_change_points: bool = False) -> Any:
        """Feed every row of a 2-d array (a row per value, a column per stream), in order; the same as
        ``update`` on each row. Returns the rows at which ``drift_detected`` became true (and, with
        ``with_change_points=True``, each detection's ``change_point``, counted from the same start)."""
        arr = self._rows(values, ndim=2)
        start, n = self._n, len(arr)
        hits: list[int] = []
        points: list[int] = []
        if n:
            self._feed(arr)
        i = 0
        while i < n:
            self._drift_detected = self._decide(start + i)
            if self._drift_detected:
                hits.append(i)
                points.append(-1 if self._change_point is None else self._change_point - start)
            nxt = i + 1
            if not self._new:  # nothing to report before the members' next detection
                nxt = max(nxt, min(n, self._queue[0][0] - start) if self._queue else n)
            if nxt > i + 1:
                self._drift_detected = False  # rows without a detection followed
            i = nxt
        self._n = start + n
        idx = np.asarray(hits, dtype=np.int64)
        if with_change_points:
            return idx, np.asarray(points, dtype=np.int64)
        return idx

    def _rows(self, values: npt.ArrayLike, *, ndim: int) -> npt.NDArray[np.float64]:
        what = "update takes a row (a 1-d array" if ndim == 1 else "update_many takes a 2-d array (a row"
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"MultiStream.{what} of numbers, one per stream)") from None
        if arr.ndim != ndim or arr.shape[-1] == 0:
            raise DataError(f"MultiStream.{what} of numbers, one per stream); got shape {arr.shape}")
        width = self.width
        if width is not None and arr.shape[-1] != width:
            raise DataError(f"MultiStream watches {width} streams; got rows of {arr.shape[-1]}")
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            where = f"stream {int(bad[-1])}" + (f", row {int(bad[0])}" if ndim == 2 else "")
            raise DataError(f"MultiStream takes finite numbers; got {arr[tuple(bad)]} at {where}")
        return arr

    def _feed(self, rows: npt.NDArray[np.float64]) -> None:
        """Hand each member its column, queueing their detections. A member that refuses its values (a
        0/1 detector given a 2, say) raises a DataError naming the stream, and no member has taken the
        rows."""
        members = self._members or [self._make() for _ in range(rows.shape[1])]
        unsure = []
        for j, member in enumerate(members):
            try:
                member._check_values(rows[:, j])
            except DataError as exc:
                raise DataError(f"stream {j}: {exc}") from None
            bocpd = _bocpd_of(member)
            if bocpd is not None and bocpd.run_model == "bernoulli":
                bad = np.flatnonzero((rows[:, j] < 0.0) | (rows[:, j] > 1.0))
                if bad.size:
                    raise DataError(
                        f"stream {j}: {type(member).__name__}'s BOCPD runs a bernoulli model (its warm-up"
                        f" held only 0 and 1) and takes values in [0, 1]; got {float(rows[bad[0], j])!r}"
                        f" at row {int(bad[0])}"
                    )
            elif bocpd is not None and bocpd.run_model is None:
                unsure.append(j)
        # Members whose run model is not chosen yet (a BOCPD's warm-up, which may turn out 0/1 and refuse a
        # later value) go first, with a copy of their state to go back to; the others take every value the
        # checks above let through.
        order = unsure + [j for j in range(len(members)) if j not in unsure]
        saved = {j: members[j].to_bytes() for j in unsure}
        start = self._n
        found: list[tuple[int, int, int]] = []
        for j in order:
            try:
                hits, points = members[j].update_many(rows[:, j], with_change_points=True)
            except DataError as exc:
                for k, data in saved.items():
                    members[k] = Detector.from_bytes(data)
                raise DataError(f"stream {j}: {exc}") from None
            found += [(start + int(h), j, start + int(p)) for h, p in zip(hits, points, strict=True)]
        self._members = members
        self._queue += sorted(found)

    def _make(self) -> Detector:
        return Detector._kinds[self.member](**self.member_params)

    def _decide(self, t: int) -> bool:
        """Whether row ``t`` (its members' detections taken) reports a change."""
        fresh: list[tuple[int, int]] = []
        while self._queue and self._queue[0][0] == t:
            _, j, point = self._queue.pop(0)
            fresh.append((point, j))
        self._new += fresh
        if not self._new:
            return False
        self._new = sorted(
            (p, j) for p, j in self._new if not any(abs(p - r) <= self.window for r in self._reported)
        )
        if not self._new:
            return False
        point = self._new[0][0]
        same = [(p, j) for p, j in self._new if abs(p - point) <= self.window]
        self._new = [c for c in self._new if c not in same]
        self._reported = [r for r in self._reported if r >= t - SEGMENT_CAP][-_REPORTED_CAP + 1 :]
        self._reported.append(point)
        self._change_point = point
        self._streams = tuple(sorted({j for _, j in same}))
        return True

    # -- what a detector implements ------------------------------------------------------------------------

    def _restart(self) -> None:
        self._members = []
        self._queue = []
        self._new = []
        self._reported = []
        self._streams = ()

    def _after_detection(self) -> None:
        """The members go on."""

    def _step(self, x: float) -> bool:
        raise DataError("MultiStream takes rows: update(row) with a number per stream")

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            f"member_{j}": np.frombuffer(m.to_bytes(), dtype=np.uint8) for j, m in enumerate(self._members)
        }
        state["width"] = len(self._members)
        state["queue"] = np.asarray(self._queue, dtype=np.int64).reshape(-1, 3)
        state["new"] = np.asarray(self._new, dtype=np.int64).reshape(-1, 2)
        state["reported"] = np.asarray(self._reported, dtype=np.int64)
        state["streams"] = np.asarray(self._streams, dtype=np.int64)
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        members = []
        for j in range(int(state["width"])):
            member = Detector.from_bytes(bytes(state[f"member_{j}"]))
            if member.kind != self.member or member.params() != self._make().params():
                raise DataError(f"MultiStream state: member {j} is not a {self.member} with its parameters")
            members.append(member)
        self._members = members
        self._queue = [(int(t), int(j), int(p)) for t, j, p in state["queue"].reshape(-1, 3)]
        self._new = [(int(p), int(j)) for p, j in state["new"].reshape(-1, 2)]
        self._reported = [int(r) for r in state["reported"]]
        self._streams = tuple(int(j) for j in state["streams"])


def _bocpd_of(member: Detector) -> Any:
    """The BOCPD whose run model decides which values ``member`` takes (itself, or a consensus's primary)."""
    from loopwise.detectors.bocpd import BOCPD
    from loopwise.detectors.consensus import Consensus

    if isinstance(member, Consensus):
        member = member.members()[0]
    return member if isinstance(member, BOCPD) else None
