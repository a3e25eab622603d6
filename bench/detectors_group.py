"""A group detector fed per event: ``MultiStream(member="consensus")`` over docs/monitors.md's incomes and
loan amounts (12 hours of 1,200 events, incomes 2.5 times larger from hour 4 to 6; events missing either
column left out, as a monitor leaves them), CPU seconds of ``update_many`` and its detections.
docs/monitors.md quotes it for a group fed per event rather than per sub-window.

Run: python bench/detectors_group.py (compare another checkout with PYTHONPATH=that/src)
"""

from __future__ import annotations

import time

import pandas as pd

from loopwise.datasets import make_credit
from loopwise.detectors import MultiStream


def main() -> None:
    hours = []
    for h in range(12):
        rows = make_credit(1_200, seed=100 + h)
        if 4 <= h <= 6:
            rows["income"] *= 2.5
        hours.append(rows)
    data = pd.concat(hours)[["income", "loan_amount"]].dropna().to_numpy(dtype=float)
    detector = MultiStream(member="consensus")
    began = time.process_time()
    alarms, points = detector.update_many(data, with_change_points=True)
    used = time.process_time() - began
    print(
        f"{len(data):,} events x 2 columns: {used:.1f} s CPU, {used / data.size * 1000:.2f} ms per event and"
        f" column; alarms {alarms.tolist()}, change points {points.tolist()}"
    )


if __name__ == "__main__":
    main()
