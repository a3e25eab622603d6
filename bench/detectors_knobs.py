"""What the detectors' knobs buy, on the design seed (7): BOCPD's parameters one at a time against TCPD's
F1 (bench/cpd_scoring.py) and the generated series' F1; the error-stream detectors' hits on rises and falls
of the error rate, and what lower thresholds trade for them (decision 0045).

``trend`` (decision 0048): BOCPD's local-linear-trend run model (``model="trend"``) and which regression the
check fits, against the defaults.

``consensus`` (decision 0048): a change point of BOCPD kept only when other detectors place one within ``w``
values, and 2-of-n majorities; scored from each detector's change points (not an online detector).

``locate`` (decision 0050): where BOCPD, ADWIN and KSWIN place a change (other maximum-likelihood splits),
the logarithm of positive series, and where the online ``Consensus`` places its change (the midpoint with
the confirming detectors'), on TCPD and the generated numeric series.

usage: python bench/detectors_knobs.py [bocpd|errors|offline|trend|consensus|locate] [--seed 7] [--per-kind 8]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import detectors_quality as dq
from cpd_scoring import tcpd_series
from loopwise import detectors as lw
from loopwise.detectors.bocpd import winsorized

#: BOCPD's variants: one parameter changed from the defaults.
BOCPD_VARIANTS: list[dict[str, Any]] = [
    {},
    {"expected_run_length": 250},
    {"expected_run_length": 1000},
    {"expected_run_length": 20000},
    {"penalty": 1.5},
    {"penalty": 2.5},
    {"penalty": 3.0},
    {"min_run": 10, "min_segment": 10},
    {"min_run": 20, "min_segment": 20},
    {"min_run": 50, "min_segment": 50},
    {"ar_precision": 0.1},
    {"ar_precision": 10.0},
    {"kappa0": 1.0},
    {"warm_up": 10},
    {"refine": False},
    {"refine": False, "expected_run_length": 100},
]

#: The error-stream detectors, with their defaults and with lower thresholds.
ERROR_VARIANTS: dict[str, Callable[[], lw.Detector]] = {
    "DDM": lambda: lw.DDM(),
    "DDM drift_threshold=2.5": lambda: lw.DDM(drift_threshold=2.5),
    "DDM warm_start=30": lambda: lw.DDM(warm_start=30),
    "EDDM": lambda: lw.EDDM(),
    "EDDM beta=0.9": lambda: lw.EDDM(beta=0.9),
    "HDDM_A": lambda: lw.HDDM_A(),
    "HDDM_A drift_confidence=0.005": lambda: lw.HDDM_A(drift_confidence=0.005, warning_confidence=0.01),
    "HDDM_A drift_confidence=0.01": lambda: lw.HDDM_A(drift_confidence=0.01, warning_confidence=0.05),
    "HDDM_W": lambda: lw.HDDM_W(),
    "HDDM_W lambda_val=0.05": lambda: lw.HDDM_W(lambda_val=0.05),
    "HDDM_W drift_confidence=0.005": lambda: lw.HDDM_W(drift_confidence=0.005, warning_confidence=0.01),
    "BOCPD": lambda: lw.BOCPD(),
}


def tcpd_f1(make: Callable[[], lw.Detector], series: dict[str, dq.Series]) -> tuple[float, str]:
    """TCPD's F1 (mean over series) and the per-series F1 with the number of change points found."""
    r = dq.score_tcpd(dq.loopwise_points(make), series)
    per = []
    for name, (values, marked) in series.items():
        found: set[int] = set()
        for d in range(values.shape[1]):
            found |= set(dq.loopwise_points(make)(values[:, d])[1])
        per.append(f"{name[:8]} {dq.f_measure(marked, found):.2f} ({len(found)})")
    return r["f1"], "  ".join(per)


class LogBOCPD(lw.BOCPD):
    """BOCPD on the logarithm of a stream that is positive throughout (a test of the idea, not a detector:
    it needs the whole stream first)."""

    def update_many(self, values: Any, with_change_points: bool = False) -> Any:
        x = np.asarray(values, dtype=np.float64)
        return super().update_many(np.log(x) if (x > 0).all() else x, with_change_points=with_change_points)


