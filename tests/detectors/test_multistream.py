"""MultiStream: a member detector per stream of a row, a change reported once when its streams place change
points within ``window`` values. Checked against each member run alone on its column, and the detector
contract (update_many = a loop of update, states written mid-stream resume, reset, bad input)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests._fixtures import bernoulli, piecewise

from loopwise.detectors import ADWIN, BOCPD, DDM, Consensus, Detector, MultiStream
from loopwise.errors import DataError, ParameterError


def rows(seed: int = 4, length: int = 2400) -> np.ndarray:
    """Three streams: changes at 600 and 1,800 in all three (a little apart), one at 1,200 in the first
    only, and the third stream on another scale."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (length, 3))
    x[600:, 0] += 2.0
    x[603:, 1] -= 1.5
    x[598:, 2] += 3.0
    x[1200:, 0] -= 3.0
    x[1800:, :] += np.array([2.0, 2.0, -2.0])
    x[:, 2] = 100 + 10 * x[:, 2]
    return x


FAST: dict[str, Any] = {"member": "adwin", "params": {"delta": 0.05, "clock": 4}}


def expected(values: np.ndarray, make: Any, window: int) -> tuple[list[int], list[int]]:
    """Each stream's member run alone; its detections in order of alarm (then stream); a change point
    within ``window`` of one reported earlier is the same change, else it is reported at its alarm, or on
    the next row when a change was reported on that row already (the earlier change point first)."""
    events = []
    for j in range(values.shape[1]):
        alarms, points = make().update_many(values[:, j], with_change_points=True)
        events += [(int(a), int(p)) for a, p in zip(alarms, points, strict=True)]
    hits: list[int] = []
    reported: list[int] = []
    for a, p in sorted(events):
        if any(abs(p - r) <= window for r in reported):
            continue
        hits.append(max(a, hits[-1] + 1) if hits else a)
        reported.append(p)
    return hits, reported


def looped(detector: MultiStream, values: np.ndarray) -> list[tuple[int, int | None, tuple[int, ...]]]:
    out = []
    for i, row in enumerate(values):
        detector.update(row)
        if detector.drift_detected:
            out.append((i, detector.change_point, detector.streams))
    return out


@pytest.mark.parametrize("window", [10, 0])
def test_a_change_seen_in_several_streams_is_reported_once(window: int) -> None:
    values = rows()
    hits, points = expected(values, lambda: ADWIN(delta=0.05, clock=4), window)
    idx, cps = MultiStream(**FAST, window=window).update_many(values, with_change_points=True)
    assert (idx.tolist(), cps.tolist()) == (hits, points)
    per_stream = sum(len(ADWIN(delta=0.05, clock=4).update_many(values[:, j])) for j in range(3))
    if window == 10:
        assert len(hits) < per_stream  # the merge did drop repeated changes
        assert sum(abs(p - 600) <= 10 for p in points) == 1  # the change near 600, in all three, once


def test_one_stream_is_the_member_alone() -> None:
    values = piecewise(5, [0, 1.5, -1, 1, 3], length=500)
    alone = Consensus().update_many(values, with_change_points=True)
    multi = MultiStream().update_many(values[:, None], with_change_points=True)
    assert len(alone[0]) >= 3
    assert (multi[0].tolist(), multi[1].tolist()) == (alone[0].tolist(), alone[1].tolist())


def test_with_consensus_members_update_many_is_a_loop_of_update_and_resumes() -> None:
    values = rows(length=1500)
    batched = MultiStream()
    idx, cps = batched.update_many(values, with_change_points=True)
    one = MultiStream()
    got = looped(one, values)
    assert len(got) >= 2
    assert [(i, p) for i, p, _ in got] == list(zip(idx.tolist(), cps.tolist(), strict=True))
    assert batched.to_bytes() == one.to_bytes()
    first = MultiStream()
    first.update_many(values[:700])
    resumed = Detector.from_bytes(first.to_bytes())
    later = (resumed.update_many(values[700:]) + 700).tolist()
    assert later == [i for i in idx.tolist() if i >= 700]
    assert resumed.to_bytes() == batched.to_bytes()


def test_update_many_is_a_loop_of_update() -> None:
    values = rows()
    one = MultiStream(**FAST)
    got = looped(one, values)
    assert len(got) >= 3
    batched = MultiStream(**FAST)
    idx, cps = batched.update_many(values, with_change_points=True)
    assert [(i, p) for i, p, _ in got] == list(zip(idx.tolist(), cps.tolist(), strict=True))
    assert batched.to_bytes() == one.to_bytes()
    assert (batched.drift_detected, batched.change_point, batched.streams) == (
        one.drift_detected,
        one.change_point,
        one.streams,
    )
    pieced = MultiStream(**FAST)
    hits = []
    for lo, hi in [(0, 1), (1, 601), (601, 602), (602, 1900), (1900, len(values))]:
        hits += (pieced.update_many(values[lo:hi]) + lo).tolist()
    assert hits == idx.tolist()
    assert pieced.to_bytes() == one.to_bytes()


