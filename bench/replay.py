"""Replay overhead: evaluating a version on logged events vs the model's bare predict_proba on the same rows.

Run: python bench/replay.py [--rows 100000] [--batch-rows 20000].
Logs ``rows`` events (40 numeric features, a binary prediction and its score) into a SQLite file through the
local client, registers a HistGradientBoostingClassifier, and times ``evaluate_version`` (reading the events'
features back from their stored batches, predict and predict_proba per batch, storing the outputs) against the
bare ``predict`` + ``predict_proba`` on the same rows in memory, in the same run. Overhead = evaluate - bare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

import loopwise as lw
from loopwise.registry import RegistrySettings
from loopwise.store import sqlite_url

FEATURES = [f"x{i:02d}" for i in range(40)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-rows", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(args.rows, 40)), columns=FEATURES)
    y = X.x00 + X.x01 - X.x02 + rng.normal(0, 1, args.rows) > 0
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
        import skops.io as sio

        path = Path(tmp) / "m.skops"
        sio.dump(est, path)
        trusted = sio.get_untrusted_types(file=path)
        client = lw.Client.local(
            sqlite_url(Path(tmp) / "b.db"),
            registry=RegistrySettings(artifact_dir=Path(tmp) / "a", trusted_types=trusted),
        )
        model = client.register("bench", schema)
        model.register_version("hgb", path, sample=X.head(100))
        frame = X.assign(
            id=[f"e{i}" for i in range(args.rows)],
            ts=pd.Timestamp("2026-12-01", tz="UTC") + pd.to_timedelta(np.arange(args.rows), unit="s"),
            pred=y.to_numpy(),
            score=0.5,
        )
        began = time.perf_counter()
        model.log(frame, version="served")
        print(f"logged {args.rows} events in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        bare = est.predict(X)
        est.predict_proba(X)
        bare_s = time.perf_counter() - began
        began = time.perf_counter()
        run = model.evaluate_version(
            "hgb", start="2026-11-01T00:00:00Z", end="2027-01-01T00:00:00Z", batch_rows=args.batch_rows
        )
        replay_s = time.perf_counter() - began
        model_s = sum(b.seconds for b in run.batches)
        assert run.evaluated == args.rows and bare.size == args.rows
        print(
            f"bare predict+predict_proba: {bare_s:.2f} s; evaluate_version: {replay_s:.2f} s "
            f"(the model inside it: {model_s:.2f} s; one-row p50 {run.latency['p50_ms']:.2f} ms, "
            f"p99 {run.latency['p99_ms']:.2f} ms)"
        )
        print(f"loopwise's overhead: {replay_s - bare_s:.2f} s = {(replay_s - bare_s) / bare_s:.0%} of bare")


if __name__ == "__main__":
    main()