def bocpd(seed: int, per_kind: int) -> None:
    series = tcpd_series()
    f1, per = tcpd_f1(LogBOCPD, series)
    print(f"logarithm of positive series: TCPD F1 {f1:.3f}\n    TCPD: {per}")
    gen = dq.generated(seed, per_kind)
    for params in BOCPD_VARIANTS:
        f1, per = tcpd_f1(lambda p=params: lw.BOCPD(**p), series)  # type: ignore[misc]
        scores = {
            kind: dq.score_generated(dq.loopwise_points(lambda p=params: lw.BOCPD(**p)), s)["f1"]  # type: ignore[misc]
            for kind, s in gen.items()
        }
        shown = "  ".join(f"{k} {v:.2f}" for k, v in scores.items())
        print(
            f"{params or 'defaults'}: TCPD F1 {f1:.3f}; generated mean {np.mean(list(scores.values())):.3f}"
        )
        print(f"    TCPD: {per}")
        print(f"    generated: {shown}", flush=True)


class CheckBOCPD(lw.BOCPD):
    """BOCPD whose check fits another regression than its run model's (a test of the idea): ``check`` one
    of "ar1" (1 and the value before), "trend" (1 and the time), "ar1trend" (all three)."""

    def __init__(self, check: str, **params: Any) -> None:
        self.check = check
        super().__init__(**params)

    def _check_design(self, y: np.ndarray) -> np.ndarray:
        n = y.size
        lagged, time = np.concatenate(([self._seg_before], y[:-1])), np.arange(n) / n
        columns = {"ar1": [lagged], "trend": [time], "ar1trend": [lagged, time]}[self.check]
        return np.column_stack([np.ones(n), *columns])


#: (label, factory) for the trend round: the defaults, the trend run model, and the check's regression.
TREND_VARIANTS: list[tuple[str, Callable[[], lw.Detector]]] = [
    ("defaults (AR(1) run, AR(1) check)", lambda: lw.BOCPD()),
    ("trend run, trend check, trend_precision 0.01", lambda: lw.BOCPD(model="trend", trend_precision=0.01)),
    ("trend run, trend check, trend_precision 1", lambda: lw.BOCPD(model="trend", trend_precision=1)),
    ("trend run, trend check, trend_precision 100", lambda: lw.BOCPD(model="trend")),
    ("trend run, trend check, trend_precision 1000", lambda: lw.BOCPD(model="trend", trend_precision=1000)),
    (
        "trend run, trend check, trend_precision 100, penalty 2.5",
        lambda: lw.BOCPD(model="trend", trend_precision=100, penalty=2.5),
    ),
    ("AR(1) run, trend check", lambda: CheckBOCPD("trend")),
    ("AR(1) run, AR(1)+trend check", lambda: CheckBOCPD("ar1trend")),
    ("trend run (precision 100), AR(1) check", lambda: CheckBOCPD("ar1", model="trend", trend_precision=100)),
]


def trend(seed: int, per_kind: int) -> None:
    """TCPD F1 and covering, and the generated numeric kinds' F1 (a 0/1 stream takes the Beta-Bernoulli run
    under ``model="auto"`` whatever the numeric model, so the error kind is left out)."""
    series = tcpd_series()
    gen = {k: v for k, v in dq.generated(seed, per_kind).items() if k != dq.ERROR_KIND}
    for label, make in TREND_VARIANTS:
        f1, per = tcpd_f1(make, series)
        cover = dq.score_tcpd(dq.loopwise_points(make), series)["covering"]
        scores = {kind: dq.score_generated(dq.loopwise_points(make), s)["f1"] for kind, s in gen.items()}
        shown = "  ".join(f"{k} {v:.2f}" for k, v in scores.items())
        mean = np.mean(list(scores.values()))
        print(f"{label}: TCPD F1 {f1:.3f}, covering {cover:.3f}; generated numeric mean F1 {mean:.3f}")
        print(f"    TCPD: {per}")
        print(f"    generated: {shown}", flush=True)


