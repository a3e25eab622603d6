"""A gate on paired labelled predictions (issue 16: 1,000,000 in under 2 s).

Run: python bench/gate.py [--rows 1000000] [--repeat 3].
Generates a champion's and a challenger's binary predictions and scores (accuracy 0.80 and 0.81) with a
two-valued segment, and times the gate's evaluation as ``run_gate`` does it once the pairs are read: the
gate tables (``gate_tables``), the Suite (non-inferiority and superiority on accuracy by McNemar, on ROC AUC
by DeLong, a fairness budget over the segment, a latency budget) and the verdict (``judge``). Reading the
pairs from the database is ``pair``'s work, shared with ``compare_versions`` and measured by bench/replay.py.

End to end from the database (what a user running ``loopwise versions gate`` waits for): python
bench/gate.py --db sqlite,postgresql [--rows 1000000] [--repeat 3] [--before PATH] [--store DIR] [--pg-spec
SPEC] [--apart] [--save NAME]. Per database,
logs ``rows`` events (40 numeric features, a two-valued segment, a binary prediction and its score, as
bench/replay.py's) served by version ``served`` and a label for each, registers a
HistGradientBoostingClassifier and evaluates it on the window (its replayed outputs stored); then each repeat
runs, in fresh processes, the code at ``--before`` (another checkout's ``src/``; the two share the
database unless ``--apart``, which sets up one for each code: needed when a migration separates them) and
this one, alternated: ``run_gate`` through the local client (pair, gate tables, the Suite, the verdict, the
stored GateResult), first in the process and again; ``pair()`` alone and the gate's own work on its pairs
(and, within ``pair()``, its reads of the logged columns: ``read_stored``); and ``compare_versions``. Wall
and CPU seconds, the load average. ``--store DIR`` keeps the set-up databases there (SQLite) and reuses them
on the next run; PostgreSQL is set up anew each run.
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
    ids = pa.array([f"e{i}" for i in range(n)])
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
        champion_predictions=pa.array(a),
        challenger_predictions=pa.array(b),
        champion_scores=pa.array(sa),
        challenger_scores=pa.array(sb),
        labels=pa.array(y),
        table=pa.table({"region": region}),
        challenger_ms=np.array([], np.float64),
        positive="true",
    )


HERE = Path(__file__).parent


def bench_suite() -> Suite:
    return Suite(
        "gate",
        [
            non_inferior("accuracy", margin=0.005),
            superior("accuracy"),
            non_inferior("roc_auc", margin=0.005),
            fairness_budget("region", budget=0.02),
            latency_budget(50),
        ],
    )


def setup(url: str, root: Path, rows: int) -> dict[str, Any]:
    """Log the events and their labels, register the version and replay it over the window."""
    import pandas as pd
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    import loopwise as lw
    from loopwise.registry import RegistrySettings
    from replay import FEATURES, WINDOW, data

    X, y = data(rows)
    est = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X.head(20_000), y.head(20_000))
    schema = {
        "columns": {
            "id": {"role": "id"},
            "ts": {"role": "timestamp"},
            **{f: {"kind": "numeric"} for f in FEATURES},
            "region": {"role": "segment", "kind": "categorical"},
            "pred": {"role": "prediction", "kind": "boolean"},
            "score": {"role": "score"},
        }
    }
    path = root / "m.skops"
    sio.dump(est, path)
    trusted = sio.get_untrusted_types(file=path)
    client = lw.Client.local(url, registry=RegistrySettings(artifact_dir=root / "a", trusted_types=trusted))
    model = client.register("bench", schema)
    model.register_version("hgb", path, sample=X.head(100).assign(region="north"))
    rng = np.random.default_rng(1)
    truth = y.to_numpy()
    served = np.where(rng.random(rows) < 0.8, truth, ~truth)  # the served version: accuracy about 0.8
    frame = X.assign(
        id=[f"e{i}" for i in range(rows)],
        ts=pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.arange(rows), unit="s"),
        region=np.where(rng.random(rows) < 0.5, "north", "south"),
        pred=served,
        score=np.clip(np.where(served, 0.7, 0.3) + rng.normal(0, 0.15, rows), 0, 1),
    )
    model.log(frame, version="served")
    model.log_feedback(frame.id, truth)
    model.evaluate_version("hgb", start=WINDOW[0], end=WINDOW[1])
    client.close()
    return {"url": url, "artifacts": str(root / "a"), "trusted": trusted, "rows": rows}


def one(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this process (whatever loopwise ``PYTHONPATH`` gives)."""
    import datetime as dt

    import loopwise as lw
    from loopwise.registry import RegistrySettings
    from loopwise.registry.comparison import pair
    from replay import WINDOW

    settings = RegistrySettings(artifact_dir=Path(spec["artifacts"]), trusted_types=spec["trusted"])
    client = lw.Client.local(spec["url"], registry=settings)
    model = client.model("bench")
    suite = bench_suite()
    out: dict[str, Any] = {"rows": spec["rows"]}

    def timed(name: str, f: Any) -> Any:
        began, cpu = time.perf_counter(), time.process_time()
        found = f()
        out[name + "_s"], out[name + "_cpu_s"] = time.perf_counter() - began, time.process_time() - cpu
        return found

    gate = lambda: model.gate("hgb", suite, start=WINDOW[0], end=WINDOW[1], champion="served")  # noqa: E731
    first = timed("run_gate_first", gate)
    timed("run_gate_again", gate)
    out["status"], out["verdict"] = first.status, first.verdict
    out["comparisons"] = first.comparisons
    start, end = (dt.datetime.fromisoformat(w.replace("Z", "+00:00")) for w in WINDOW)
    # The logged columns' read inside pair() (``read_stored``), timed apart: the narrow blobs' share.
    from loopwise.registry import comparison

    reads = {"s": 0.0, "cpu": 0.0}
    plain_read = comparison.read_stored

    def read_timed(*args: Any, **kwargs: Any) -> Any:
        began, cpu = time.perf_counter(), time.process_time()
        try:
            return plain_read(*args, **kwargs)
        finally:
            reads["s"] += time.perf_counter() - began
            reads["cpu"] += time.process_time() - cpu

    comparison.read_stored = read_timed  # type: ignore[assignment]
    with client.transport.read_sessions() as s:
        p = timed("pair", lambda: pair(s, "bench", "served", "hgb", start, end))
    out["pair_reads_s"], out["pair_reads_cpu_s"] = reads["s"], reads["cpu"]
    comparison.read_stored = plain_read  # type: ignore[assignment]

    def own() -> Any:
        schema, current, champ, chall, labels = gate_tables(p, [])
        result = suite.run(
            current, schema=schema, champion=champ, challenger=chall, labels=labels,
            challenger_latency={"p99_ms": 3.0},
        )  # fmt: skip
        return judge(result, labels.num_rows)

    timed("gate_tables_suite_judge", own)
    found = timed(
        "compare_versions",
        lambda: model.compare_versions(champion="served", challenger="hgb", start=WINDOW[0], end=WINDOW[1]),
    )
    out["compare"] = found.to_dict()
    out["paired"], out["labels"] = found.paired, found.labels
    out["load"] = os.getloadavg()[0]
    client.close()
    return out


