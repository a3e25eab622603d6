"""A change reported only when two kinds of detector agree on where it began (decisions 0050, 0057).

``Consensus`` runs four detectors on the same stream: a BOCPD with its defaults (the **primary**: AR(1) runs,
or a Beta-Bernoulli run on a 0/1 stream), and three that **confirm**: a BOCPD with a local linear trend per
run (``model="trend"``), ADWIN and KSWIN, each with its defaults. When the primary alarms, its change point
is held; it becomes the consensus's alarm (with the primary's change point) as soon as one of the confirming
detectors places a change point within ``window`` values of it: one it placed before, or one it places
while the alarm is held. A held alarm is dropped ``hold`` values after the primary raised it. On a 0/1
stream (the primary's warm-up held only 0 and 1: a Beta-Bernoulli run) the confirming detectors, which model
numbers, are not asked: the primary's alarms are the consensus's.

With ``proposers="bocpd+trend"`` (the default since decision 0057) the trend BOCPD proposes too: its alarms'
change points are held the same way and kept when ADWIN or KSWIN (a detector with no run model) places one
within ``window`` values; a confirmed change point within ``window`` of one the consensus reported already
is the same change, not reported again. It adds the changes of slope only the trend BOCPD places (a climb
that turns). ``proposers="bocpd"`` is decision 0050's rule.

Why: the detectors err in different ways. BOCPD cuts long climbs (a price) where nobody would mark a
change; the trend BOCPD reads slow swings of autocorrelated noise as trends; ADWIN and KSWIN see only
changes of the mean (and KSWIN only large ones). A change two of these
models place at the same value is more often a change. Measured (bench/RESULTS.md, decision 0050): on the
TCPD series river ships the primary alone scores 0.652 F1, the consensus 0.698 with ``proposers="bocpd"``
and 0.727 with both (0.716 and 0.752 with one set per series, ``MultiStream``); on generated piecewise series
both keep the primary's F1 within 0.01.

The members are fixed (their defaults); their alarms are not the consensus's. ``update_many`` hands the
members the whole array at once (their own fast paths); the members' detections beyond the consensus's first
alarm wait in a queue (part of the state) until the consensus gets there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.adwin import ADWIN
from loopwise.detectors.base import SEGMENT_CAP, Detector, positive
from loopwise.detectors.bocpd import BOCPD
from loopwise.detectors.kswin import KSWIN
from loopwise.errors import DataError, ParameterError

#: At most this many confirming (and reported) change points are remembered (the most recent).
_CONFIRM_CAP = 256
#: Who may propose: BOCPD alone (decision 0050), or also the trend BOCPD (decision 0057).
PROPOSERS = ("bocpd", "bocpd+trend")
#: Which members confirm a proposer's change point: BOCPD's by any other; the trend BOCPD's by a detector with
#: no run model (ADWIN, KSWIN), since the AR(1) BOCPD's change points near it are already proposals.
_BY = {0: (1, 2, 3), 1: (2, 3)}


def _members() -> list[Detector]:
    """The primary first, then the confirming detectors."""
    return [BOCPD(), BOCPD(model="trend"), ADWIN(), KSWIN()]


class Consensus(Detector):
    """BOCPD's alarms confirmed by a trend BOCPD, ADWIN or KSWIN within ``window`` values, and the trend
    BOCPD's confirmed by ADWIN or KSWIN (``proposers="bocpd+trend"``; module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 300), rng.normal(2, 1, 300)])
    >>> Consensus().update_many(x, with_change_points=True)
    (array([329]), array([300]))
    """

    kind = "consensus"
    _whole_slices = True
    format_version = 2

    def __init__(self, window: int = 10, hold: int = 500, proposers: str = "bocpd+trend") -> None:
        positive("window", window, integer=True, zero=True)
        positive("hold", hold, integer=True, zero=True)
        if proposers not in PROPOSERS:
            raise ParameterError("proposers", proposers, PROPOSERS)
        self.window = int(window)
        self.hold = int(hold)
        self.proposers = proposers
        super().__init__()

    def params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {"window": self.window, "hold": self.hold, "proposers": self.proposers}

    def members(self) -> list[Detector]:
        """The detectors it runs (the primary first), as they stand: read-only use."""
        return list(self._members)

    # -- the rule ------------------------------------------------------------------------------------------

    def _restart(self) -> None:
        self._members = _members()
        # Members' detections not yet reached by the consensus: (value index, member, change point).
        self._queue: list[tuple[int, int, int]] = []
        # Held proposals: (change point, the value it was proposed at, its proposer).
        self._pending: list[tuple[int, int, int]] = []
        self._confirms: list[tuple[int, int]] = []  # change points that may confirm: (change point, member)
        self._reported: list[int] = []  # the change points reported ("bocpd+trend": one change reported once)
        self._carry = False  # a confirmed held point is left to report at the next value

    @property
    def _primary(self) -> BOCPD:
        primary = self._members[0]
        assert isinstance(primary, BOCPD)
        return primary

    def _after_detection(self) -> None:
        """The members go on; held and confirming change points stay."""

    def _feed(self, chunk: npt.NDArray[np.float64]) -> None:
        """Hand the members the values of ``chunk`` they have not seen (they may be ahead of the consensus
        within one ``update_many``), queueing their detections."""
        ahead = self._members[0].n - self._n
        if ahead >= len(chunk):
            return
        if self._primary.run_model == "bernoulli":
            # Refused before any member sees a value, so that the members stay in step (BOCPD's message).
            bad = np.flatnonzero((chunk[ahead:] < 0.0) | (chunk[ahead:] > 1.0))
            if bad.size:
                at = ahead + int(bad[0])
                raise DataError(
                    f"Consensus's primary BOCPD runs a bernoulli model (its warm-up held only 0 and 1) and"
                    f" takes values in [0, 1]; got {float(chunk[at])!r} (value {self._n + at}"
                    " since it began; pass a numeric stream to another detector)"
                )
        start = self._members[0].n
        found: list[tuple[int, int, int]] = []
        for i, member in enumerate(self._members):
            hits, points = member.update_many(chunk[ahead:], with_change_points=True)
            found += [(start + int(h), i, start + int(p)) for h, p in zip(hits, points, strict=True)]
        self._queue += sorted(found)

    def _decide(self, t: int) -> bool:
        """Whether the value at ``t`` (its members' detections taken) raises the consensus's alarm."""
        fresh = False
        trend = self.proposers == "bocpd+trend"
        while self._queue and self._queue[0][0] == t:
            _, member, point = self._queue.pop(0)
            if member == 0 or (trend and member == 1):
                self._pending.append((point, t, member))
            if member != 0:
                self._confirms.append((point, member))
            fresh = True
        if not (fresh or self._carry):
            return False
        self._pending = [(p, a, m) for p, a, m in self._pending if t - a <= self.hold]
        self._confirms = [(q, k) for q, k in self._confirms if q >= t - SEGMENT_CAP][-_CONFIRM_CAP:]
        alone = self._primary.run_model == "bernoulli"  # a 0/1 stream: the others model numbers
        confirmed = sorted(
            (p, m)
            for p, _, m in self._pending
            if (m == 0 and alone)
            or (not alone and any(abs(p - q) <= self.window for q, k in self._confirms if k in _BY[m]))
        )
        if trend:  # a change placed by both proposers is one change: the later confirmed is dropped
            same = [(p, m) for p, m in confirmed if any(abs(p - r) <= self.window for r in self._reported)]
            self._pending = [(p, a, m) for p, a, m in self._pending if (p, m) not in same]
            confirmed = [c for c in confirmed if c not in same]
        if not confirmed:
            self._carry = False
            return False
        first = confirmed[0]
        self._pending = [(p, a, m) for p, a, m in self._pending if (p, m) != first]
        self._carry = len(confirmed) > 1
        self._change_point = first[0]
        if trend:
            self._reported = [r for r in self._reported if r >= t - SEGMENT_CAP][-_CONFIRM_CAP + 1 :]
            self._reported.append(first[0])
        return True

    def _step(self, x: float) -> bool:
        self._feed(np.array([x]))
        return self._decide(self._n)

    def _run(self, chunk: npt.NDArray[np.float64]) -> int:
        self._feed(chunk)
        start = self._n
        for i in range(len(chunk)):
            if self._decide(start + i):
                self._n = start + i + 1
                self._drift_detected = True
                return i + 1
            if not self._carry and (not self._queue or self._queue[0][0] >= start + len(chunk)):
                break  # nothing happens in the rest of the chunk
        self._n = start + len(chunk)
        return len(chunk)

    # -- state ---------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            f"member_{i}": np.frombuffer(m.to_bytes(), dtype=np.uint8) for i, m in enumerate(self._members)
        }
        state["queue"] = np.asarray(self._queue, dtype=np.int64).reshape(-1, 3)
        state["pending"] = np.asarray(self._pending, dtype=np.int64).reshape(-1, 3)
        state["confirms"] = np.asarray(self._confirms, dtype=np.int64).reshape(-1, 2)
        state["reported"] = np.asarray(self._reported, dtype=np.int64)
        state["carry"] = self._carry
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        members = []
        for i, expected in enumerate(_members()):
            member = Detector.from_bytes(bytes(state[f"member_{i}"]))
            if type(member) is not type(expected) or member.params() != expected.params():
                raise DataError(f"Consensus state: member {i} is not a {type(expected).__name__} as expected")
            members.append(member)
        self._members = members
        self._queue = [(int(t), int(m), int(p)) for t, m, p in state["queue"].reshape(-1, 3)]
        self._pending = [(int(p), int(a), int(m)) for p, a, m in state["pending"].reshape(-1, 3)]
        self._confirms = [(int(q), int(k)) for q, k in state["confirms"].reshape(-1, 2)]
        self._reported = [int(r) for r in state["reported"]]
        self._carry = bool(state["carry"])

    @classmethod
    def _read_older(
        cls, version: int, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Format 1 (decision 0050): only BOCPD proposed, and a confirming change point's member was not
        kept (any confirmed BOCPD's). It resumes as it was written: ``proposers="bocpd"``."""
        if version != 1:
            return super()._read_older(version, params, state)
        pending = np.asarray(state["pending"], dtype=np.int64).reshape(-1, 2)
        confirms = np.asarray(state["confirms"], dtype=np.int64).reshape(-1)
        state = dict(state)
        state["pending"] = np.column_stack((pending, np.zeros(len(pending), dtype=np.int64)))
        state["confirms"] = np.column_stack((confirms, np.ones(len(confirms), dtype=np.int64)))
        state["reported"] = np.empty(0, dtype=np.int64)
        return {**params, "proposers": "bocpd"}, state
