"""The default detectors' cost on streams with no change: CPU milliseconds a value of ``update_many`` over
stable normal, rounded-normal and lognormal (skewed, heavy-tailed) values. BOCPD's check rescans the segment
since the last change at each proposal, so a stream that makes it propose often and never confirms costs more
the longer it runs (issue 17's closing note).

Run: python bench/detectors_steady.py [--n 6000] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from loopwise.detectors import BOCPD, Consensus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    streams = {
        "normal": rng.normal(50, 10, args.n),
        "rounded normal": np.round(rng.normal(50, 10, args.n)),
        "lognormal": rng.lognormal(10, 0.5, args.n),
    }
    for name, values in streams.items():
        for cls in (BOCPD, Consensus):
            detector = cls()
            began = time.process_time()
            found = detector.update_many(values)
            ms = (time.process_time() - began) / values.size * 1000
            print(
                f"{name:15} {cls.__name__:9} {ms:6.3f} ms a value (CPU), {len(found)} detections; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
