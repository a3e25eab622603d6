"""Thresholds calibrated on the spread of a statistic over the reference's own chunks.

A p-value answers "is there any difference", which at a million rows is
almost always yes, and on a reference that is not i.i.d. even for the
reference itself. A monitor instead asks "is this chunk further from the
reference than the reference's own chunks are from the rest of it?". Given
the statistic of each of K reference chunks against the rest of the
reference, the threshold for a stated false-alarm rate ``a`` is:

- with enough chunks (K + 1 >= 1 / a): the k-th smallest of the K statistics,
  k = ceil((K + 1)(1 - a)). For a new chunk exchangeable with the reference's
  chunks, P(its statistic exceeds the k-th smallest) = (K + 1 - k) / (K + 1) <= a,
  whatever the statistic's distribution (the conformal rank argument);
- with fewer chunks: the one-sided (1 - a) prediction bound of a normal fit to
  the cube roots of the K statistics, (mean + t(1 - a; K - 1) sd sqrt(1 + 1/K)) ** 3
  of their cube roots, and never below their largest. Distances between
  samples are positive and right-skewed; the cube root (Wilson and Hilferty's
  for chi-square-like quantities) makes them close to normal. Simulated on
  i.i.d. chunks (K = 5 and 10, a = 0.05) it alarmed on 5.2-5.8% of new chunks
  for KS and 3.3-4.7% for Jensen-Shannon; a log-normal fit, tried first, held
  the rate for KS but was far too wide when one chunk's statistic is near 0
  (a binary column's chunk whose share happens to match the rest's): it
  alarmed on 1.1% at a stated 5% for a binary Jensen-Shannon, and kept 86%
  instead of 96% of NannyML's alerts on the census data (docs/decisions/0012).

A chunk smaller than the calibration chunks has more sampling noise, so the
threshold grows for it, and is never lowered for a larger chunk: the part of
the spread that comes from the reference not being i.i.d. does not shrink
with the size. When the statistic's (1 - a) quantile under no change is known
at both sizes (``q_cal``, ``q_now``), the threshold grows by their difference,
``widened(q_cal, q_now)``: exactly the no-change quantile for an i.i.d.
reference, and for a reference whose chunks differ, only the extra noise is
added (by the triangle inequality for distances such as KS), not a multiple
of the chunks' real differences. Otherwise ``scaled``: times
(n_cal / n) ** exponent, with ``exponent`` how the method's statistic shrinks
with the sample size under no change (1/2 for distances such as KS or
Jensen-Shannon, 1 for PSI and KL, 0 for test statistics).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwise._lazy import lazy
from loopwise.errors import DataError, ParameterError

if TYPE_CHECKING:
    from scipy import stats as sps
else:
    sps = lazy("scipy.stats")

#: The false-alarm rate a calibrated threshold is set for, unless asked otherwise.
DEFAULT_FALSE_ALARM_RATE = 0.05
#: Fewer chunks than this cannot say how a statistic spreads.
MIN_CHUNKS = 3


@dataclass(frozen=True)
class CalibratedThreshold:
    """A threshold set from K chunk statistics, and how it was set."""

    value: float
    rule: str
    false_alarm_rate: float
    n_chunks: int
    chunk_max: float
    chunk_median: float

    def scaled(self, n_calibration: float, n_current: float, exponent: float) -> float:
        """The threshold for a current of effective size ``n_current`` (see the module docstring)."""
        if exponent <= 0 or n_current <= 0 or n_current >= n_calibration:
            return self.value
        return float(self.value * (n_calibration / n_current) ** exponent)

    def widened(self, noise_calibration: float, noise_current: float) -> float:
        """The threshold for a current whose no-change quantile is ``noise_current`` (see the module
        docstring); ``noise_calibration`` is that quantile at the calibration chunks' size."""
        return self.value + max(noise_current - noise_calibration, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "rule": self.rule,
            "false_alarm_rate": self.false_alarm_rate,
            "n_chunks": self.n_chunks,
            "chunk_max": self.chunk_max,
            "chunk_median": self.chunk_median,
        }


def calibrate(
    statistics: Any, false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE, upper: float | None = None
) -> CalibratedThreshold:
    """The threshold a chunk's statistic must exceed to be called drift, at ``false_alarm_rate``.

    ``upper`` is the largest value the statistic can take (1 for KS), if it has one. When the
    prediction bound of few chunks reaches it, a window could never alert, not even one with no
    value in common with the reference; the threshold is then the largest chunk statistic, the
    rank rule's answer with K chunks, whose false-alarm rate is at most 1 / (K + 1) (more than
    asked for, and the rule says so).

    Example:
        >>> import numpy as np
        >>> calibrate(np.arange(1, 100) / 100, false_alarm_rate=0.05).value  # k = ceil(100 * 0.95) = 95
        0.95
        >>> t = calibrate([0.010, 0.012, 0.011, 0.013, 0.009], false_alarm_rate=0.05)
        >>> t.rule.startswith("cube-root normal"), t.value > 0.013
        (True, True)
    """
    if not 0 < false_alarm_rate < 1:
        raise ParameterError("false_alarm_rate", false_alarm_rate, "a number between 0 and 1 (exclusive)")
    s = np.asarray(statistics, dtype=np.float64)
    s = np.sort(s[np.isfinite(s)])
    k_all = int(s.size)
    if k_all < MIN_CHUNKS:
        raise DataError(
            f"a calibrated threshold needs the statistic on at least {MIN_CHUNKS} reference chunks; "
            f"there are {k_all} (profile the reference with a smaller chunk_size)"
        )
    k = math.ceil((k_all + 1) * (1 - false_alarm_rate))
    if k <= k_all:
        value = float(s[k - 1])
        rule = (
            f"conformal: the {k}th smallest of {k_all} reference chunk statistics "
            f"(false-alarm rate at most {false_alarm_rate:g} for chunks like the reference's)"
        )
    else:
        roots = np.cbrt(s)
        sd = float(np.std(roots, ddof=1))
        t = _t_quantile(1 - false_alarm_rate, k_all - 1)
        value = max(float((roots.mean() + t * sd * math.sqrt(1 + 1 / k_all)) ** 3), float(s[-1]))
        rule = (
            f"cube-root normal: the one-sided {1 - false_alarm_rate:g} prediction bound of {k_all} reference "
            f"chunk statistics (a rank rule at this rate needs {math.ceil(1 / false_alarm_rate) - 1} chunks)"
        )
        if upper is not None and value >= upper and s[-1] < upper:
            rule = (
                f"the largest of {k_all} reference chunk statistics (false-alarm rate at most "
                f"1/{k_all + 1} = {1 / (k_all + 1):.3f}): the cube-root normal bound, {value:.4g}, is at or "
                f"above the statistic's largest possible value ({upper:g}); more chunks would allow "
                f"{false_alarm_rate:g}"
            )
            value = float(s[-1])
    return CalibratedThreshold(
        value=value,
        rule=rule,
        false_alarm_rate=false_alarm_rate,
        n_chunks=k_all,
        chunk_max=float(s[-1]),
        chunk_median=float(s[(k_all - 1) // 2] + s[k_all // 2]) / 2,
    )


@functools.lru_cache(maxsize=256)
def _t_quantile(q: float, dof: int) -> float:
    # scipy's ppf costs a quarter of a millisecond; a monitor asks for the same few, every window.
    return float(sps.t.ppf(q, dof))


__all__ = ["DEFAULT_FALSE_ALARM_RATE", "CalibratedThreshold", "calibrate"]