def _confirmed(main: list[int], others: list[list[int]], w: int, need: int) -> list[int]:
    """The points of ``main`` that at least ``need`` of ``others`` place within ``w`` values."""
    return [p for p in main if sum(any(abs(p - q) <= w for q in o) for o in others) >= need]


def _majority(points: dict[str, list[int]], keys: str, w: int) -> list[int]:
    """Every point that another of ``keys`` confirms within ``w``, merged within ``w`` (earliest kept)."""
    found = []
    for k in keys:
        found += _confirmed(points[k], [points[o] for o in keys if o != k], w, 1)
    merged: list[int] = []
    for p in sorted(found):
        if not any(abs(p - q) <= w for q in merged):
            merged.append(p)
    return merged


#: A: BOCPD (defaults), B: BOCPD(model="trend", trend_precision=100), C: ADWIN, D: KSWIN.
CONSENSUS_MAKERS: dict[str, Callable[[], lw.Detector]] = {
    "A": lambda: lw.BOCPD(),
    "B": lambda: lw.BOCPD(model="trend", trend_precision=100),
    "C": lambda: lw.ADWIN(),
    "D": lambda: lw.KSWIN(),
}


def consensus(seed: int, per_kind: int) -> None:
    rules: dict[str, Callable[[dict[str, list[int]]], list[int]]] = {
        "A (BOCPD)": lambda d: d["A"],
        "B (BOCPD trend)": lambda d: d["B"],
        "C (ADWIN)": lambda d: d["C"],
        "D (KSWIN)": lambda d: d["D"],
    }
    for w in (5, 10, 20):
        rules[f"A confirmed by B, C or D within {w}"] = lambda d, w=w: _confirmed(  # type: ignore[misc]
            d["A"], [d["B"], d["C"], d["D"]], w, 1
        )
        rules[f"A confirmed by C within {w}"] = lambda d, w=w: _confirmed(d["A"], [d["C"]], w, 1)  # type: ignore[misc]
        rules[f"2 of A, B, C within {w}"] = lambda d, w=w: _majority(d, "ABC", w)  # type: ignore[misc]
        rules[f"(A or B) and (C or D) within {w}"] = lambda d, w=w: _majority(  # type: ignore[misc]
            {"x": sorted(set(d["A"]) | set(d["B"])), "y": sorted(set(d["C"]) | set(d["D"]))}, "xy", w
        )

    def points(x: np.ndarray) -> dict[str, list[int]]:
        return {k: dq.loopwise_points(m)(x)[1] for k, m in CONSENSUS_MAKERS.items()}

    series = tcpd_series()
    tcpd = {name: [points(v[:, d]) for d in range(v.shape[1])] for name, (v, _) in series.items()}
    gen = {k: v for k, v in dq.generated(seed, per_kind).items() if k != dq.ERROR_KIND}
    generated = {kind: [points(x) for x, _ in s] for kind, s in gen.items()}
    print(f"TCPD F1 (per series), generated numeric mean F1 (seed {seed}, {per_kind} per kind)")
    for label, rule in rules.items():
        per = []
        for name, (_, marked) in series.items():
            found: set[int] = set()
            for d in tcpd[name]:
                found |= set(rule(d))
            per.append(dq.f_measure(marked, found))
        g = [
            np.mean([dq.f_measure(t, rule(d)) for (_, t), d in zip(s, generated[kind], strict=True)])
            for kind, s in gen.items()
        ]
        shown = " ".join(f"{x:.2f}" for x in per)
        print(f"  {label:40s} TCPD {np.mean(per):.3f} ({shown})  generated {np.mean(g):.3f}", flush=True)


