"""Replay overhead: evaluating a version on logged events vs the model's bare predict_proba on the same rows;
and pairing the replayed outputs with the served ones and the labels (``pair()``, what the gate and
``compare_versions`` read).

Run: python bench/replay.py [--rows 1000000] [--batch-rows N] [--db sqlite,postgresql] [--repeat 1]
[--before PATH] [--save NAME]. Per database and code, logs ``rows`` events (40 numeric features, a binary
prediction and its score) and a label for each through the local client once and registers a
HistGradientBoostingClassifier; then each run, in a fresh process on that database, times the bare
``predict_proba`` on the same rows in memory and, just after, ``evaluate_version`` over the whole window
(reading the events' features back from their stored batches, the model, storing the outputs), then
``pair()`` of the served version and the replayed one over the window (1,000,000 labelled pairs), then
``compare_versions`` on the same pairs (its time after ``pair()`` apart), deletes the stored outputs, runs
a second ``evaluate_version`` in the same process ("again": a version loaded before may be kept, as a
server's jobs and a client's later calls keep it) and deletes its outputs. Wall and CPU seconds (the
process's, the model's threads included) both. Overhead = evaluate - bare; the issue's target is loopwise's
own time at most 25% of bare (issue 16, decisions 0029, 0039 and 0044), and ``pair()`` under 3 s. "Model
calls" is the time spent in the predictor's methods during the evaluation (the batches, the label check,
the one-row latency probe); "own" is the rest: loopwise's reading, encoding and writing. "Net" is the
evaluation's wall time beyond bare less the probe and the label check (evaluate - (model calls - batches) -
bare): were reading to overlap the model (a reader thread, tried in decision 0064 and not kept) "own" would
leave the reads out and count their contention as the model's; net would still count it.

With ``--before`` (another checkout's ``src/``, e.g. ``git worktree add --detach /tmp/before main``), each
repeat runs that code and then this one, each on a database it set up itself (the two may differ in schema:
a migration apart), from the same generated data, so that as far as a shared machine allows they meet the
same load. ``--save NAME`` writes bench/results/NAME.json.
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
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

FEATURES = [f"x{i:02d}" for i in range(40)]
WINDOW = ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")


def data(rows: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, 40)), columns=FEATURES)
    y = X.x00 + X.x01 - X.x02 + rng.normal(0, 1, rows) > 0
    return X, y


def setup(url: str, root: Path, rows: int) -> dict[str, Any]:
    """Log the events and register the version; returns what a run needs to open the same store."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    import loopwise as lw
    from loopwise.registry import RegistrySettings

    X, y = data(rows)
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
    path = root / "m.skops"
    sio.dump(est, path)
    trusted = sio.get_untrusted_types(file=path)
    client = lw.Client.local(url, registry=RegistrySettings(artifact_dir=root / "a", trusted_types=trusted))
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
    model.log_feedback(frame.id, y.to_numpy())
    client.close()
    return {"url": url, "artifacts": str(root / "a"), "trusted": trusted, "rows": rows, "logged_s": logged_s}


