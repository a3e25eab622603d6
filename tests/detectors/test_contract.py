"""What every detector promises, whatever its recursion: ``update_many`` is a loop of ``update`` (same
detections, same change points, same state after), a state written mid-stream resumes to the same later
detections, ``reset`` is a fresh detector, and bad input is one named error."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tests._fixtures import bernoulli, piecewise

from loopwise.detectors import (
    ADWIN,
    BOCPD,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    Consensus,
    Detector,
    PageHinkley,
)
from loopwise.errors import DataError, ParameterError

#: Each detector with parameters that make it fire several times on their stream (a detector that never
#: fires would pass these tests without showing anything).
FACTORIES: dict[str, Callable[[], Detector]] = {
    "page_hinkley": lambda: PageHinkley(threshold=8.0, delta=0.05),
    "page_hinkley_default": PageHinkley,
    "cusum": CUSUM,
    "cusum_fixed": lambda: CUSUM(target=0.0, sigma=1.0, h=6.0),
    "adwin": ADWIN,
    "adwin_fast": lambda: ADWIN(delta=0.05, clock=4),
    "kswin": lambda: KSWIN(alpha=0.001),
    "bocpd": BOCPD,
    "bocpd_trend": lambda: BOCPD(model="trend"),
    "consensus": Consensus,
}

#: The error-stream detectors take 0/1 values: a stream of errors whose rate rises and falls.
ERROR_FACTORIES: dict[str, Callable[[], Detector]] = {
    "ddm": DDM,
    "eddm": EDDM,
    "hddm_a": lambda: HDDM_A(two_sided_test=True),
    "hddm_w": lambda: HDDM_W(two_sided_test=True),
    "bocpd_bernoulli": BOCPD,  # a 0/1 warm-up: the Beta-Bernoulli run model
    "consensus_bernoulli": Consensus,
}
FACTORIES.update(ERROR_FACTORIES)

#: Detectors whose ``update_many`` adds in another order than ``update``: the same detections, and states
#: equal to 1e-9 rather than to the bit. None since the compiled loops (decision 0040): every one to the bit.
INEXACT: set[str] = set()


def assert_same_state(name: str, a: Detector, b: Detector) -> None:
    if name not in INEXACT:
        assert a.to_bytes() == b.to_bytes()
        return
    sa, sb = a._state(), b._state()
    assert sa.keys() == sb.keys()
    for key in sa:
        x, y = np.asarray(sa[key], float), np.asarray(sb[key], float)
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9)
    assert (a.n, a.change_point, a.drift_detected) == (b.n, b.change_point, b.drift_detected)


NUMBERS = np.concatenate(
    [piecewise(11, [0, 1, -1, 0.5, 2], length=900), bernoulli(12, [0.2, 0.5], length=900)]
)
ERRORS = bernoulli(13, [0.1, 0.3, 0.05, 0.4, 0.1], length=700)


def stream(name: str) -> np.ndarray:
    return ERRORS if name in ERROR_FACTORIES else NUMBERS


def detections(detector: Detector, values: np.ndarray) -> tuple[list[int], list[int | None]]:
    hits, points = [], []
    for i, x in enumerate(values.tolist()):
        detector.update(x)
        if detector.drift_detected:
            hits.append(i)
            points.append(detector.change_point)
    return hits, points


@pytest.mark.parametrize("name", FACTORIES)
def test_update_many_is_a_loop_of_update(name: str) -> None:
    values = stream(name)
    looped = FACTORIES[name]()
    hits, points = detections(looped, values)
    assert len(hits) >= 2
    batched = FACTORIES[name]()
    idx, cps = batched.update_many(values, with_change_points=True)
    assert idx.tolist() == hits and cps.tolist() == points
    assert_same_state(name, batched, looped)
    # In uneven pieces, each answered relative to its own start.
    pieced = FACTORIES[name]()
    got = []
    for lo, hi in [(0, 1), (1, 700), (700, 701), (701, 2500), (2500, len(values))]:
        got += (pieced.update_many(values[lo:hi]) + lo).tolist()
    assert got == hits
    assert_same_state(name, pieced, looped)


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("stop", [0, 17, 1234, 2000])
def test_a_state_written_mid_stream_resumes_to_the_same_detections(name: str, stop: int) -> None:
    values = stream(name)
    whole = FACTORIES[name]()
    hits, points = detections(whole, values)
    first = FACTORIES[name]()
    first.update_many(values[:stop])
    resumed = Detector.from_bytes(first.to_bytes())
    assert type(resumed) is type(first) and resumed.params() == first.params() and resumed.n == stop
    later, later_points = detections(resumed, values[stop:])
    assert [h + stop for h in later] == [h for h in hits if h >= stop]
    assert later_points == [p for h, p in zip(hits, points, strict=True) if h >= stop]


@pytest.mark.parametrize("name", FACTORIES)
def test_reset_gives_a_fresh_detector(name: str) -> None:
    values = stream(name)
    used = FACTORIES[name]()
    used.update_many(values[:1500])
    used.reset()
    assert used.n == 0 and used.change_point is None and not used.drift_detected
    assert_same_state(name, used, FACTORIES[name]())


@pytest.mark.parametrize("name", FACTORIES)
def test_bad_values_are_refused_with_their_position(name: str) -> None:
    detector = FACTORIES[name]()
    with pytest.raises(DataError, match="finite"):
        detector.update(float("nan"))
    with pytest.raises(DataError, match="position 2"):
        detector.update_many([1.0, 2.0, float("inf")])
    with pytest.raises(DataError, match="1-d"):
        detector.update_many(np.zeros((2, 2)))
    with pytest.raises(DataError, match="numbers"):
        detector.update("high")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="numbers"):
        detector.update("0.5")  # type: ignore[arg-type]  # float() would read it: a string is not a value
    assert detector.n == 0  # refused input changes nothing


def test_corrupt_or_foreign_bytes_are_refused() -> None:
    good = PageHinkley().to_bytes()
    with pytest.raises(DataError, match="LWDT"):
        Detector.from_bytes(b"\x80\x04pickle")
    with pytest.raises(DataError, match=r"truncated|corrupt"):
        Detector.from_bytes(good[:-3] if len(good) > 40 else good[:20])
    newer = good[:4] + (99).to_bytes(2, "big") + good[6:]
    with pytest.raises(DataError, match="newer"):
        Detector.from_bytes(newer)


def test_a_kind_reads_its_own_states_only() -> None:
    ddm = DDM()
    ddm.update_many([0.0, 1.0, 0.0])
    with pytest.raises(DataError, match="of a DDM detector, not ADWIN"):
        ADWIN.from_bytes(ddm.to_bytes())
    assert isinstance(Detector.from_bytes(ddm.to_bytes()), DDM)  # the base class reads any kind
    assert DDM.from_bytes(ddm.to_bytes()).n == 3
    with pytest.raises(DataError, match="the state is of an ADWIN detector, not DDM"):  # an, not a
        DDM.from_bytes(ADWIN().to_bytes())
    with pytest.raises(DataError, match="the state is of an HDDM_W detector, not KSWIN"):
        KSWIN.from_bytes(HDDM_W().to_bytes())


@pytest.mark.parametrize("kind", sorted(Detector._kinds))
def test_an_unknown_argument_is_a_parameter_error_naming_the_valid_ones(kind: str) -> None:
    """``ADWIN(foo=1)`` raised Python's TypeError, which names neither the detector nor what it takes; every
    kind now raises a ParameterError naming the argument and the constructor's parameters (the signature is
    the oracle), as a bad value does."""
    import inspect

    cls = Detector._kinds[kind]
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    with pytest.raises(ParameterError) as got:
        cls(nope=1)
    assert got.value.name == "nope" and got.value.value == 1
    assert str(got.value) == (
        f"parameter 'nope' must be one of {cls.__name__}'s parameters ({', '.join(names)}); got 1"
    )
    with pytest.raises(ParameterError, match=f"{cls.__name__}'s parameters, in order"):
        cls(*range(len(names) + 1))
    assert type(cls(**{names[0]: getattr(cls(), names[0])})) is cls  # a known one still works


def test_what_each_detector_takes_is_what_it_refuses() -> None:
    """``takes`` says which values a detector refuses (a monitor refuses a detector on a stream by it)."""
    from loopwise.detectors import MultiStream

    for make, takes in (
        (DDM, "binary"), (EDDM, "binary"), (HDDM_A, "unit"), (HDDM_W, "unit"), (ADWIN, "numbers"),
        (lambda: BOCPD(model="bernoulli"), "unit"), (BOCPD, "numbers"), (Consensus, "numbers"),
        (lambda: MultiStream(member="ddm"), "binary"),
    ):  # fmt: skip
        d = make()
        assert d.takes == takes
        for value, ok in ((0.0, True), (1.0, True), (0.5, takes != "binary"), (2.0, takes == "numbers")):
            fresh = make()
            try:
                fresh.update_many(np.full((40, 2) if isinstance(d, MultiStream) else 40, value))
            except DataError:
                assert not ok, (d, value)
            else:
                assert ok, (d, value)