def line(r: dict[str, Any]) -> str:
    return (
        f"  {r['db']:10} {r['code']:6} run_gate {r['run_gate_first_s']:.2f} s "
        f"(cpu {r['run_gate_first_cpu_s']:.2f}), again {r['run_gate_again_s']:.2f} s "
        f"(cpu {r['run_gate_again_cpu_s']:.2f}); pair() {r['pair_s']:.2f} s (cpu {r['pair_cpu_s']:.2f}; "
        f"its reads of the logged columns {r['pair_reads_s']:.2f} s, cpu {r['pair_reads_cpu_s']:.2f}) "
        f"+ gate {r['gate_tables_suite_judge_s']:.2f} s (cpu {r['gate_tables_suite_judge_cpu_s']:.2f}); "
        f"compare_versions {r['compare_versions_s']:.2f} s (cpu {r['compare_versions_cpu_s']:.2f}); "
        f"{r['paired']:,} pairs, {r['labels']:,} labelled; {r['status']}; "
        f"load {r['load']:.1f}"
    )


def _set_up(
    db: str, home: Path, server: str, code: str, src: str, args: argparse.Namespace
) -> dict[str, Any]:
    """The spec of a database set up for ``code`` (by its own source ``src``), made now unless kept."""
    made = home / "spec.json"
    if db == "postgresql" and args.pg_spec:  # a database set up before, on a server still running
        return dict(json.loads(Path(args.pg_spec).read_text()))
    if db == "postgresql":
        import psycopg

        name = f"gate_{code}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = server.rsplit("/", 1)[0] + "/" + name
        made.unlink(missing_ok=True)
    else:
        url = f"sqlite:///{home / 'g.db'}"
    if not made.exists():
        home.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, "--rows", str(args.rows)]
        cmd += ["--setup", json.dumps({"url": url, "root": str(home)})]
        began = time.perf_counter()
        got = subprocess.run(
            cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src}
        )
        made.write_text(got.stdout.strip().splitlines()[-1])
        print(f"{db} {code}: set up in {time.perf_counter() - began:.0f} s", flush=True)
    return dict(json.loads(made.read_text()))


