"""Sixth round (issue 17, decision 0055): ways past the consensus, measured against it and river's defaults
in one run, on TCPD (bench/cpd_scoring.py) and generated piecewise series of several seeds.

Each detector runs once per stream (two processes): A BOCPD, B BOCPD(model="trend"), C ADWIN, D KSWIN (the
consensus's members, their defaults), river's ADWIN, Page-Hinkley and KSWIN (and, on 0/1 streams, DDM,
EDDM, HDDM-A and HDDM-W) with river's defaults. For A and B it also records the **evidence**: the
logarithm of the one-step predictive density of each value under the BOCPD mixture (the sum over run
lengths of the posterior times each run's Student t), summed from the start. Both standardise by the same
warm-up (its mean and the robust spread of its differences), so the sums are log marginal likelihoods of
the same numbers: their difference is the log Bayes factor of "AR(1) runs with change points" against
"linear-trend runs with change points".

Rules, applied to the stored alarms and change points as an online detector would (a proposal at alarm
``a``, change point ``p``, kept when a confirming change point within 10 values was placed by ``a + 500``;
0/1 streams: A's change points as they are, as ``Consensus`` does):

- ``Consensus``: A confirmed by B, C or D (``loopwise.detectors.Consensus``; decision 0050 checked that
  the class scores as this rule).
- ``select (evidence)``: the proposer is the BOCPD whose evidence up to the alarm is the larger (A on a tie),
  confirmed by the other three: Bayesian choice of the run model, no knob.
- ``select (evidence, last N)``: the same on the last N values' evidence (a model choice that may change).
- On TCPD only: a detector on the differences of the stream (a price's returns), alone and as a member.
- ``A by BCD + B by CD``, ``A by BCD + B by ACD``, ``A by BCD + B by 2 of ACD``: the trend BOCPD's change
  points added when other kinds of detector confirm them.

TCPD is scored twice: a multi-stream series' (Apple, Occupancy, RunLog) change points pooled as the union
of its streams' (as bench/detectors_quality.py does), and merged into one series-level set (a point within
the consensus's 10 values of an earlier one dropped), what a detector of the whole series would report.

usage: python bench/detectors_rules.py [--seeds 7,2026,31337,4242,8080] [--cache points.pkl]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import detectors_quality as dq
from cpd_scoring import f_measure, tcpd_series
from loopwise import detectors as lw
from loopwise.detectors import bocpd as bocpd_module

Events = dict[str, Any]  # detector -> (alarms, change points); "evA"/"evB" -> cumulative evidence
Job = tuple[Any, str, int]
WINDOW, HOLD = 10, 500


class EvidenceBOCPD(lw.BOCPD):
    """BOCPD recording each value's log predictive density under its run-length mixture."""

    def _restart(self) -> None:
        super()._restart()
        self.evidence: list[float] = []

    def _update(self, y: float, log_pred: Any, index: int, report: bool, square: float) -> bool:
        self.evidence.append(bocpd_module._logsumexp(self._log_r + log_pred))
        return super()._update(y, log_pred, index, report, square)


MEMBERS: dict[str, Callable[[], lw.Detector]] = {
    "A": EvidenceBOCPD,
    "B": lambda: EvidenceBOCPD(model="trend"),
    "C": lw.ADWIN,
    "D": lw.KSWIN,
}
SERIES = tcpd_series()
GENERATED: dict[int, dict[str, list[dq.Series]]] = {}
RIVER_NUMERIC, RIVER_ERRORS = dq.river_detectors()


def _stream(job: Job) -> np.ndarray:
    where, name, i = job
    return SERIES[name][0][:, i] if where == "tcpd" else GENERATED[where][name][i][0]


def _run(job: Job) -> tuple[Job, Events]:
    x = _stream(job)
    out: Events = {}
    for key, make in MEMBERS.items():
        d = make()
        alarms, points = d.update_many(x, with_change_points=True)
        out[key] = (alarms.tolist(), points.tolist())
        if isinstance(d, EvidenceBOCPD):
            out["ev" + key] = np.cumsum(d.evidence)
            out["model" + key] = d.run_model
    river = dict(RIVER_NUMERIC)
    if job[1] == dq.ERROR_KIND:
        river |= RIVER_ERRORS
    for name, points_of in river.items():
        out[name] = points_of(x)
    return job, out


