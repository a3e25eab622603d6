"""A 30-day window (720 hourly buckets, 40 features, ~10M events behind it) and a one-day export.

Run: python bench/window.py. The buckets are written directly (each the profile of ~13,900 rows, anchored on
a reference), so that the window's query, not the ingestion, is what is timed; the export day is ingested
through the service (300 batches of 1,000 events). SQLite, in process.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
import loopwise as lw
from gen import make
from ingest import SCHEMA
from loopwise.ingest import export_window, log_predictions, metrics, put_reference, register_model
from loopwise.store import make_engine, session_factory, sqlite_url, transaction, upgrade
from loopwise.store.tables import BucketProfile, Model

PER_BUCKET = 13_900
HOURS = 720


def features(n: int, seed: int, start: dt.datetime) -> pa.Table:
    t = make(n, seed=seed, drift=False)
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    ts = pa.array(
        [start + dt.timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3600, n))],
        pa.timestamp("us", tz="UTC"),
    )
    return (
        t.append_column("event_id", pa.array([f"{seed}-{i}" for i in range(n)]))
        .append_column("ts", ts)
        .append_column("prediction", pa.array(score >= 0.5))
        .append_column("score", pa.array(score))
    )


def main() -> None:
    db = Path(tempfile.mkdtemp()) / "window.db"
    engine = make_engine(sqlite_url(db))
    upgrade(engine)
    sessions = session_factory(engine)
    schema = lw.Schema.from_dict(SCHEMA)
    start = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    with transaction(sessions) as s:
        register_model(s, "bench", SCHEMA, "bench")
        ref = lw.profile(
            features(200_000, 1, start)
            .drop_columns(["prediction"])
            .append_column("prediction", pa.array(np.random.default_rng(1).random(200_000) >= 0.5)),
            schema=schema,
        )
        put_reference(s, "bench", ref)
        model_id = s.query(Model).filter(Model.name == "bench").one().id
    # 24 distinct hourly profiles, reused across the 30 days (the query's cost does not depend on the values).
    t0 = time.perf_counter()
    blobs = [
        lw.profile(features(PER_BUCKET, 100 + h, start), schema=schema, reference=ref).to_bytes()
        for h in range(24)
    ]
    print(
        f"profiled 24 x {PER_BUCKET:,} rows in {time.perf_counter() - t0:.1f} s; "
        f"{len(blobs[0]) / 1024:.0f} KiB per bucket",
        flush=True,
    )
    with transaction(sessions) as s:
        for h in range(HOURS):
            s.add(
                BucketProfile(
                    model_id=model_id,
                    version="default",
                    bucket=start + dt.timedelta(hours=h),
                    n=PER_BUCKET,
                    profile=blobs[h % 24],
                )
            )
    times = []
    for _ in range(5):
        t = time.perf_counter()
        with sessions() as s:
            out = metrics(s, "bench", start, start + dt.timedelta(days=30))
        times.append(time.perf_counter() - t)
    assert out["window"]["n"] == PER_BUCKET * HOURS
    print(
        f"metrics of a 30-day window ({HOURS} hourly buckets, {PER_BUCKET * HOURS:,} events, 40 features): "
        f"first query {times[0] * 1000:.0f} ms (builds the 30 day rollups), then median "
        f"{statistics.median(times[1:]) * 1000:.0f} ms; target < 300 ms",
        flush=True,
    )
    day = start + dt.timedelta(days=31)  # after the 30-day window, and not in the future
    t0 = time.perf_counter()
    for b in range(300):
        batch = features(1000, 10_000 + b, day + dt.timedelta(minutes=4.8 * b))
        with transaction(sessions) as s:
            log_predictions(s, "bench", batch)
    print(f"ingested one day (300 x 1,000 events) in process in {time.perf_counter() - t0:.1f} s", flush=True)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        with sessions() as s:
            data = export_window(s, "bench", day, day + dt.timedelta(days=1))
        times.append(time.perf_counter() - t)
    print(
        f"export of one day ({300_000:,} events) to Parquet: median {statistics.median(times):.2f} s, "
        f"{len(data) / 2**20:.0f} MiB; target < 3 s",
        flush=True,
    )


if __name__ == "__main__":
    main()