class SplitBOCPD(lw.BOCPD):
    """BOCPD whose alarms are its own but whose change point is another split of the check's (winsorized)
    segment: ``split="mean"`` the best mean split (one variance), ``"meanvar"`` the best Gaussian split with a
    mean and a variance each side (a test of the idea, decision 0050)."""

    def __init__(self, split: str, **params: Any) -> None:
        self.split = split
        super().__init__(**params)

    def _best_split(self) -> tuple[int | None, float]:
        at, gain = super()._best_split()
        if at is None or self.run_model == "bernoulli":
            return at, gain
        y = winsorized(np.asarray(self._seg))
        n = y.size
        k = np.arange(5, n - 4)
        c1, c2 = np.r_[0.0, np.cumsum(y)], np.r_[0.0, np.cumsum(y * y)]
        nl, nr = k.astype(np.float64), (n - k).astype(np.float64)
        ml, mr = c1[k] / nl, (c1[n] - c1[k]) / nr
        if self.split == "mean":
            crit = nl * nr / n * (ml - mr) ** 2
        else:
            vl = np.maximum(c2[k] / nl - ml**2, 1e-12)
            vr = np.maximum((c2[n] - c2[k]) / nr - mr**2, 1e-12)
            crit = -nl * np.log(vl) - nr * np.log(vr)
        return self._seg_first + int(k[int(np.argmax(crit))]), gain


def since_change_point(cls: type[lw.Detector]) -> type[lw.Detector]:
    """The detector with ``locate="split"`` over the values since its last change point (not since its last
    alarm): the values between a change and its alarm stay in the next split's segment."""

    class Since(cls):  # type: ignore[misc, valid-type]
        def _clear_segment(self) -> None:
            if getattr(self, "_segment", None) is None or self._change_point is None:
                super()._clear_segment()
                return
            self._flush()
            keep = self._n - self._change_point
            self._segment = self._segment[-keep:] if keep > 0 else np.empty(0)
            self._tail = []

    return Since


class MidConsensus(lw.Consensus):
    """Consensus placing its change at the midpoint of BOCPD's change point and the median of the
    confirming change points known at the alarm (a test of the idea, decision 0050)."""

    def _decide(self, t: int) -> bool:
        fired = super()._decide(t)
        if fired and self._change_point is not None and self.run_model_of_primary() != "bernoulli":
            p = self._change_point
            near = [q for q in self._confirms if abs(p - q) <= self.window]
            self._change_point = round((p + float(np.median(near))) / 2)
        return fired

    def run_model_of_primary(self) -> str | None:
        primary = self.members()[0]
        assert isinstance(primary, lw.BOCPD)
        return primary.run_model


def logarithm(make: Callable[[], lw.Detector]) -> dq.Points:
    """The detector on the logarithm of a series that is positive throughout (it needs the whole series)."""

    def run(x: np.ndarray) -> tuple[list[int], list[int]]:
        return dq.loopwise_points(make)(np.log(x) if (x > 0).all() else x)

    return run


def locate(seed: int, per_kind: int) -> None:
    series = tcpd_series()
    gen = {k: v for k, v in dq.generated(seed, per_kind).items() if k != dq.ERROR_KIND}
    print(f"TCPD F1 (per series), generated numeric mean F1 (seed {seed}, {per_kind} per kind)")
    for name, make in {
        "BOCPD": lw.BOCPD,
        "ADWIN": lw.ADWIN,
        "KSWIN": lw.KSWIN,
        "Consensus": lw.Consensus,
    }.items():
        f1 = [
            dq.f_measure(marked, set().union(*(logarithm(make)(v[:, d])[1] for d in range(v.shape[1]))))
            for v, marked in series.values()
        ]
        print(
            f"  {name} on the logarithm of positive series: TCPD {np.mean(f1):.3f} ({_shown(f1)})", flush=True
        )
    variants: dict[str, Callable[[], lw.Detector]] = {
        "BOCPD": lw.BOCPD,
        "BOCPD, best mean split": lambda: SplitBOCPD("mean"),
        "BOCPD, best mean-and-variance split": lambda: SplitBOCPD("meanvar"),
        "ADWIN": lw.ADWIN,
        "ADWIN, split since the last change point": since_change_point(lw.ADWIN),
        "KSWIN": lw.KSWIN,
        "KSWIN, split since the last change point": since_change_point(lw.KSWIN),
        "Consensus": lw.Consensus,
        "Consensus, midpoint with the confirming change points": MidConsensus,
    }
    for label, make in variants.items():
        f1, per = tcpd_f1(make, series)
        g = np.mean([dq.score_generated(dq.loopwise_points(make), s)["f1"] for s in gen.values()])
        print(f"  {label}: TCPD {f1:.3f}; generated numeric {g:.3f}\n    TCPD: {per}", flush=True)


