"""One backfill batch's buckets, profiled and written, timed alone: what a year costs beyond the hour.

Run: python bench/backfill_batch.py [--repeat 9] [--before PATH] [--rounds 3]. A batch of 5,000 rows of the
demo's credit data (``bench/backfill.py``'s, the SDK's batch) spread over 44 hours (a year's spacing) or
within one hour, profiled into its hourly buckets as ``log`` does (``ingest.parts.profile_parts``) and each
bucket's profile written as stored (``to_bytes`` with its edges apart, as ``ingest.staging.pack_group``
writes it). Prints the CPU milliseconds of each step, the best of ``--repeat`` runs; with ``--before``
(another checkout's ``src/``), each round runs that code and then this one in fresh processes, alternating,
so both see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

ROWS = 5_000


def measure(spread: str, repeat: int) -> dict[str, float]:
    """CPU ms (best of ``repeat``) of profiling a batch's buckets and of writing them."""
    import loopwise as lw
    from backfill import frame
    from loopwise.datasets import CREDIT_SCHEMA_YAML
    from loopwise.ingest.parts import own_edges, profile_parts

    schema = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
    rows = 1_000_000 if spread == "year" else 300_000  # a batch of the bench's spacing
    df = frame(rows, spread).iloc[100_000 : 100_000 + ROWS]
    df.pop("repaid")
    from loopwise.schema import to_table

    table = to_table(df)
    edges = own_edges(schema, to_table(frame(2_000, "hour")))
    for e in edges.values():
        e.flags.writeable = False
    ids = [str(x) for x in df["request_id"]]
    ts = df["ts"].to_numpy().astype("datetime64[us]")
    versions = ["v1"] * len(ids)
    best = {"profile_ms": float("inf"), "write_ms": float("inf"), "buckets": 0.0}
    for _ in range(repeat):
        t0 = time.process_time()
        parts = profile_parts(schema, table, ids, ts, versions, edges, {})
        t1 = time.process_time()
        out: dict[str, np.ndarray] = {}
        for p in parts.values():
            assert isinstance(p, lw.Profile)
            p.to_bytes(edges_out=out)
        t2 = time.process_time()
        best["profile_ms"] = min(best["profile_ms"], (t1 - t0) * 1e3)
        best["write_ms"] = min(best["write_ms"], (t2 - t1) * 1e3)
        best["buckets"] = len(parts)
        del parts
    return {k: round(v, 2) for k, v in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", help="another checkout's src/: its code and this one alternate")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.repeat)))
        return
    codes = [("before", args.before), ("after", None)] if args.before else [("this", None)]
    for r in range(args.rounds):
        for spread in ("year", "hour"):
            for code, path in codes:
                env = dict(os.environ)
                if path:
                    env["PYTHONPATH"] = path
                cmd = [sys.executable, __file__, "--one", spread, "--repeat", str(args.repeat)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                got: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"round {r} {code:6s} {spread:4s} buckets {got['buckets']:.0f}  profile "
                    f"{got['profile_ms']:6.2f} ms  write {got['write_ms']:6.2f} ms  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
