"""A gate on paired labelled predictions (issue 16: 1,000,000 in under 2 s).

Run: python bench/gate.py [--rows 1000000] [--repeat 3].
Generates a champion's and a challenger's binary predictions and scores (accuracy 0.80 and 0.81) with a
two-valued segment, and times the gate's evaluation as ``run_gate`` does it once the pairs are read: the
gate tables (``gate_tables``), the Suite (non-inferiority and superiority on accuracy by McNemar, on ROC AUC
by DeLong, a fairness budget over the segment, a latency budget) and the verdict (``judge``). Reading the
pairs from the database is ``pair``'s work, shared with ``compare_versions`` and measured by bench/replay.py.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from loopwise.checks import Suite, fairness_budget, latency_budget, non_inferior, superior
from loopwise.registry.comparison import Paired
from loopwise.registry.gate import gate_tables, judge
from loopwise.schema import Schema


def paired(n: int, seed: int = 0) -> Paired:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    a = np.where(rng.random(n) < 0.80, y, ~y)
    b = np.where(rng.random(n) < 0.81, y, ~y)
    sa = np.clip(np.where(a, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    sb = np.clip(np.where(b, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    ids = [f"e{i}" for i in range(n)]
    schema = Schema.from_dict(
        {
            "columns": {
                "id": {"role": "id"},
                "x": {"kind": "numeric"},
                "region": {"role": "segment", "kind": "categorical"},
                "approved": {"role": "prediction", "kind": "boolean"},
                "p_approved": {"role": "score"},
            }
        }
    )
    region = pa.array(np.where(rng.random(n) < 0.5, "north", "south"))
    return Paired(
        champion="v1",
        challenger="v2",
        schema=schema,
        ids=ids,
        champion_predictions=a.tolist(),
        challenger_predictions=b.tolist(),
        champion_scores=sa.tolist(),
        challenger_scores=sb.tolist(),
        labels=dict(zip(ids, y.tolist(), strict=True)),
        table=pa.table({"region": region}),
        challenger_ms=[],
        positive="true",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    p = paired(args.rows)
    suite = Suite(
        "gate",
        [
            non_inferior("accuracy", margin=0.005),
            superior("accuracy"),
            non_inferior("roc_auc", margin=0.005),
            fairness_budget("region", budget=0.02),
            latency_budget(50),
        ],
    )
    times = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        schema, current, champ, chall, labels = gate_tables(p, [])
        result = suite.run(
            current,
            schema=schema,
            champion=champ,
            challenger=chall,
            labels=labels,
            challenger_latency={"p99_ms": 3.0},
        )
        status, verdict, _ = judge(result, labels.num_rows)
        times.append(time.perf_counter() - began)
    print(f"{args.rows:,} paired labelled predictions: {status} ({verdict})")
    for r in result.results:
        print(f"  {r.status:5} {r.check.title}: {r.actual:.5f}")
    print(f"gate: best {min(times):.2f} s, median {float(np.median(times)):.2f} s of {args.repeat}")


if __name__ == "__main__":
    main()
