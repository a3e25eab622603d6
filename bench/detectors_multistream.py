"""Seventh round (issue 17, decision 0057): the detectors as built, one change-point set per series.

TCPD (bench/cpd_scoring.py): each loopwise detector produces one set of change points per series: on a
series of several streams (Apple, Occupancy, RunLog) ``MultiStream`` with that detector as its member (one
member per stream, a change reported once), on the others the detector itself. Nothing is merged in the
bench. river's detectors watch one stream each and have no such detector: their change points are pooled
over a series' streams (the union), as bench/detectors_quality.py does, and so are loopwise's "pooled" rows
(a detector per stream), for comparison.

Generated piecewise series (bench/detectors_quality.py ``generated``, 20 per kind, one stream each): the
seeds the defaults were chosen on (7, 2026) and three read only at the end (31337, 4242, 8080).

Detectors: ``Consensus()`` as it was (``proposers="bocpd"``), ``Consensus(proposers="bocpd+trend")`` (the
trend BOCPD's change points confirmed by ADWIN or KSWIN added), BOCPD; river's ADWIN, Page-Hinkley and
KSWIN with their defaults (and DDM, EDDM, HDDM-A, HDDM-W on the 0/1 streams).

Runs go to ``--cache`` (a JSON line each) as they finish, so that a stopped run goes on where it stopped;
the consensuses first, then river's defaults and BOCPD. ``--report`` scores what the cache holds (a
detector missing from it is left out of the tables).

usage: python bench/detectors_multistream.py [--seeds 7,2026,31337,4242,8080] [--per-kind 20] [--json out]
         [--cache runs.jsonl] [--procs 2] [--report]
       python bench/detectors_multistream.py --speed
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import detectors_quality as dq
from cpd_scoring import covering, f_measure, tcpd_series
from loopwise import detectors as lw

LOOPWISE: dict[str, tuple[str, dict[str, Any]]] = {  # label -> (kind, parameters)
    "loopwise Consensus (bocpd)": ("consensus", {"proposers": "bocpd"}),
    "loopwise Consensus (bocpd+trend)": ("consensus", {"proposers": "bocpd+trend"}),
    "loopwise BOCPD": ("bocpd", {}),
}
SERIES = tcpd_series()
GENERATED: dict[int, dict[str, list[dq.Series]]] = {}
RIVER_NUMERIC, RIVER_ERRORS = dq.river_detectors()
Job = tuple[Any, str, int, str]  # (where, series or kind, index, detector label)


def _make(label: str) -> lw.Detector:
    kind, params = LOOPWISE[label]
    return lw.Detector._kinds[kind](**params)


def _run(job: Job) -> tuple[Job, tuple[list[int], list[int]]]:
    where, name, i, label = job
    if where == "tcpd-series":  # a series as one: MultiStream over its streams, or the detector itself
        values = SERIES[name][0]
        if values.shape[1] > 1:
            kind, params = LOOPWISE[label]
            d: lw.Detector = lw.MultiStream(member=kind, params=params)
            alarms, points = d.update_many(values, with_change_points=True)
        else:
            alarms, points = _make(label).update_many(values[:, 0], with_change_points=True)
        return job, (alarms.tolist(), [int(p) for p in points if 0 < p < len(values)])
    x = SERIES[name][0][:, i] if where == "tcpd" else GENERATED[where][name][i][0]
    if label in LOOPWISE:
        return job, dq.loopwise_points(lambda: _make(label))(x)
    return job, {**RIVER_NUMERIC, **RIVER_ERRORS}[label](x)


def jobs(seeds: list[int]) -> list[Job]:
    """TCPD first, then the consensus with the trend BOCPD proposing on every seed, then the consensus as it
    was (its figures on these seeds are decision 0055's: the rule is the same), river's defaults, BOCPD."""
    out: list[Job] = []
    for name, (values, _) in SERIES.items():
        out += [("tcpd-series", name, 0, label) for label in LOOPWISE]
        for d in range(values.shape[1]):
            out += [("tcpd", name, d, label) for label in [*LOOPWISE, *RIVER_NUMERIC]]
    first = ["loopwise Consensus (bocpd+trend)"]
    for labels in (
        first,
        ["loopwise Consensus (bocpd)"],
        [*RIVER_NUMERIC, *RIVER_ERRORS],
        ["loopwise BOCPD"],
    ):
        for s in seeds:
            for kind, series in GENERATED[s].items():
                mine = [lb for lb in labels if lb not in RIVER_ERRORS or kind == dq.ERROR_KIND]
                out += [(s, kind, i, label) for label in mine for i in range(len(series))]
    return out


def _key(job: Job) -> str:
    return json.dumps(list(job))


def speed() -> None:
    """CPU time a value of each Consensus, fed as an array and one value at a time (20,000 values), and of
    MultiStream over three streams of consensuses (a row of three values)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 10000), rng.normal(1, 1, 10000)])
    for label in ("loopwise Consensus (bocpd)", "loopwise Consensus (bocpd+trend)", "loopwise BOCPD"):
        d = _make(label)
        d.update_many(x[:100])
        t = time.process_time()
        d.update_many(x[100:])
        many = time.process_time() - t
        d = _make(label)
        d.update_many(x[:100])
        t = time.process_time()
        for v in x[100:5100].tolist():
            d.update(v)
        one = time.process_time() - t
        per = 1e3 * many / (len(x) - 100)
        print(
            f"{label}: update_many {per:.3f} ms a value, update {1e3 * one / 5000:.3f} ms a value", flush=True
        )
    rows = np.column_stack([x, rng.normal(0, 1, len(x)), x[::-1]])
    m = lw.MultiStream()
    m.update_many(rows[:100])
    t = time.process_time()
    m.update_many(rows[100:])
    many = time.process_time() - t
    print(f"MultiStream of 3 consensuses: update_many {1e3 * many / (len(rows) - 100):.3f} ms a row")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="7,2026,31337,4242,8080")
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.speed:
        speed()
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    for s in seeds:
        GENERATED[s] = dq.generated(s, args.per_kind)
    todo = jobs(seeds)
    found: dict[Job, tuple[list[int], list[int]]] = {}
    if args.cache is not None and args.cache.exists():
        for line in args.cache.read_text().splitlines():
            key, value = json.loads(line)
            found[tuple(key)] = tuple(value)  # type: ignore[assignment]
    left = [j for j in todo if j not in found]
    start = time.perf_counter()
    if left and not args.report:
        with mp.get_context("fork").Pool(args.procs) as pool:
            for job, value in pool.imap_unordered(_run, left, chunksize=1):
                found[job] = value
                if args.cache is not None:
                    with args.cache.open("a") as f:
                        f.write(json.dumps([list(job), list(value)]) + "\n")
    took = time.perf_counter() - start
    print(f"({len(left)} runs in {took:.0f} s; {len(todo) - len(left)} from the cache)")
    out: dict[str, Any] = {"tcpd": {}, "generated": {}}
    names = list(SERIES)
    print("TCPD F1 within 5 and covering, per series (" + ", ".join(names) + ")")
    rows: list[tuple[str, Callable[[str], set[int]]]] = [("no change point", lambda name: set())]
    for label in LOOPWISE:
        rows.append(
            (
                label + ", one set per series",
                lambda name, lb=label: set(found[("tcpd-series", name, 0, lb)][1]),
            )
        )
    for label in [*LOOPWISE, *RIVER_NUMERIC]:
        rows.append(
            (
                label + ", pooled",
                lambda name, lb=label: set().union(
                    *(set(found[("tcpd", name, d, lb)][1]) for d in range(SERIES[name][0].shape[1]))
                ),
            )
        )
    for label, points_of in rows:
        f1 = [f_measure(SERIES[n][1], points_of(n)) for n in names]
        cover = [covering(SERIES[n][1], points_of(n), len(SERIES[n][0])) for n in names]
        out["tcpd"][label] = {"f1": float(np.mean(f1)), "covering": float(np.mean(cover)), "per_series": f1}
        shown = " ".join(f"{v:.2f}" for v in f1)
        print(f"  {label:52s} F1 {np.mean(f1):.3f}  covering {np.mean(cover):.3f}  ({shown})")
    kinds = list(GENERATED[seeds[0]])
    print("generated mean F1 per seed: six numeric kinds [" + ", ".join(kinds[:6]) + "], error-rate jumps")
    for s in seeds:
        print(f" seed {s}")
        out["generated"][s] = {}
        for label in ["no change point", *LOOPWISE, *RIVER_NUMERIC, *RIVER_ERRORS]:
            if label != "no change point" and not all(
                (s, k, i, label) in found
                for k, series in GENERATED[s].items()
                for i in range(len(series))
                if label not in RIVER_ERRORS or k == dq.ERROR_KIND
            ):
                continue  # not all run (yet)
            f1 = []
            for kind, series in GENERATED[s].items():
                if label in RIVER_ERRORS and kind != dq.ERROR_KIND:
                    f1.append(float("nan"))
                    continue
                f1.append(
                    float(
                        np.mean(
                            [
                                f_measure(
                                    t, [] if label == "no change point" else found[(s, kind, i, label)][1]
                                )
                                for i, (_, t) in enumerate(series)
                            ]
                        )
                    )
                )
            out["generated"][s][label] = dict(zip(kinds, f1, strict=True))
            if label in RIVER_ERRORS:
                print(f"  {label:34s} errors {f1[6]:.3f}")
                continue
            shown = " ".join(f"{v:.2f}" for v in f1[:6])
            print(
                f"  {label:34s} numeric {np.mean(f1[:6]):.3f} [{shown}] errors {f1[6]:.3f}"
                f" all {np.mean(f1):.3f}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
