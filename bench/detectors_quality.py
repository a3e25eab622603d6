"""Change detectors with their defaults, loopwise's and river's, on change-point data, in one run.

Data:
- TCPD: the seven series river ships (bench/cpd_scoring.py: as TCPD has them); a detector runs on each
  dimension of a series and its change points are pooled (a monitor watching each stream).
- generated piecewise series (``generated``): mean shifts and variance shifts under Gaussian, Student t(3)
  and AR(1) (phi 0.5) noise, and jumps of the error rate in 0/1 streams; change points at random places at
  least 150 values apart. The seeds of the reported run (``--seed``) are not those the defaults were chosen
  on (docs/decisions/0033-change-detectors.md).

Scores (bench/cpd_scoring.py): TCPD's F1 within 5 values and covering, on the estimated change points
(loopwise: ``change_point``; river's detectors say only when they fire: their detection indices), and the
monitor's view on generated data (an alarm within 100 values after a change is a hit, any other a false
alarm; per 10,000 values). The trivial "no change point" prediction is scored alongside.

usage: python bench/detectors_quality.py [--seed 2026] [--per-kind 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import itertools

from cpd_scoring import covering, f_measure, monitor_view, tcpd_series
from loopwise import detectors as lw

Series = tuple[np.ndarray, dict[str, list[int]]]
Points = Callable[[np.ndarray], tuple[list[int], list[int]]]  # values -> (alarms, change points)

NUMERIC_KINDS = [
    f"{shift} / {noise}" for shift in ("mean", "variance") for noise in ("gaussian", "t3", "ar1")
]
ERROR_KIND = "error rate / 0-1"


#: Values of each series' reference: its first regime drawn again, apart (a monitor's reference window).
REFERENCE = 2000


def generated(seed: int, per_kind: int = 20, length: int = 2000) -> dict[str, list[Series]]:
    """``per_kind`` series of each kind, with 2 to 6 changes each (one annotator: the truth).

    ``REFERENCES[kind][i]``: the reference of series i, its first regime drawn again from a generator of its
    own (so the series are those of a run without references)."""
    rng = np.random.default_rng(seed)
    ref_rng = np.random.default_rng(seed + 1_000_003)
    out: dict[str, list[Series]] = {}
    for kind in [*NUMERIC_KINDS, ERROR_KIND]:
        shift, noise = kind.split(" / ")
        series, refs = [], []
        for _ in range(per_kind):
            cps = _change_points(rng, length, int(rng.integers(2, 7)))
            bounds = [0, *cps, length]
            if shift == "error rate":
                rate, parts = rng.uniform(0.05, 0.2), []
                refs.append((ref_rng.random(REFERENCE) < rate).astype(np.float64))
                for a, b in itertools.pairwise(bounds):
                    parts.append((rng.random(b - a) < rate).astype(np.float64))
                    rate = float(
                        np.clip(rate * rng.choice([1 / 2.5, 2.5]) * rng.uniform(0.8, 1.2), 0.01, 0.6)
                    )
                x = np.concatenate(parts)
            else:
                e = _noise(rng, noise, length)
                level, scale, x = rng.normal(0, 5), 1.0, np.empty(length)
                refs.append(level + scale * _noise(ref_rng, noise, REFERENCE))
                for a, b in itertools.pairwise(bounds):
                    x[a:b] = level + scale * e[a:b]
                    if shift == "mean":
                        level += rng.choice([-1, 1]) * rng.uniform(1.0, 3.0)
                    else:
                        scale *= rng.choice([1 / 3, 3]) * rng.uniform(0.8, 1.2)
            series.append((x, {"truth": cps}))
        out[kind] = series
        REFERENCES[kind] = refs
    return out


REFERENCES: dict[str, list[np.ndarray]] = {}


def _change_points(rng: np.random.Generator, length: int, k: int, gap: int = 150) -> list[int]:
    while True:
        cps = sorted(int(c) for c in rng.integers(gap, length - gap, k))
        if all(b - a >= gap for a, b in itertools.pairwise(cps)):
            return cps


def _noise(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind == "gaussian":
        return rng.normal(0, 1, n)
    if kind == "t3":
        return rng.standard_t(3, n) / np.sqrt(3.0)
    w = rng.normal(0, np.sqrt(0.75), n)
    e = np.empty(n)
    e[0] = rng.normal()
    for i in range(1, n):
        e[i] = 0.5 * e[i - 1] + w[i]
    return e


# -- running detectors -------------------------------------------------------------------------------------


def loopwise_points(make: Callable[[], lw.Detector]) -> Points:
    def run(x: np.ndarray) -> tuple[list[int], list[int]]:
        idx, cps = make().update_many(x, with_change_points=True)
        return idx.tolist(), [int(c) for c in cps if 0 < c < len(x)]

    return run


def river_points(make: Callable[[], Any]) -> Points:
    def run(x: np.ndarray) -> tuple[list[int], list[int]]:
        d, hits = make(), []
        for i, v in enumerate(x.tolist()):
            d.update(v)
            if d.drift_detected:
                hits.append(i)
        return hits, hits  # river says when it fires, not where the change began

    return run


def calibrated_points(
    cls: type[lw.Detector], false_alarms: float = 1.0
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The detector with its threshold calibrated on the series' reference (``lw.calibrate``)."""

    def run(x: np.ndarray, reference: np.ndarray) -> tuple[list[int], list[int]]:
        made = lw.calibrate(cls, reference, false_alarms=false_alarms, resamples=10).detector()
        return loopwise_points(lambda: made)(x)

    return run


