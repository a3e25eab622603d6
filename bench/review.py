"""Selecting a day's review tasks from 1,000,000 logged events under a five-selector policy (issue 18's
target: under 2 s), timed best of ``--repeat``; and each selector alone, to show where the time goes.

The events: loopwise's credit dataset (``make_credit``, drifted), with a champion's and a challenger's score
for the disagreement selector; the reference: 20,000 rows of the undrifted data. The policy: uncertainty
0.3, novelty 0.2, segment 0.2 (race, floor 25), disagreement 0.1, random 0.2; a budget of 1,000 tasks.

usage: python bench/review.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np

import loopwise as lw
from loopwise.datasets import make_credit
from loopwise.review import Disagreement, Novelty, Policy, Random, Segment, Uncertainty


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t = time.perf_counter()
    events = make_credit(args.rows, seed=2, drift=True).drop(columns=["repaid"])
    rng = np.random.default_rng(5)
    events["p_challenger"] = np.clip(events["p_approve"] + rng.normal(0, 0.1, len(events)), 0, 1)
    reference = lw.profile(make_credit(20_000, seed=1))
    print(f"{args.rows:,} events made in {time.perf_counter() - t:.1f} s; load {os.getloadavg()[0]:.1f}; "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")  # fmt: skip

    selectors = {
        "uncertainty": Uncertainty(0.3, scores=["p_approve"]),
        "novelty": Novelty(0.2, reference=reference),
        "segment": Segment(0.2, column="race", floor=25),
        "disagreement": Disagreement(0.1, champion="p_approve", challenger="p_challenger"),
        "random": Random(0.2),
    }
    policy = Policy(list(selectors.values()), tasks=1000)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        selection = policy.select(events, seed=7)
        best = min(best, time.perf_counter() - t)
    print(
        f"five-selector policy: {len(selection):,} tasks, best of {args.repeat} {best:.2f} s (target < 2 s)"
    )
    for name, sel in selectors.items():
        alone = (
            Policy([replace(sel, share=0.9), Random(0.1)], tasks=1000)
            if name != "random"
            else Policy([replace(sel, share=1.0)], tasks=1000)
        )
        t = time.perf_counter()
        alone.select(events, seed=7)
        alongside = " (with a 10% random slice)" if name != "random" else " alone"
        print(f"  {name}{alongside}: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
