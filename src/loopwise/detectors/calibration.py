"""Thresholds set from a reference stream: the most sensitive value of a detector's threshold parameter whose
false alarms on the reference stay within a target rate.

A detector's defaults are a guess about streams it has not seen; a monitor usually has a stretch of the very
stream it watches, from a time nothing changed (the model's reference window). ``calibrate`` resamples that
stretch into streams of the same character (a circular block bootstrap: blocks of consecutive values, so
autocorrelation survives), runs the detector over them with candidate thresholds, and keeps the most
sensitive one whose alarms per ``per`` values are at most ``false_alarms``. Every false alarm on the
resampled reference is, by construction, a false alarm: the reference holds no change.

Each detector names the parameter that sets its sensitivity (``Detector.sensitivity``): ADWIN's ``delta``,
Page-Hinkley's ``threshold`` (in data units: searched relative to the reference's spread), CUSUM's ``h``,
KSWIN's ``alpha``, DDM's ``drift_threshold``, EDDM's ``beta``, HDDM's ``drift_confidence`` and BOCPD's
``penalty`` (its check's threshold; with ``refine=False`` nothing is calibrated). The search is a
bisection on that parameter's scale with the same resampled streams for every candidate (common random
numbers: the alarm count then moves with the parameter, not with the draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.detectors.base import Detector
from loopwise.errors import DataError, ParameterError

#: Fewest reference values a calibration accepts: fewer cannot show a rate of rare alarms.
MIN_REFERENCE = 200
#: Bisection steps on the parameter's scale (log10 or linear): 2^-16 of the range is finer than any effect.
STEPS = 16


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` chose: the detector's parameters (the calibrated one included), the alarm rate they
    gave on the resampled reference, and how it was measured. ``detector()`` makes a fresh detector."""

    kind: str
    params: dict[str, Any]
    parameter: str
    value: float
    #: Alarms per ``per`` values on the resampled reference with ``value`` (the achieved rate).
    false_alarms: float
    target: float
    per: int
    resamples: int
    length: int
    block: int
    #: False when even the least sensitive value tried alarms more often than ``target`` on the reference
    #: (a reference that is not stationary, or a target too low for its length): ``value`` is that value.
    met: bool = True
    tried: list[tuple[float, float]] = field(default_factory=list)

    def detector(self) -> Detector:
        """A new detector with the calibrated parameters."""
        return Detector._kinds[self.kind](**self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "parameter": self.parameter,
            "value": self.value,
            "false_alarms": self.false_alarms,
            "target": self.target,
            "per": self.per,
            "resamples": self.resamples,
            "length": self.length,
            "block": self.block,
            "met": self.met,
        }