def one(spec: dict[str, Any], batch_rows: int | None) -> dict[str, Any]:
    """One run in this process (with whatever loopwise ``PYTHONPATH`` gives): bare, then evaluate."""
    from sqlalchemy import create_engine, inspect, text

    import loopwise as lw
    from loopwise.registry import RegistrySettings, flavors

    in_model = [0.0, 0.0]  # wall, CPU (of the whole process: the model's threads too)
    depth = [0]

    def timed(f: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            depth[0] += 1
            began, cpu = time.perf_counter(), time.process_time()
            try:
                return f(*a, **k)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    in_model[0] += time.perf_counter() - began
                    in_model[1] += time.process_time() - cpu

        return call

    for name in ("predict", "predict_proba", "outputs", "check_label_from_scores"):
        setattr(flavors.Predictor, name, timed(getattr(flavors.Predictor, name)))
    X, _ = data(spec["rows"])
    settings = RegistrySettings(artifact_dir=Path(spec["artifacts"]), trusted_types=spec["trusted"])
    client = lw.Client.local(spec["url"], registry=settings)
    model = client.model("bench")
    began = time.perf_counter()
    est = model.load_version("hgb").model  # skops imported and the artifact loaded once, outside evaluate
    load_s = time.perf_counter() - began
    began, cpu = time.perf_counter(), time.process_time()
    est.predict_proba(X)
    bare_s, bare_cpu = time.perf_counter() - began, time.process_time() - cpu
    url = spec["url"]
    engine = create_engine(
        "postgresql+psycopg://" + url.removeprefix("postgresql://") if "postgresql" in url else url
    )

    def clear() -> None:
        with engine.begin() as conn:  # output_batches since decision 0039, other_outputs before
            names = inspect(conn).get_table_names()
            table = "output_batches" if "output_batches" in names else "other_outputs"
            conn.execute(text(f"DELETE FROM {table}"))

    def evaluate() -> dict[str, float]:
        in_model[0] = in_model[1] = 0.0
        began, cpu = time.perf_counter(), time.process_time()
        replay = model.evaluate_version("hgb", start=WINDOW[0], end=WINDOW[1], batch_rows=batch_rows)
        wall, used = time.perf_counter() - began, time.process_time() - cpu
        assert replay.evaluated == spec["rows"], replay.evaluated
        return {
            "evaluate_s": wall,
            "evaluate_cpu_s": used,
            "model_calls_s": in_model[0],
            "model_calls_cpu_s": in_model[1],
            "model_batches_s": sum(b.seconds for b in replay.batches),
            "own_s": wall - in_model[0],
            "own_cpu_s": used - in_model[1],
            "p50_ms": replay.latency["p50_ms"],
            "p99_ms": replay.latency["p99_ms"],
        }

    # The first evaluation in this process (the version loaded for it: what a one-off CLI call pays); the
    # pairing and the comparison on its outputs; then, outputs deleted, a second one (a server's job, or a
    # client evaluating again: a version loaded before may be kept).
    first = evaluate()
    pair_s, paired, labels = time_pair(client)
    compare = time_compare(model)
    clear()
    second = evaluate()
    clear()
    engine.dispose()
    client.close()
    return {
        "rows": spec["rows"],
        "load_version_s": load_s,
        "bare_predict_proba_s": bare_s,
        "bare_predict_proba_cpu_s": bare_cpu,
        **first,
        "overhead_s": first["evaluate_s"] - bare_s,
        "overhead_ratio": (first["evaluate_s"] - bare_s) / bare_s,
        "own_ratio": first["own_s"] / bare_s,
        "own_cpu_ratio": first["own_cpu_s"] / bare_cpu,
        "again": second,
        "again_own_ratio": second["own_s"] / bare_s,
        "again_own_cpu_ratio": second["own_cpu_s"] / bare_cpu,
        # Overhead net of the probe and the label check: the evaluation's wall time beyond bare, less the
        # model calls that are not the batches. Honest where reading overlaps the model (decision 0064):
        # "own" then leaves out the reads and counts their contention as the model's time.
        "net_ratio": net(first, bare_s),
        "again_net_ratio": net(second, bare_s),
        "pair_s": pair_s,
        "paired": paired,
        "paired_labels": labels,
        **compare,
        "load": os.getloadavg()[0],
    }


def net(run: dict[str, float], bare_s: float) -> float:
    """(evaluate - (model calls - batches) - bare) / bare."""
    extra = run["model_calls_s"] - run["model_batches_s"]
    return (run["evaluate_s"] - extra - bare_s) / bare_s


def time_compare(model: Any) -> dict[str, float]:
    """``compare_versions`` of the served version and the replayed one over the window, and the part of it
    after ``pair()`` (the per-pair Python: agreement, labels, metrics, segments)."""
    from loopwise.registry import comparison

    inner = [0.0]
    original = comparison.pair

    def timed_pair(*a: Any, **k: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            inner[0] += time.perf_counter() - began

    comparison.pair = timed_pair  # type: ignore[assignment]
    try:
        began, cpu = time.perf_counter(), time.process_time()
        found = model.compare_versions(champion="served", challenger="hgb", start=WINDOW[0], end=WINDOW[1])
        wall, used = time.perf_counter() - began, time.process_time() - cpu
    finally:
        comparison.pair = original  # type: ignore[assignment]
    assert found.paired == found.labels, (found.paired, found.labels)
    return {"compare_s": wall, "compare_cpu_s": used, "compare_after_pair_s": wall - inner[0]}


def time_pair(client: Any) -> tuple[float, int, int]:
    """``pair()`` of the served version and the replayed one over the window, as the gate calls it."""
    import datetime as dt

    from loopwise.registry.comparison import pair

    start, end = (dt.datetime.fromisoformat(w.replace("Z", "+00:00")) for w in WINDOW)
    with client.transport.read_sessions() as s:
        began = time.perf_counter()
        p = pair(s, "bench", "served", "hgb", start, end)
        seconds = time.perf_counter() - began
    return seconds, len(p.ids), len(p.labelled())


def line(r: dict[str, Any]) -> str:
    a = r["again"]
    return (
        f"  {r['code']:6} bare {r['bare_predict_proba_s']:.2f} s (cpu {r['bare_predict_proba_cpu_s']:.2f}), "
        f"evaluate {r['evaluate_s']:.2f} s (model calls {r['model_calls_s']:.2f}, own {r['own_s']:.2f} s / "
        f"cpu {r['own_cpu_s']:.2f} = {r['own_ratio']:.2f} x bare); again: own {a['own_s']:.2f} s / cpu "
        f"{a['own_cpu_s']:.2f} = {r['again_own_ratio']:.2f} x bare; net of probe and label check "
        f"{r['net_ratio']:.2f}, again {r['again_net_ratio']:.2f} x bare; pair() {r['pair_s']:.2f} s "
        f"({r['paired']:,} pairs, {r['paired_labels']:,} labelled); compare_versions {r['compare_s']:.2f} s "
        f"({r['compare_after_pair_s']:.2f} after pair()); load {r['load']:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=None)
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--before", help="also run, before each run of this code, the loopwise source at this path"
    )
    ap.add_argument("--save", help="write bench/results/NAME.json")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a JSON spec: one run in this process
    ap.add_argument("--setup", help=argparse.SUPPRESS)  # a JSON {url, root}: set a database up
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(json.loads(args.one), args.batch_rows)))
        return
    if args.setup:
        where = json.loads(args.setup)
        print(json.dumps(setup(where["url"], Path(where["root"]), args.rows)))
        return
    this_src = str(HERE.parent / "src")
    codes = [("before", args.before), ("after", this_src)] if args.before else [("this", this_src)]
    results: list[dict[str, Any]] = []
    for db in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            stop = None
            try:
                if db == "postgresql":
                    from backfill import _stop_postgres
                    from ingest import start_postgres

                    server, bindir, root = start_postgres()
                    stop = (bindir, root)
                specs = {}
                for code, src in codes:  # each code on a database of its own making (schemas may differ)
                    home = Path(tmp) / code
                    home.mkdir()
                    if db == "sqlite":
                        url = f"sqlite:///{home / 'b.db'}"
                    else:
                        import psycopg

                        with psycopg.connect(server, autocommit=True) as conn:
                            conn.execute(f"CREATE DATABASE {code}")
                        url = server.rsplit("/", 1)[0] + f"/{code}"
                    cmd = [sys.executable, __file__, "--rows", str(args.rows)]
                    cmd += ["--setup", json.dumps({"url": url, "root": str(home)})]
                    out = subprocess.run(
                        cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src}
                    )
                    specs[code] = json.loads(out.stdout.strip().splitlines()[-1])
                    print(
                        f"{db} {code}: {args.rows:,} events logged in {specs[code]['logged_s']:.1f} s",
                        flush=True,
                    )
                for _ in range(args.repeat):
                    for code, src in codes:
                        cmd = [sys.executable, __file__, "--one", json.dumps(specs[code])]
                        if args.batch_rows:
                            cmd += ["--batch-rows", str(args.batch_rows)]
                        env = {**os.environ, "PYTHONPATH": src}
                        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                        r = {"db": db, "code": code, **json.loads(out.stdout.strip().splitlines()[-1])}
                        results.append(r)
                        print(line(r), flush=True)
            finally:
                if stop is not None:
                    _stop_postgres(*stop)
    for db in args.db.split(","):
        for code, _ in codes:
            mine = [r for r in results if r["db"] == db and r["code"] == code]
            med = {
                k: float(np.median([r[k] for r in mine]))
                for k in (
                    "bare_predict_proba_s",
                    "evaluate_s",
                    "own_s",
                    "own_cpu_s",
                    "own_ratio",
                    "own_cpu_ratio",
                    "again_own_ratio",
                    "again_own_cpu_ratio",
                    "net_ratio",
                    "again_net_ratio",
                    "pair_s",
                    "compare_after_pair_s",
                )
            }
            again = float(np.median([r["again"]["own_s"] for r in mine]))
            print(
                f"{db} {code}: median of {len(mine)}: bare {med['bare_predict_proba_s']:.2f} s, evaluate "
                f"{med['evaluate_s']:.2f} s, own {med['own_s']:.2f} s (cpu {med['own_cpu_s']:.2f}) = "
                f"{med['own_ratio']:.2f} x bare (cpu {med['own_cpu_ratio']:.2f}); again own {again:.2f} s = "
                f"{med['again_own_ratio']:.2f} x bare (cpu {med['again_own_cpu_ratio']:.2f}); net "
                f"{med['net_ratio']:.2f}, again {med['again_net_ratio']:.2f} x bare; pair() "
                f"{med['pair_s']:.2f} s; compare_versions after pair() {med['compare_after_pair_s']:.2f} s"
            )
    if args.save:
        path = HERE / "results" / f"{args.save}.json"
        path.write_text(json.dumps({"args": vars(args), "runs": results}, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