def from_database(args: argparse.Namespace) -> None:
    this_src = str(HERE.parent / "src")
    codes = [("before", args.before), ("after", this_src)] if args.before else [("this", this_src)]
    results: list[dict[str, Any]] = []
    for db in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            stop = None
            server = ""
            try:
                if db == "postgresql" and not args.pg_spec:
                    from backfill import _stop_postgres
                    from ingest import start_postgres

                    server, bindir, root = start_postgres()
                    stop = (bindir, root)
                specs: dict[str, dict[str, Any]] = {}
                # With --apart each code sets up a database of its own (their schemas a migration apart),
                # else the one database serves both.
                for code, src in codes if args.apart else [("shared", this_src)]:
                    home = Path(args.store or tmp) / db / (code if args.apart else "")
                    specs[code] = _set_up(db, home, server, code, src, args)
                for _ in range(args.repeat):
                    for code, src in codes:
                        spec = specs[code if args.apart else "shared"]
                        cmd = [sys.executable, __file__, "--one", json.dumps(spec)]
                        env = {**os.environ, "PYTHONPATH": src}
                        got = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                        r = {"db": db, "code": code, **json.loads(got.stdout.strip().splitlines()[-1])}
                        results.append(r)
                        print(line(r), flush=True)
            finally:
                if stop is not None:
                    _stop_postgres(*stop)
    keys = (
        "run_gate_first",
        "run_gate_again",
        "pair",
        "pair_reads",
        "gate_tables_suite_judge",
        "compare_versions",
    )
    for db in args.db.split(","):
        for code, _ in codes:
            mine = [r for r in results if r["db"] == db and r["code"] == code]
            med = {k: float(np.median([r[k + "_s"] for r in mine])) for k in keys}
            cpu = {k: float(np.median([r[k + "_cpu_s"] for r in mine])) for k in keys}
            print(
                f"{db} {code}: median of {len(mine)}: "
                + ", ".join(f"{k} {med[k]:.2f} s (cpu {cpu[k]:.2f})" for k in keys)
            )
    if args.save:
        path = HERE / "results" / f"{args.save}.json"
        path.write_text(json.dumps({"args": vars(args), "runs": results}, indent=1, default=str) + "\n")
        print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="end to end from these databases (sqlite,postgresql)")
    ap.add_argument(
        "--before", help="also run, before each run of this code, the loopwise source at this path"
    )
    ap.add_argument("--store", help="keep the set-up SQLite database in this folder, and reuse it")
    ap.add_argument(
        "--apart", action="store_true", help="with --before: each code sets up a database of its own"
    )
    ap.add_argument("--save", help="write bench/results/NAME.json")
    ap.add_argument(
        "--pg-spec", help="the spec.json of a PostgreSQL database set up by an earlier run, to reuse"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--setup", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one or args.setup or args.db:
        sys.path.insert(0, str(HERE))
    if args.one:
        print(json.dumps(one(json.loads(args.one)), default=str))
        return
    if args.setup:
        where = json.loads(args.setup)
        print(json.dumps(setup(where["url"], Path(where["root"]), args.rows)))
        return
    if args.db:
        from_database(args)
        return
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