def test_two_changes_placed_on_one_row_are_reported_on_consecutive_rows() -> None:
    d = MultiStream(**FAST)
    d._members = [ADWIN(), ADWIN()]  # two streams; their detections injected below
    d._queue = [(5, 0, 1), (5, 1, 4), (5, 1, 40)]
    got = looped(d, np.zeros((8, 2)))
    assert got == [(5, 1, (0, 1)), (6, 40, (1,))]  # 1 and 4: one change (within 10), then 40


@pytest.mark.parametrize("stop", [0, 1, 599, 605, 1300])
def test_a_state_written_mid_stream_resumes_to_the_same_detections(stop: int) -> None:
    values = rows()
    whole = MultiStream(**FAST)
    got = looped(whole, values)
    first = MultiStream(**FAST)
    first.update_many(values[:stop])
    data = first.to_bytes()
    resumed = Detector.from_bytes(data)
    assert isinstance(resumed, MultiStream) and resumed.params() == first.params() and resumed.n == stop
    later = looped(resumed, values[stop:])
    assert [(i + stop, p, s) for i, p, s in later] == [g for g in got if g[0] >= stop]
    assert resumed.to_bytes() == whole.to_bytes()


def test_reset_gives_a_fresh_detector() -> None:
    used = MultiStream(**FAST)
    used.update_many(rows()[:1500])
    used.reset()
    assert used.n == 0 and used.change_point is None and not used.drift_detected and used.width is None
    assert used.to_bytes() == MultiStream(**FAST).to_bytes()
    used.update_many(np.zeros((3, 5)))  # a reset detector takes another width
    assert used.width == 5


def test_bad_rows_are_refused_naming_the_stream_and_change_nothing() -> None:
    d = MultiStream(**FAST)
    d.update_many(rows()[:100])
    before = d.to_bytes()
    with pytest.raises(DataError, match="stream 1, row 2"):
        d.update_many([[0, 0, 0], [0, 0, 0], [0, float("nan"), 0]])
    with pytest.raises(DataError, match="watches 3 streams; got rows of 2"):
        d.update([1.0, 2.0])
    with pytest.raises(DataError, match="2-d"):
        d.update_many([1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="a row"):
        d.update(1.0)
    with pytest.raises(DataError, match="numbers"):
        d.update(["a", "b", "c"])
    assert d.to_bytes() == before


def test_a_value_a_member_refuses_changes_no_member() -> None:
    errors = np.column_stack([bernoulli(3, [0.2], length=300), bernoulli(4, [0.2], length=300)])
    d = MultiStream(member=DDM)
    d.update_many(errors)
    before = d.to_bytes()
    with pytest.raises(DataError, match="stream 1: DDM takes 0"):
        d.update([0.0, 2.0])
    assert d.to_bytes() == before
    # A BOCPD whose warm-up turns out 0/1 in the middle of the rows: the members before it are put back.
    b = MultiStream(member="bocpd")
    mixed = np.column_stack([np.random.default_rng(5).normal(0, 1, 40), bernoulli(6, [0.3], length=40)])
    b.update_many(mixed[:10])
    before = b.to_bytes()
    bad = mixed[10:].copy()
    bad[-1, 1] = 2.0
    with pytest.raises(DataError, match="stream 1"):
        b.update_many(bad)
    assert b.to_bytes() == before
    b.update_many(mixed[10:])  # and it goes on as if the bad rows never came
    fresh = MultiStream(member="bocpd")
    fresh.update_many(mixed)
    assert b.to_bytes() == fresh.to_bytes()
    assert b.members()[1].run_model == "bernoulli"  # type: ignore[attr-defined]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ParameterError, match="member"):
        MultiStream(member="nope")
    with pytest.raises(ParameterError, match="member"):
        MultiStream(member="multistream")
    with pytest.raises(ParameterError, match="params"):
        MultiStream(member="adwin", params={"no_such": 1})
    with pytest.raises(ParameterError, match="window"):
        MultiStream(window=-1)
    assert MultiStream(member=BOCPD, params={"penalty": 3}).params() == {
        "member": "bocpd",
        "params": {"penalty": 3},
        "window": 10,
    }