def _shown(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def directions(x: np.ndarray, changes: list[int]) -> list[str]:
    """Whether the error rate rose or fell at each change (the means of the segments either side)."""
    bounds = [0, *changes, len(x)]
    return [
        "rise" if x[c : bounds[j + 2]].mean() > x[bounds[j] : c].mean() else "fall"
        for j, c in enumerate(changes)
    ]


def errors(seed: int, per_kind: int) -> None:
    series = dq.generated(seed, per_kind)[dq.ERROR_KIND]
    print(f"error-rate jumps, seed {seed}, {len(series)} series: hits within 100 (300) values by direction")
    for name, make in ERROR_VARIANTS.items():
        hits = {d: [0, 0, 0] for d in ("rise", "fall")}  # changes, within 100, within 300
        for x, truth in series:
            alarms = make().update_many(x).tolist()
            changes = truth["truth"]
            for j, (c, d) in enumerate(zip(changes, directions(x, changes), strict=True)):
                end = changes[j + 1] if j + 1 < len(changes) else len(x)
                inside = [a for a in alarms if c <= a < end]
                hits[d][0] += 1
                hits[d][1] += bool(inside) and inside[0] - c < 100
                hits[d][2] += bool(inside) and inside[0] - c < 300
        r = dq.score_generated(dq.loopwise_points(make), series)
        shown = "  ".join(f"{d} {h[1]}/{h[0]} ({h[2]})" for d, h in hits.items())
        print(
            f"  {name:30s} {shown}  F1 {r['f1']:.3f}  false alarms / 10k {r['false_alarms_per_10k']:.1f}",
            flush=True,
        )


def offline() -> None:
    """PELT (ruptures) on each standardised stream, a mean-shift (``l2``) or mean-and-variance (``normal``)
    cost, penalties of 1, 2 and 4 times BIC's: a reference point for TCPD's F1 from a method that sees the
    whole series at once."""
    import ruptures

    series = tcpd_series()
    for model, p in (("l2", 1), ("normal", 2)):
        for times in (1, 2, 4):
            f1 = []
            for values, marked in series.values():
                found: set[int] = set()
                n = len(values)
                for d in range(values.shape[1]):
                    x = (values[:, d] - values[:, d].mean()) / values[:, d].std()
                    # BIC: (p + 1) / 2 log n per segment, in log-likelihood units (l2's cost is twice that,
                    # in units of the variance, 1 after standardising)
                    pen = times * (p + 1) / 2 * np.log(n) * (2.0 if model == "l2" else 1.0)
                    bkps = ruptures.Pelt(model=model, min_size=5).fit(x.reshape(-1, 1)).predict(pen=pen)
                    found |= {int(b) for b in bkps if 0 < b < n}
                f1.append(dq.f_measure(marked, found))
            print(f"PELT {model}, {times} x BIC: TCPD F1 {np.mean(f1):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["bocpd", "errors", "offline", "trend", "consensus", "locate"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=8)
    args = parser.parse_args()
    if args.what == "offline":
        offline()
    elif args.what == "trend":
        trend(args.seed, args.per_kind)
    elif args.what == "consensus":
        consensus(args.seed, args.per_kind)
    elif args.what == "locate":
        locate(args.seed, args.per_kind)
    else:
        (bocpd if args.what == "bocpd" else errors)(args.seed, args.per_kind)


if __name__ == "__main__":
    main()