def calibrate(
    detector: type[Detector] | str,
    reference: npt.ArrayLike,
    *,
    false_alarms: float = 1.0,
    per: int = 10_000,
    resamples: int = 20,
    length: int | None = None,
    block: int | None = None,
    seed: int = 0,
    **params: Any,
) -> Calibration:
    """The most sensitive setting of ``detector``'s threshold parameter whose alarms on streams resampled from
    ``reference`` (a stretch of the watched stream in which nothing changed) are at most ``false_alarms`` per
    ``per`` values.

    ``params``: the detector's other parameters (fixed). ``resamples`` streams of ``length`` values (default:
    the reference's length, at least 2,000) are drawn by a circular block bootstrap with blocks of ``block``
    values (default: the cube root of the reference's length, at least 10).

    Example:
        >>> import numpy as np
        >>> from loopwise.detectors import CUSUM, calibrate
        >>> rng = np.random.default_rng(0)
        >>> cal = calibrate(CUSUM, rng.normal(0, 1, 5000), false_alarms=1.0)
        >>> cal.parameter, cal.met, cal.false_alarms <= 1.0
        ('h', True, True)
        >>> cal.detector()
        CUSUM(k=0.5, h=..., target=None, sigma=None, warm_up=50, locate='split')
    """
    cls = _detector_class(detector)
    s = cls.sensitivity
    if s is None:
        raise ParameterError("detector", cls.__name__, "a detector with a threshold to calibrate")
    if not (isinstance(false_alarms, int | float) and false_alarms > 0 and math.isfinite(false_alarms)):
        raise ParameterError("false_alarms", false_alarms, "a positive number of alarms per `per` values")
    for name, value, least in (("per", per, 1), ("resamples", resamples, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ParameterError(name, value, f"an integer of at least {least}")
    if s.parameter in params:
        raise ParameterError(s.parameter, params[s.parameter], f"left out: calibrate sets {cls.__name__}'s")
    ref = _reference(reference)
    n = len(ref)
    length = max(n, 2000) if length is None else length
    block = max(10, round(n ** (1 / 3))) if block is None else block
    for name, value, least in (("length", length, 100), ("block", block, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ParameterError(name, value, f"an integer of at least {least}")
    cls(**params)  # the fixed parameters are checked once, before any work
    streams = _resample(ref, resamples, length, min(block, n), seed)
    unit = float(np.std(ref)) if s.relative else 1.0
    if unit <= 0:
        raise DataError("the reference is constant: there is no spread to set a threshold in units of")

    tried: list[tuple[float, float]] = []

    def rate(value: float) -> float:
        detector = cls(**params, **{s.parameter: value})
        alarms = 0
        for x in streams:
            detector.reset()
            alarms += len(detector.update_many(x))
        r = alarms * per / (resamples * length)
        tried.append((value, r))
        return r

    lo, hi = _to_scale(s.low, s.scale), _to_scale(s.high, s.scale)
    # Orient the range so that ``calm`` gives the fewest alarms and ``busy`` the most.
    calm, busy = (lo, hi) if s.more_alarms == "higher" else (hi, lo)

    def value_at(t: float) -> float:
        exact = {lo: s.low, hi: s.high}.get(t)  # the range's ends as given, not through log10 and back
        return (exact if exact is not None else _from_scale(t, s.scale)) * unit

    calm_rate = rate(value_at(calm))
    if calm_rate > false_alarms:
        return _result(cls, params, s.parameter, value_at(calm), calm_rate, false_alarms, per, resamples,
                       length, block, tried, met=False)  # fmt: skip
    best, best_rate = calm, calm_rate
    if (busy_rate := rate(value_at(busy))) <= false_alarms:
        best, best_rate = busy, busy_rate
    else:
        for _ in range(STEPS):
            mid = (calm + busy) / 2
            r = rate(value_at(mid))
            if r <= false_alarms:
                calm, best, best_rate = mid, mid, r
            else:
                busy = mid
    return _result(cls, params, s.parameter, value_at(best), best_rate, false_alarms, per, resamples, length,
                   block, tried, met=True)  # fmt: skip


def _result(
    cls: type[Detector],
    params: dict[str, Any],
    parameter: str,
    value: float,
    achieved: float,
    target: float,
    per: int,
    resamples: int,
    length: int,
    block: int,
    tried: list[tuple[float, float]],
    *,
    met: bool,
) -> Calibration:
    full = cls(**params, **{parameter: value}).params()
    return Calibration(
        cls.kind, full, parameter, float(value), achieved, float(target), per, resamples, length, block, met,
        sorted(tried),
    )  # fmt: skip


def _detector_class(detector: type[Detector] | str) -> type[Detector]:
    if isinstance(detector, str):
        from loopwise.errors import UnknownNameError

        found = Detector._kinds.get(detector)
        if found is None:
            raise UnknownNameError("detector", detector, Detector._kinds)
        return found
    if isinstance(detector, type) and issubclass(detector, Detector):
        return detector
    raise ParameterError("detector", detector, "a detector class or its name (e.g. 'CUSUM')")


def _reference(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        ref = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("calibrate takes the reference as an array of numbers") from None
    if ref.ndim != 1:
        raise DataError(f"calibrate takes a 1-d reference; got shape {ref.shape}")
    if not np.isfinite(ref).all():
        bad = int(np.flatnonzero(~np.isfinite(ref))[0])
        raise DataError(f"the reference holds a value that is not a finite number at position {bad}")
    if len(ref) < MIN_REFERENCE:
        raise DataError(
            f"the reference has {len(ref)} values; calibrating needs at least {MIN_REFERENCE} "
            "to show how often rare alarms come"
        )
    return ref


def _resample(
    ref: npt.NDArray[np.float64], resamples: int, length: int, block: int, seed: int
) -> list[npt.NDArray[np.float64]]:
    """``resamples`` streams of ``length`` values: blocks of ``block`` consecutive reference values (wrapping
    around its end) from random starts, end to end."""
    rng = np.random.default_rng(seed)
    n, blocks = len(ref), -(-length // block)
    out = []
    for _ in range(resamples):
        starts = rng.integers(0, n, blocks)
        idx = (starts[:, None] + np.arange(block)[None, :]) % n
        out.append(ref[idx.ravel()[:length]])
    return out


def _to_scale(v: float, scale: str) -> float:
    return math.log10(v) if scale == "log" else v


def _from_scale(t: float, scale: str) -> float:
    return float(10**t) if scale == "log" else t
