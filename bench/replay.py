"""Replay overhead: evaluating a version on logged events vs the model's bare predict_proba on the same rows.

Run: python bench/replay.py [--rows 1000000] [--batch-rows N] [--db sqlite,postgresql]
Per database, logs ``rows`` events (40 numeric features, a binary prediction and its score) through the
local client, registers a HistGradientBoostingClassifier, and times ``evaluate_version`` (reading the events'
features back from their stored batches, the model, storing the outputs) against the bare ``predict_proba``
on the same rows in memory, in the same run, just before. Overhead = evaluate - bare; the issue's target is
an overhead of at most 25% of bare (issue 16, decision 0029).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

import loopwise as lw
from loopwise.registry import RegistrySettings
from loopwise.store import sqlite_url

sys.path.insert(0, str(Path(__file__).parent))

FEATURES = [f"x{i:02d}" for i in range(40)]


def run(db: str, rows: int, batch_rows: int | None) -> dict[str, Any]:
    import skops.io as sio

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, 40)), columns=FEATURES)
    y = X.x00 + X.x01 - X.x02 + rng.normal(0, 1, rows) > 0
    est = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X.head(20_000), y.head(20_000))
    schema = {
        "columns": {
            "id": {"role": "id"},
            "ts": {"role": "timestamp"},
            **{f: {"kind": "numeric"} for f in FEATURES},
            "pred": {"role": "prediction", "kind": "boolean"},
            "score": {"role": "score"},
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        cleanup: list[Any] = []
        try:
            if db == "sqlite":
                url = sqlite_url(Path(tmp) / "b.db")
            else:
                from backfill import _stop_postgres
                from ingest import start_postgres

                url, bindir, root = start_postgres()
                cleanup.append(lambda: _stop_postgres(bindir, root))
            path = Path(tmp) / "m.skops"
            sio.dump(est, path)
            trusted = sio.get_untrusted_types(file=path)
            client = lw.Client.local(
                url, registry=RegistrySettings(artifact_dir=Path(tmp) / "a", trusted_types=trusted)
            )
            model = client.register("bench", schema)
            model.register_version("hgb", path, sample=X.head(100))
            frame = X.assign(
                id=[f"e{i}" for i in range(rows)],
                # a second per event, ending well before now (times more than a day ahead are refused)
                ts=pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.arange(rows), unit="s"),
                pred=y.to_numpy(),
                score=0.5,
            )
            began = time.perf_counter()
            model.log(frame, version="served")
            logged_s = time.perf_counter() - began
            began = time.perf_counter()
            est.predict_proba(X)
            bare_s = time.perf_counter() - began
            began = time.perf_counter()
            replay = model.evaluate_version(
                "hgb", start="2026-10-01T00:00:00Z", end="2027-01-01T00:00:00Z", batch_rows=batch_rows
            )
            replay_s = time.perf_counter() - began
            assert replay.evaluated == rows
            client.close()
        finally:
            for f in cleanup:
                f()
    model_s = sum(b.seconds for b in replay.batches)
    return {
        "db": db,
        "rows": rows,
        "logged_s": logged_s,
        "bare_predict_proba_s": bare_s,
        "evaluate_s": replay_s,
        "model_inside_s": model_s,
        "overhead_s": replay_s - bare_s,
        "overhead_ratio": (replay_s - bare_s) / bare_s,
        "p50_ms": replay.latency["p50_ms"],
        "p99_ms": replay.latency["p99_ms"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=None)
    ap.add_argument("--db", default="sqlite,postgresql")
    args = ap.parse_args()
    for db in args.db.split(","):
        r = run(db, args.rows, args.batch_rows)
        print(
            f"{db}: {r['rows']} events (logged in {r['logged_s']:.1f} s); bare predict_proba "
            f"{r['bare_predict_proba_s']:.2f} s; evaluate_version {r['evaluate_s']:.2f} s (the model inside "
            f"it {r['model_inside_s']:.2f} s); loopwise's overhead {r['overhead_s']:.2f} s = "
            f"{r['overhead_ratio']:.0%} of bare; one-row p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
