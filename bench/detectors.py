"""``update_many`` on 1,000,000 values against river's per-value loop, same parameters, same run.

Streams: numbers, a Gaussian stream whose mean moves by 2 every 100,000 values; errors, a 0/1 stream whose
rate alternates between 0.1 and 0.3 every 100,000 values. Each loopwise detector is built with river's
parameters (its defaults: loopwise's differ) and ``locate="native"`` (the split keeps the segment's values),
timed best of ``--repeat`` runs (wall clock, and the process's CPU time, which other work on a shared
machine disturbs less); river's loop (``for x in values: d.update(x)``, recording detections) once,
on the first ``--river-values`` values when given (the per-value cost of river's loop is flat, so the figure
is scaled to 1,000,000; said so in the output). The detections of both are compared on the values both saw.

usage: python bench/detectors.py [--n 1000000] [--repeat 3] [--only ADWIN,KSWIN] [--json out.json]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from river import drift
from river.drift import binary

from loopwise import detectors as lw

#: name -> (loopwise class, river factory, stream, river values timed by default: None for all).
CASES: dict[str, tuple[type[lw.Detector], Callable[[], Any], str, int | None]] = {
    "PageHinkley": (lw.PageHinkley, drift.PageHinkley, "numbers", None),
    "ADWIN": (lw.ADWIN, drift.ADWIN, "numbers", None),
    "KSWIN": (lw.KSWIN, lambda: drift.KSWIN(seed=1), "numbers", 20_000),
    "DDM": (lw.DDM, binary.DDM, "errors", None),
    "EDDM": (lw.EDDM, binary.EDDM, "errors", None),
    "HDDM_A": (lw.HDDM_A, binary.HDDMA, "errors", None),
    "HDDM_W": (lw.HDDM_W, binary.HDDMW, "errors", 200_000),
}


def same_parameters(river_detector: Any, cls: type[lw.Detector]) -> Callable[[], lw.Detector]:
    """A factory of loopwise detectors with the river detector's parameters (river's defaults, not
    loopwise's), and ``locate="native"``."""
    accepted = inspect.signature(cls).parameters
    params = {k: v for k, v in river_detector._get_params().items() if k in accepted and v is not None}
    return lambda: cls(**params, locate="native")


def streams(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    block = np.arange(n) // 100_000
    numbers = rng.normal(0, 1, n) + 2.0 * (block % 2)
    errors = (rng.random(n) < np.where(block % 2 == 0, 0.1, 0.3)).astype(np.float64)
    return {"numbers": numbers, "errors": errors}


def river_loop(make: Callable[[], Any], values: np.ndarray) -> tuple[float, float, list[int]]:
    """Wall and CPU seconds of river's loop, and its detections."""
    d, hits = make(), []
    xs = values.tolist()
    start, cpu = time.perf_counter(), time.process_time()
    for i, x in enumerate(xs):
        d.update(x)
        if d.drift_detected:
            hits.append(i)
    return time.perf_counter() - start, time.process_time() - cpu, hits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument(
        "--river-values", type=int, default=0, help="time river on this many values (0: default)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = streams(args.n)
    out = {}
    names = [s for s in args.only.split(",") if s] or list(CASES)
    print(f"{'detector':12s} {'loopwise':>10s} {'river':>10s} {'ratio':>7s}  (CPU) detections")
    for name in names:
        cls, theirs, stream, river_n = CASES[name]
        ours = same_parameters(theirs(), cls)
        values = data[stream]
        ours().update_many(values[:1000])  # warm-up: imports, caches
        times, cpus = [], []
        for _ in range(args.repeat):
            d = ours()
            start, cpu = time.perf_counter(), time.process_time()
            idx = d.update_many(values)
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        m = args.river_values or river_n or args.n
        m = min(m, args.n)
        river_s, river_cpu, river_hits = river_loop(theirs, values[:m])
        river_full, river_cpu_full = river_s * args.n / m, river_cpu * args.n / m
        same = idx[idx < m].tolist() == river_hits
        ratio = river_full / min(times)
        cpu_ratio = river_cpu_full / max(min(cpus), 1e-9)
        scaled = "" if m == args.n else f" (river timed on {m:,} values, scaled)"
        print(
            f"{name:12s} {min(times):9.3f}s {river_full:9.2f}s {ratio:6.1f}x  (CPU {min(cpus):.3f}s / "
            f"{river_cpu_full:.2f}s, {cpu_ratio:.1f}x)  {len(idx)} "
            f"({'the same as river' if same else 'DIFFERENT from river'}){scaled}",
            flush=True,
        )
        out[name] = {
            "loopwise_s": min(times),
            "river_s": river_full,
            "ratio": ratio,
            "loopwise_cpu_s": min(cpus),
            "river_cpu_s": river_cpu_full,
            "cpu_ratio": cpu_ratio,
            "same": same,
            "river_n": m,
        }
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if not all(r["same"] for r in out.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
