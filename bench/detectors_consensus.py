"""Consensus rules from each detector's alarms and change points (decision 0050): which detector proposes,
which confirm, within how many values, how long an alarm may be held, and where the change is placed; on
TCPD (bench/cpd_scoring.py) and the generated series of seeds 7 (design) and 2026, 20 per kind.

Each detector runs once per stream (two processes); the rules are then applied to the stored alarms and
change points as an online detector would: a proposal (alarm a, change point p) is kept when a confirming
change point q with |p - q| <= w was placed by alarm a + hold, and reported at the later of a and that
confirmation. ``Consensus`` itself (src/loopwise/detectors/consensus.py) is the rule "A by BCD, w 10, hold
500, 0/1 streams: A's alarms", and scores as it does here (bench/RESULTS.md, fifth round).

Detectors: A BOCPD, B BOCPD(model="trend"), C ADWIN, D KSWIN, E HDDM_A (0/1 streams only), K
BOCPD(model="constant"), A15 / A10 BOCPD(penalty=1.5 / 1.0).

usage: python bench/detectors_consensus.py [--cache points.pkl] [--speed]
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

MAKERS: dict[str, Callable[[], lw.Detector]] = {
    "A": lambda: lw.BOCPD(),
    "B": lambda: lw.BOCPD(model="trend"),
    "C": lambda: lw.ADWIN(),
    "D": lambda: lw.KSWIN(),
    "E": lambda: lw.HDDM_A(),
    "K": lambda: lw.BOCPD(model="constant"),
    "A15": lambda: lw.BOCPD(penalty=1.5),
    "A10": lambda: lw.BOCPD(penalty=1.0),
}
SEEDS = (7, 2026)
SERIES = tcpd_series()
GENERATED = {seed: dq.generated(seed, 20) for seed in SEEDS}
Events = dict[str, tuple[list[int], list[int]]]  # detector -> (alarms, change points)
INF = 10**9


def _stream(job: tuple[Any, str, int]) -> np.ndarray:
    where, name, i = job
    return SERIES[name][0][:, i] if where == "tcpd" else GENERATED[where][name][i][0]


def _run(job: tuple[Any, str, int]) -> tuple[tuple[Any, str, int], Events]:
    x = _stream(job)
    out: Events = {}
    for key, make in MAKERS.items():
        if key == "E" and not np.isin(x, (0.0, 1.0)).all():
            continue
        alarms, points = make().update_many(x, with_change_points=True)
        out[key] = (alarms.tolist(), points.tolist())
    return job, out


def events(cache: Path | None) -> dict[tuple[Any, str, int], Events]:
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())  # type: ignore[no-any-return]
    jobs: list[tuple[Any, str, int]] = [
        ("tcpd", n, d) for n, (v, _) in SERIES.items() for d in range(v.shape[1])
    ]
    jobs += [(s, k, i) for s in SEEDS for k in GENERATED[s] for i in range(20)]
    with mp.get_context("fork").Pool(2) as pool:
        found = dict(pool.map(_run, jobs, chunksize=4))
    if cache is not None:
        cache.write_bytes(pickle.dumps(found))
    return found


def confirmed(
    ev: Events, primary: str, others: str | list[str], w: int, hold: int, where: str = "p"
) -> list[int]:
    """The primary's change points confirmed online (module docstring); ``where``: "p" the primary's,
    "mid" the midpoint with the median of the confirmations known at the alarm, "later" the same with every
    confirmation (not online)."""
    out = []
    conf = [(b, q) for k in others if k in ev for b, q in zip(*ev[k], strict=True)]
    for a, p in zip(*ev[primary], strict=True):
        near = [(b, q) for b, q in conf if abs(p - q) <= w]
        if not near or min(b for b, _ in near) > a + hold:
            continue
        at = max(a, min(b for b, _ in near))
        if where == "p":
            out.append(p)
        else:
            qs = [q for b, q in near if where == "later" or b <= at]
            out.append(round((p + float(np.median(qs))) / 2))
    return out


def by_all(ev: Events, primary: str, others: str, w: int) -> list[int]:
    """The primary's change points that every one of ``others`` places within ``w`` (any time)."""
    return [p for p in ev[primary][1] if all(any(abs(p - q) <= w for q in ev[k][1]) for k in others)]


def merged(*sets: list[int], w: int) -> list[int]:
    """The union of change-point sets, a point within ``w`` of an earlier one dropped."""
    out: list[int] = []
    for p in sorted({p for s in sets for p in s}):
        if not any(abs(p - q) <= w for q in out):
            out.append(p)
    return out