def events(seeds: list[int], cache: Path | None) -> dict[Job, Events]:
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())  # type: ignore[no-any-return]
    jobs: list[Job] = [("tcpd", n, d) for n, (v, _) in SERIES.items() for d in range(v.shape[1])]
    jobs += [(s, k, i) for s in seeds for k in GENERATED[s] for i in range(len(GENERATED[s][k]))]
    with mp.get_context("fork").Pool(2) as pool:
        found = dict(pool.map(_run, jobs, chunksize=4))
    if cache is not None:
        cache.write_bytes(pickle.dumps(found))
    return found


# -- rules -------------------------------------------------------------------------------------------------


def confirmed(ev: Events, primary: str, others: str, ok: Callable[[int], bool] | None = None) -> list[int]:
    """The primary's change points confirmed online by one of ``others`` (module docstring); ``ok(alarm)``
    filters the primary's alarms."""
    conf = [(b, q) for k in others for b, q in zip(*ev[k], strict=True)]
    out = []
    for a, p in zip(*ev[primary], strict=True):
        if ok is not None and not ok(a):
            continue
        near = [b for b, q in conf if abs(p - q) <= WINDOW]
        if near and min(near) <= a + HOLD:
            out.append(p)
    return sorted(set(out))


def by_two(ev: Events, primary: str, others: str) -> list[int]:
    """The primary's change points that two of ``others`` place within ``WINDOW`` (at any time)."""
    return [
        p for p in ev[primary][1] if sum(any(abs(p - q) <= WINDOW for q in ev[k][1]) for k in others) >= 2
    ]


def merged(*sets: list[int]) -> list[int]:
    out: list[int] = []
    for p in sorted({p for s in sets for p in s}):
        if not any(abs(p - q) <= WINDOW for q in out):
            out.append(p)
    return out


def leads(ev: Events, key: str, at: int, last: int | None) -> bool:
    """Whether BOCPD ``key``'s evidence up to value ``at`` (over its last ``last`` values) beats the other's
    (A wins a tie)."""
    mine, theirs = ev["ev" + key], ev["evB" if key == "A" else "evA"]
    if len(mine) == 0:
        return key == "A"
    i = min(at, len(mine) - 1)
    j = -1 if last is None else i - last

    def gain(e: np.ndarray) -> float:
        return float(e[i] - (e[j] if j >= 0 else 0.0))

    return gain(mine) >= gain(theirs) if key == "A" else gain(mine) > gain(theirs)


def select(last: int | None) -> Callable[[Events], list[int]]:
    def rule(ev: Events) -> list[int]:
        a = confirmed(ev, "A", "BCD", lambda t: leads(ev, "A", t, last))
        b = confirmed(ev, "B", "ACD", lambda t: leads(ev, "B", t, last))
        return merged(a, b)

    return rule


def through(rule: Callable[[Events], list[int]]) -> Callable[[Events], list[int]]:
    """On a 0/1 stream (A's run model is the Beta-Bernoulli one), A's change points as they are."""
    return lambda ev: ev["A"][1] if ev.get("modelA") == "bernoulli" else rule(ev)


def alone(key: str) -> Callable[[Events], list[int]]:
    return lambda ev: [int(c) for c in ev[key][1] if c > 0] if key in ev else []


RULES: dict[str, Callable[[Events], list[int]]] = {
    "no change point": lambda ev: [],
    "river ADWIN": alone("river ADWIN"),
    "river PageHinkley": alone("river PageHinkley"),
    "river KSWIN": alone("river KSWIN"),
    "loopwise BOCPD (A)": alone("A"),
    "loopwise BOCPD trend (B)": alone("B"),
    "loopwise ADWIN (C)": alone("C"),
    "loopwise KSWIN (D)": alone("D"),
    "Consensus": through(lambda ev: confirmed(ev, "A", "BCD")),
    "select (evidence)": through(select(None)),
    "select (evidence, last 200)": through(select(200)),
    "select (evidence, last 1000)": through(select(1000)),
    "A by BCD + B by CD": through(lambda ev: merged(confirmed(ev, "A", "BCD"), confirmed(ev, "B", "CD"))),
    "A by BCD + B by ACD": through(lambda ev: merged(confirmed(ev, "A", "BCD"), confirmed(ev, "B", "ACD"))),
    "A by BCD + B by 2 of ACD": through(lambda ev: merged(confirmed(ev, "A", "BCD"), by_two(ev, "B", "ACD"))),
}
RIVER_ERROR_RULES = {
    name: alone(name) for name in ("river DDM", "river EDDM", "river HDDM_A", "river HDDM_W")
}