def nothing(x: np.ndarray) -> tuple[list[int], list[int]]:
    """The trivial prediction: no change point."""
    return [], []


def score_tcpd(points: Points, series: dict[str, Series]) -> dict[str, float]:
    f1, cover = [], []
    for values, marked in series.values():
        found: set[int] = set()
        for d in range(values.shape[1]):
            found |= set(points(values[:, d])[1])
        f1.append(f_measure(marked, found))
        cover.append(covering(marked, found, len(values)))
    return {"f1": float(np.mean(f1)), "covering": float(np.mean(cover))}


def score_generated(
    points: Points, series: Iterable[Series], references: list[np.ndarray] | None = None
) -> dict[str, float]:
    """``references``: one per series, for detectors calibrated on them (``points(x, reference)``)."""
    f1, cover, hits, changes, false, n = [], [], 0, 0, 0, 0
    for i, (x, truth) in enumerate(series):
        alarms, found = points(x) if references is None else points(x, references[i])  # type: ignore[call-arg]
        f1.append(f_measure(truth, found))
        cover.append(covering(truth, found, len(x)))
        view = monitor_view(truth["truth"], alarms, delay=100)
        hits, changes, false, n = (
            hits + view.hits,
            changes + view.changes,
            false + view.false_alarms,
            n + len(x),
        )
    return {
        "f1": float(np.mean(f1)),
        "covering": float(np.mean(cover)),
        "hit_rate": hits / changes,
        "false_alarms_per_10k": 1e4 * false / n,
    }


NUMERIC: dict[str, Points] = {
    "loopwise Consensus": loopwise_points(lw.Consensus),
    "loopwise BOCPD": loopwise_points(lw.BOCPD),
    "loopwise CUSUM": loopwise_points(lw.CUSUM),
    "loopwise PageHinkley": loopwise_points(lw.PageHinkley),
    "loopwise ADWIN": loopwise_points(lw.ADWIN),
    "loopwise KSWIN": loopwise_points(lw.KSWIN),
}
CALIBRATED_NUMERIC = {
    "loopwise CUSUM calibrated": calibrated_points(lw.CUSUM),
    "loopwise PageHinkley calibrated": calibrated_points(lw.PageHinkley),
    "loopwise ADWIN calibrated": calibrated_points(lw.ADWIN),
}
CALIBRATED_ERRORS = {
    "loopwise DDM calibrated": calibrated_points(lw.DDM),
    "loopwise EDDM calibrated": calibrated_points(lw.EDDM),
    "loopwise HDDM_A calibrated": calibrated_points(lw.HDDM_A),
}
ERRORS: dict[str, Points] = {
    "loopwise DDM": loopwise_points(lw.DDM),
    "loopwise EDDM": loopwise_points(lw.EDDM),
    "loopwise HDDM_A": loopwise_points(lw.HDDM_A),
    "loopwise HDDM_W": loopwise_points(lw.HDDM_W),
}


def river_detectors() -> tuple[dict[str, Points], dict[str, Points]]:
    from river import drift
    from river.drift import binary

    numeric = {
        "river ADWIN": river_points(drift.ADWIN),
        "river PageHinkley": river_points(drift.PageHinkley),
        "river KSWIN": river_points(lambda: drift.KSWIN(seed=0)),
    }
    errors = {
        "river DDM": river_points(binary.DDM),
        "river EDDM": river_points(binary.EDDM),
        "river HDDM_A": river_points(binary.HDDMA),
        "river HDDM_W": river_points(binary.HDDMW),
    }
    return numeric, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tcpd = tcpd_series()
    gen = generated(args.seed, args.per_kind)
    river_numeric, river_errors = river_detectors()
    results: dict[str, Any] = {"tcpd": {}, "generated": {}}
    print(f"TCPD ({len(tcpd)} series river ships): F1 within 5, covering")
    for name, points in {"no change point": nothing, **NUMERIC, **river_numeric}.items():
        r = score_tcpd(points, tcpd)
        results["tcpd"][name] = r
        print(f"  {name:24s} F1 {r['f1']:.3f}  covering {r['covering']:.3f}")
    for kind, series in gen.items():
        numeric = kind != ERROR_KIND
        pool = {"no change point": nothing, **NUMERIC, **river_numeric}
        if not numeric:
            pool |= {**ERRORS, **river_errors}
        print(f"generated, {kind} ({len(series)} series): F1, covering, hits within 100, false alarms / 10k")
        results["generated"][kind] = {}
        calibrated = CALIBRATED_NUMERIC if numeric else {**CALIBRATED_NUMERIC, **CALIBRATED_ERRORS}
        runs = [(name, points, None) for name, points in pool.items()]
        runs += [(name, points, REFERENCES[kind]) for name, points in calibrated.items()]
        for name, points, refs in runs:
            r = score_generated(points, series, refs)  # type: ignore[arg-type]
            results["generated"][kind][name] = r
            print(
                f"  {name:24s} F1 {r['f1']:.3f}  covering {r['covering']:.3f}  hits {r['hit_rate']:.2f}"
                f"  false {r['false_alarms_per_10k']:.1f}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
