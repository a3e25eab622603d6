"""Scoring change-point detections as van den Burg & Williams (2020), "An evaluation of change point detection
algorithms" (arXiv:2003.06222, section 4, and their TCPD repository's metrics): F1 with a margin (precision
against the union of the annotators' change points, recall averaged over annotators; the start of the series,
index 0, counts as a change point for everyone), covering (each annotator's partition covered by the
predicted one, averaged); and a monitor's view (a detection within ``delay`` values after a real change is a
hit, anything else a false alarm). Also: the TCPD series river ships, as TCPD uses them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def true_positives(truth: Iterable[int], predicted: Iterable[int], margin: int = 5) -> set[int]:
    """The true change points matched by a prediction within ``margin``, each prediction used once (the
    closest first)."""
    left = set(predicted)
    found = set()
    for tau in sorted(set(truth)):
        close = sorted((abs(tau - x), x) for x in left if abs(tau - x) <= margin)
        if close:
            found.add(tau)
            left.remove(close[0][1])
    return found


def f_measure(annotations: Mapping[str, Sequence[int]], predicted: Iterable[int], margin: int = 5) -> float:
    """TCPD's F1: precision against every annotator's points at once, recall averaged over annotators."""
    per_annotator = [set(points) | {0} for points in annotations.values()]
    union = set().union(*per_annotator)
    x = set(predicted) | {0}
    precision = len(true_positives(union, x, margin)) / len(x)
    recall = float(np.mean([len(true_positives(t, x, margin)) / len(t) for t in per_annotator]))
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _partition(points: Iterable[int], n: int) -> list[tuple[int, int]]:
    """Segments [start, end) of 0..n-1 cut at ``points``."""
    cuts = sorted({p for p in points if 0 < p < n})
    bounds = [0, *cuts, n]
    return list(itertools.pairwise(bounds))


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union


def covering(annotations: Mapping[str, Sequence[int]], predicted: Iterable[int], n: int) -> float:
    """TCPD's covering: for each annotator, the length-weighted best Jaccard overlap of each true segment
    with a predicted one; averaged over annotators."""
    mine = _partition(predicted, n)
    scores = []
    for points in annotations.values():
        truth = _partition(points, n)
        scores.append(sum((b - a) * max(_overlap((a, b), m) for m in mine) for a, b in truth) / n)
    return float(np.mean(scores))


@dataclass(frozen=True)
class MonitorView:
    """A monitor's reading of alarms: a real change alarmed within ``delay`` values is a hit."""

    changes: int
    hits: int
    false_alarms: int
    mean_delay: float

    @property
    def recall(self) -> float:
        """Share of the changes alarmed in time."""
        return self.hits / self.changes if self.changes else 1.0


def monitor_view(changes: Iterable[int], alarms: Iterable[int], delay: int = 100) -> MonitorView:
    """Each change is hit by the first alarm in [change, change + delay) (before the next change); every
    alarm that hits nothing is a false alarm."""
    cs = sorted(set(changes) - {0})
    left = sorted(alarms)
    used: set[int] = set()
    delays = []
    for i, c in enumerate(cs):
        end = min(c + delay, cs[i + 1] if i + 1 < len(cs) else c + delay)
        inside = [a for a in left if c <= a < end and a not in used]
        if inside:
            used.add(inside[0])
            delays.append(inside[0] - c)
    return MonitorView(len(cs), len(delays), len(left) - len(used), float(np.mean(delays)) if delays else 0.0)


# -- the TCPD series river ships ---------------------------------------------------------------------------


def tcpd_series() -> dict[str, tuple[np.ndarray, dict[str, list[int]]]]:
    """River's copies of TCPD series, as TCPD has them: values (n x d) and annotations.

    River's files are not all TCPD's series, and the annotations index TCPD's; this reproduces TCPD's:
    - Brent: river holds every trading day from 1987; TCPD's series is the price from 2000 on, every 10th
      observation (TCPD's datasets/brent_spot README).
    - Apple: river holds every trading day (1,867); TCPD's is the closing price and the volume of every 3rd
      day after the first (``rows[1:][::3]``, 622 values: TCPD's datasets/apple/get_apple.py, "offset to
      ensure drop is visible in sampled series"), so its annotation 319 is the drop of 2000-09-29.
    - Bitcoin: river's file runs to 2019-11-10; TCPD's ends on 2019-06-19 (774 values, get_bitcoin.py).
    """
    from river.drift import datasets as d

    series: dict[str, tuple[np.ndarray, dict[str, list[int]]]] = {}
    for cls in (
        d.AirlinePassengers,
        d.Apple,
        d.Bitcoin,
        d.BrentSpotPrice,
        d.Occupancy,
        d.RunLog,
        d.UKCoalEmploy,
    ):
        ds = cls()
        rows = list(ds)
        if cls is d.BrentSpotPrice:
            rows = [(x, y) for x, y in rows if x["day"].year >= 2000][::10] if "day" in rows[0][0] else rows
        values = np.array([_row(y) for _, y in rows], dtype=np.float64)
        if cls is d.Apple:
            values = values[1:][::3][:, [3, 5]]  # Close, Volume
        if cls is d.Bitcoin:
            values = values[: 1 + _index_of(rows, "date", "2019-06-19")]
        series[type(ds).__name__] = (values, {k: list(v) for k, v in ds.annotations.items()})
    return series


def _index_of(rows: list[tuple[dict[str, object], object]], key: str, day: str) -> int:
    return next(i for i, (x, _) in enumerate(rows) if str(x[key])[:10] == day)


def _row(y: object) -> list[float]:
    if isinstance(y, dict):
        return [float(v) for v in y.values()]
    return [float(y)]  # type: ignore[arg-type]