def score(found: dict[tuple[Any, str, int], Events], rule: Callable[[Events], list[int]], label: str) -> None:
    per = []
    for name, (values, marked) in SERIES.items():
        points: set[int] = set()
        for d in range(values.shape[1]):
            points |= set(rule(found[("tcpd", name, d)]))
        per.append(f_measure(marked, points))
    parts = []
    for s in SEEDS:
        kinds = [
            np.mean([f_measure(t, rule(found[(s, k, i)])) for i, (_, t) in enumerate(GENERATED[s][k])])
            for k in GENERATED[s]
        ]
        parts.append(f"{s}: numeric {np.mean(kinds[:6]):.3f} all {np.mean(kinds):.3f} errors {kinds[6]:.2f}")
    shown = " ".join(f"{x:.2f}" for x in per)
    print(f"{label:48s} TCPD {np.mean(per):.3f} ({shown}) | " + " | ".join(parts), flush=True)


def through(rule: Callable[[Events], list[int]]) -> Callable[[Events], list[int]]:
    """On a 0/1 stream (HDDM_A ran), BOCPD's change points as they are."""
    return lambda ev: ev["A"][1] if "E" in ev else rule(ev)


def speed() -> None:
    """CPU time a value of BOCPD and Consensus, fed as an array and one value at a time (20,000 values)."""
    import time

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 10000), rng.normal(1, 1, 10000)])
    for name, make in (("BOCPD", lw.BOCPD), ("Consensus", lw.Consensus)):
        d = make()
        d.update_many(x[:100])
        t = time.process_time()
        d.update_many(x[100:])
        many = time.process_time() - t
        d = make()
        d.update_many(x[:100])
        t = time.process_time()
        for v in x[100:5100].tolist():
            d.update(v)
        one = time.process_time() - t
        per = 1e3 * many / (len(x) - 100)
        print(f"{name}: update_many {per:.3f} ms a value, update {1e3 * one / 5000:.3f} ms a value")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--speed", action="store_true", help="time BOCPD and Consensus instead")
    args = parser.parse_args()
    if args.speed:
        speed()
        return
    found = events(args.cache)
    print("TCPD F1 (per series) | generated mean F1: six numeric kinds, all seven, error-rate jumps")
    for key in ("A", "B", "C", "D", "K", "A15", "A10"):
        score(found, lambda ev, k=key: ev[k][1], key)
    for w in (5, 10, 20):
        for hold in (INF, 100, 200, 500):
            score(
                found, lambda ev, w=w, h=hold: confirmed(ev, "A", "BCD", w, h), f"A by BCD w{w} hold {hold}"
            )
    score(
        found,
        through(lambda ev: confirmed(ev, "A", "BCD", 10, 500)),
        "Consensus: A by BCD w10 hold 500, 0/1: A",
    )
    score(found, lambda ev: confirmed(ev, "A", "BCDE", 10, INF), "A by BCDE w10")
    score(found, lambda ev: confirmed(ev, "A", "CD", 10, INF), "A by CD w10")
    for w in (5, 10, 20):
        score(
            found,
            lambda ev, w=w: merged(confirmed(ev, "A", "BCD", w, INF), confirmed(ev, "B", "CD", w, INF), w=w),
            f"A by BCD + B by CD w{w}",
        )
    score(found, through(lambda ev: confirmed(ev, "A", "BCDK", 10, 500)), "A by BCDK w10 hold 500")
    for primary in ("A15", "A10"):
        score(found, through(lambda ev, p=primary: confirmed(ev, p, "BCD", 10, 500)), f"{primary} by BCD w10")
    for w in (5, 10):
        for extra, others in (("B", "CD"), ("B", "AC"), ("C", "BD")):
            score(
                found,
                through(
                    lambda ev, w=w, e=extra, o=others: merged(
                        confirmed(ev, "A", "BCD", 10, 500), by_all(ev, e, o, w), w=10
                    )
                ),
                f"Consensus + {extra} by all of {others} w{w}",
            )
    for where in ("mid", "later"):
        for w in (5, 10, 20):
            score(
                found,
                through(lambda ev, w=w, wh=where: confirmed(ev, "A", "BCD", w, 500, wh)),
                f"A by BCD w{w} hold 500, placed {where}",
            )


if __name__ == "__main__":
    main()