def tcpd_f1(
    found: dict[Job, Events], rule: Callable[[Events], list[int]], merge: bool = False
) -> list[float]:
    """Per series; a multi-stream series' change points pooled (the union, as bench/detectors_quality.py
    does), or with ``merge`` one series-level set: a point within ``WINDOW`` of an earlier one dropped."""
    per = []
    for name, (values, marked) in SERIES.items():
        sets = [rule(found[("tcpd", name, d)]) for d in range(values.shape[1])]
        points = set(merged(*sets)) if merge else set().union(*map(set, sets))
        per.append(f_measure(marked, points))
    return per


def kind_f1(found: dict[Job, Events], seed: int, rule: Callable[[Events], list[int]]) -> list[float]:
    return [
        float(np.mean([f_measure(t, rule(found[(seed, k, i)])) for i, (_, t) in enumerate(series)]))
        for k, series in GENERATED[seed].items()
    ]


DIFFERENCED: dict[str, Callable[[], lw.Detector]] = {
    "BOCPD constant": lambda: lw.BOCPD(model="constant"),
    "BOCPD ar1": lambda: lw.BOCPD(model="ar1"),
    "ADWIN": lw.ADWIN,
    "KSWIN": lw.KSWIN,
}


def differences(found: dict[Job, Events]) -> None:
    """TCPD only: a detector E on the stream's differences (a price's returns: a change of their drift or
    spread), alone, as a fifth confirming detector, and as a second proposer confirmed by the others."""
    print("TCPD F1, a detector E on the differences (change point: the difference's index + 1)")
    for label, make in DIFFERENCED.items():
        runs = {}
        for name, (values, _) in SERIES.items():
            for d in range(values.shape[1]):
                alarms, points = make().update_many(np.diff(values[:, d]), with_change_points=True)
                runs[("tcpd", name, d)] = {
                    **found[("tcpd", name, d)],
                    "E": ((alarms + 1).tolist(), (points + 1).tolist()),
                }
        for rule_label, rule in {
            "alone": alone("E"),
            "A by BCDE": lambda ev: confirmed(ev, "A", "BCDE"),
            "A by BCD + E by BCD": lambda ev: merged(confirmed(ev, "A", "BCD"), confirmed(ev, "E", "BCD")),
        }.items():
            per = tcpd_f1(runs, rule)
            shown = " ".join(f"{v:.2f}" for v in per)
            print(f"  E = {label:15s} {rule_label:22s} {np.mean(per):.3f}  ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="7,2026,31337,4242,8080")
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    for s in seeds:
        GENERATED[s] = dq.generated(s, args.per_kind)
    found = events(seeds, args.cache)
    names = list(SERIES)
    for merge in (False, True):
        how = f"merged within {WINDOW} values" if merge else "pooled (the union)"
        print(f"TCPD F1, a series' streams' change points {how} (" + ", ".join(names) + ")")
        for label, rule in RULES.items():
            per = tcpd_f1(found, rule, merge)
            print(f"  {label:30s} {np.mean(per):.3f}  (" + " ".join(f"{v:.2f}" for v in per) + ")")
    differences(found)
    kinds = list(GENERATED[seeds[0]])
    print("generated mean F1 per seed: six numeric kinds [" + ", ".join(kinds[:6]) + "], error-rate jumps")
    for s in seeds:
        print(f" seed {s}")
        for label, rule in RULES.items():
            f1 = kind_f1(found, s, rule)
            shown = " ".join(f"{v:.2f}" for v in f1[:6])
            mean, every = np.mean(f1[:6]), np.mean(f1)
            print(f"  {label:30s} numeric {mean:.3f} [{shown}] errors {f1[6]:.3f} all {every:.3f}")
        for label, rule in RIVER_ERROR_RULES.items():
            print(f"  {label:30s} errors {kind_f1(found, s, rule)[6]:.3f}")
    print("log Bayes factor, AR(1) runs against trend runs (evidence of A minus B over the whole stream)")
    for name, (values, _) in SERIES.items():
        diffs = [
            float(found[("tcpd", name, d)]["evA"][-1] - found[("tcpd", name, d)]["evB"][-1])
            for d in range(values.shape[1])
        ]
        print(f"  TCPD {name:20s} " + " ".join(f"{v:.1f}" for v in diffs))
    for s in seeds:
        for k, series in GENERATED[s].items():
            diffs = [
                float(found[(s, k, i)]["evA"][-1] - found[(s, k, i)]["evB"][-1]) for i in range(len(series))
            ]
            print(
                f"  seed {s} {k:22s} median {np.median(diffs):7.1f}  min {min(diffs):7.1f}"
                f"  trend runs preferred in {sum(d < 0 for d in diffs)}/{len(diffs)}"
            )


if __name__ == "__main__":
    main()
