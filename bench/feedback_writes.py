"""What a write of labels costs: a bulk of 50,000 (ten calls of 5,000, as the client sends them) and a label a
call (as from a review queue), before and after a change, in fresh processes, alternated.

Run: python bench/feedback_writes.py [--before PATH] [--repeat 3] [--single 300]. ``--before``: another
checkout's ``src/`` (e.g. ``git worktree add --detach /tmp/before main``); each repeat runs that code and then
this one, each on a fresh SQLite database. CPU seconds of the bulk (the process's), and per single-label call
the wall, user and system milliseconds (``os.times``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "x": {"kind": "numeric"},
        "pred": {"role": "prediction", "kind": "boolean"},
    }
}


def one(single: int) -> dict[str, float]:
    import loopwise as lw

    with tempfile.TemporaryDirectory() as d:
        client = lw.Client.local(f"sqlite:///{d}/f.db")
        model = client.register("m", SCHEMA)
        cpu = time.process_time()
        for i in range(10):
            model.log_feedback([f"b{i}-{j}" for j in range(5000)], [j % 2 == 0 for j in range(5000)])
        bulk = time.process_time() - cpu
        t0, wall = os.times(), time.perf_counter()
        for i in range(single):
            model.log_feedback([f"s{i}"], [True])
        t1, wall = os.times(), (time.perf_counter() - wall) / single * 1000
        client.close()
    return {
        "bulk_cpu_s": bulk,
        "single_wall_ms": wall,
        "single_user_ms": (t1.user - t0.user) / single * 1000,
        "single_sys_ms": (t1.system - t0.system) / single * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--single", type=int, default=300)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.single)))
        return
    this = str(Path(__file__).parent.parent / "src")
    codes = [("before", args.before), ("after", this)] if args.before else [("this", this)]
    for _ in range(args.repeat):
        for code, src in codes:
            cmd = [sys.executable, __file__, "--one", "--single", str(args.single)]
            out = subprocess.run(
                cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src}
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{code:6} bulk 50,000 labels: cpu {r['bulk_cpu_s']:.2f} s; a label a call: wall "
                f"{r['single_wall_ms']:.2f} ms, user {r['single_user_ms']:.2f} ms, sys "
                f"{r['single_sys_ms']:.2f} ms; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
