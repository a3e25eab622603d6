"""A monitor's view of two runs of bench/detectors_multistream.py, from their caches: on the generated series
both ran, per loopwise detector, the changes alarmed within 100 values (hits), the other alarms (false
alarms) and the mean delay of the hits. Used to compare a change of a detector's alarms (decision 0064:
BOCPD's pause) on the same series.

Run: python bench/detectors_runs_view.py BEFORE.jsonl AFTER.jsonl [--per-kind 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import detectors_quality as dq
from cpd_scoring import monitor_view


def loopwise_runs(path: Path) -> dict[tuple[Any, ...], list[list[int]]]:
    """The cache's runs of loopwise detectors on generated series (keyed by seed, kind, index, label)."""
    out = {}
    for line in path.read_text().splitlines():
        key, value = json.loads(line)
        if key[3].startswith("loopwise") and isinstance(key[0], int):
            out[tuple(key)] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--per-kind", type=int, default=20)
    args = ap.parse_args()
    runs = [loopwise_runs(args.before), loopwise_runs(args.after)]
    common = sorted(set(runs[0]) & set(runs[1]))
    series = {s: dq.generated(s, args.per_kind) for s in {k[0] for k in common}}
    totals: dict[str, list[list[float]]] = defaultdict(lambda: [[0, 0, 0, 0.0], [0, 0, 0, 0.0]])
    for key in common:
        seed, kind, i, label = key
        truth = series[seed][kind][i][1]["truth"]
        for which in (0, 1):
            view = monitor_view(truth, runs[which][key][0], delay=100)
            t = totals[label][which]
            t[0], t[1], t[2] = t[0] + view.changes, t[1] + view.hits, t[2] + view.false_alarms
            t[3] += view.mean_delay * view.hits
    print(f"{len(common)} runs on generated series in both caches; seeds {sorted(series)}")
    for label, (before, after) in totals.items():
        cells = [
            f"hits {t[1]:.0f}/{t[0]:.0f}, false alarms {t[2]:.0f}, mean delay {t[3] / max(t[1], 1):.1f}"
            for t in (before, after)
        ]
        print(f"  {label:34s} before: {cells[0]}; after: {cells[1]}")


if __name__ == "__main__":
    main()
