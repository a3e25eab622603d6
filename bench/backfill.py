"""Backfilling history: predictions spread over a year, then their labels, vs the same events within one hour.

Run: python bench/backfill.py [--rows 1000000] [--db sqlite,postgresql] [--http] [--budget 600]
[--before PATH] [--save NAME]. With ``--before`` (another checkout's ``src/``, say from ``git worktree
add``), each configuration runs with that code and then with this one, back to back, under the same load.

The demo's credit data (``loopwise.datasets.make_credit``: 15 columns with a score, a prediction, a segment
and a later label), its times replaced by ``--rows`` instants evenly spaced over 365 days ("year": about 114
events per hourly bucket, 8,760 buckets) or over one hour ("hour": one bucket), in time order as a backfill
reads them. Each (database, spread) runs in a fresh process on a fresh database: the SDK's
``model.log(frame)`` of every prediction, then ``model.log_feedback(ids, labels)`` of every label, each
timed alone (data generation and start-up excluded). SQLite is a file in a temporary folder; PostgreSQL a
throwaway cluster (bench/ingest.py's, as the tests do); ``--http`` adds a run through ``loopwise serve`` on
loopback. A phase that passes ``--budget`` seconds stops after the chunk (50,000 rows) under way and reports
the rate over the rows it did (the "before" code needs hours for a million spread rows). Labels are checked
every 10,000.

Prints rows/s for each phase and the ratio year / hour; ``--save NAME`` writes bench/results/NAME.json.
``--repeat N`` runs each configuration N times, the codes alternating (before, after, before, after, ...),
and the ratios take each phase's best of the N (its least CPU, its highest wall rate): on a shared machine
another job's burst during one run then moves no figure (2026-12-06: a load average going from 1 to 9
within one run added 13% to the CPU time of the same work).
Each phase also records the CPU seconds it took (``cpu_s``: this process's, plus the PostgreSQL cluster's
own processes on PostgreSQL) and the ratio of those: on a shared machine under load, wall time says as much
about the other jobs as about loopwise (2026-12-05: a load average of 10 on 2 cores stretched a run's wall
time to three times its CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

HERE = Path(__file__).parent
END = np.datetime64("2026-11-30T00:00:00", "us")
SPANS = {"hour": np.timedelta64(3600, "s"), "year": np.timedelta64(365 * 86_400, "s")}
CHUNK = 50_000  # predictions per budget check
LABEL_CHUNK = 10_000  # labels per budget check (the slowest rebuild took 595 s per 50,000 before)


def instants(rows: int, spread: str) -> np.ndarray:
    """``rows`` times evenly spaced over the spread, in order, ending at ``END``: row ``i`` at ``i * span //
    rows`` microseconds after its start.

    Computed as ``i * (span // rows) + i * (span % rows) // rows``: ``i * span`` itself passes int64 past
    292,000 rows over a year (365 days are 3.2e13 microseconds), and wrapped, the times went back and forth
    over 213 days, each hour visited three times (the bench's "365 days" until 2026-12-05).
    """
    span = int(SPANS[spread].astype("timedelta64[us]").astype(np.int64))
    i = np.arange(rows, dtype=np.int64)
    offsets = i * (span // rows) + (i * (span % rows)) // rows
    return END - span + offsets.astype("timedelta64[us]")


def frame(rows: int, spread: str) -> pd.DataFrame:
    from loopwise.datasets import make_credit

    df = make_credit(rows, seed=7)
    df["ts"] = pd.to_datetime(instants(rows, spread), utc=True)
    return df


def _timed(step: Any, n: int, budget: float, chunk: int = CHUNK, others: Any = None) -> dict[str, Any]:
    """Run ``step(start, stop)`` over [0, n) in chunks until done or past ``budget`` seconds; ``others()``
    gives the CPU seconds of processes working for this one (a database server's)."""
    done, t0 = 0, time.perf_counter()
    cpu0, other0 = time.process_time(), others() if others else 0.0
    while done < n:
        stop = min(n, done + chunk)
        step(done, stop)
        done = stop
        if time.perf_counter() - t0 > budget:
            break
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + ((others() - other0) if others else 0.0)
    return {
        "rows": done,
        "seconds": round(seconds, 3),
        "rows_per_s": round(done / seconds, 1),
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(done / cpu, 1),
    }


def _cluster_cpu(root: Path) -> float:
    """CPU seconds (user + system) of a PostgreSQL cluster: the postmaster named in its pid file, its children
    alive now (the backends of this process's connections) and those that exited."""
    try:
        postmaster = int((root / "d" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster:  # its own time and its exited children's (cutime, cstime)
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:  # fields[1]: the parent's pid; a live child's utime and stime
            total += int(fields[11]) + int(fields[12])
    return total / tick


def one(db: str, spread: str, rows: int, budget: float, http: bool) -> dict[str, Any]:
    """One (database, spread) in this process: fresh database, predictions then labels."""
    import loopwise as lw
    from loopwise.datasets import CREDIT_SCHEMA_YAML

    df = frame(rows, spread)
    labels = df.pop("repaid")
    with tempfile.TemporaryDirectory(prefix="lw-backfill-") as tmp:
        cleanup: list[Any] = []
        others = None
        try:
            if db == "sqlite":
                url = f"sqlite:///{tmp}/lw.db"
            else:
                from ingest import start_postgres

                url, bindir, root = start_postgres()
                cleanup.append(lambda: _stop_postgres(bindir, root))
                others = lambda: _cluster_cpu(root)  # noqa: E731
            if http:
                from ingest import run_server

                proc, base, key = run_server(url)
                cleanup.insert(0, lambda: (proc.terminate(), proc.wait(30)))
                client = lw.Client(base, key, timeout=600)
            else:
                client = lw.Client.local(url)
            model = client.register("credit", lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))
            model.log(df.iloc[:100])  # warm-up: the model's anchor, imports, connections
            model.log_feedback(df["request_id"].iloc[:100], labels.iloc[:100])
            rest, rest_labels = df.iloc[100:], labels.iloc[100:]
            logged = _timed(lambda a, b: model.log(rest.iloc[a:b]), len(rest), budget, others=others)
            n = logged["rows"]
            ids = rest["request_id"].iloc[:n]
            labelled = _timed(
                lambda a, b: model.log_feedback(ids.iloc[a:b], rest_labels.iloc[a:b]),
                n,
                budget,
                LABEL_CHUNK,
                others,
            )
        finally:
            for f in cleanup:
                f()
    return {"db": db, "spread": spread, "http": http, "predictions": logged, "labels": labelled}


def _stop_postgres(bindir: Path, root: Path) -> None:
    import shutil

    from ingest import as_pg

    subprocess.run(
        as_pg([str(bindir / "pg_ctl"), "-D", str(root / "d"), "-m", "immediate", "stop"]),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(root, ignore_errors=True)


def _best(results: list[dict[str, Any]]) -> dict[tuple[str, str, str, bool], dict[str, Any]]:
    """Each (code, database, spread, http)'s best of its runs, phase by phase: the least CPU time and the
    highest wall rate (one run, with ``--repeat 1``)."""
    out: dict[tuple[str, str, str, bool], dict[str, Any]] = {}
    for r in results:
        key = (r["code"], r["db"], r["spread"], r["http"])
        if key not in out:
            out[key] = {phase: dict(r[phase]) for phase in ("predictions", "labels")}
            continue
        for phase in ("predictions", "labels"):
            kept, got = out[key][phase], r[phase]
            if got["rows_per_cpu_s"] > kept["rows_per_cpu_s"]:
                kept |= {"cpu_s": got["cpu_s"], "rows_per_cpu_s": got["rows_per_cpu_s"]}
            if got["rows_per_s"] > kept["rows_per_s"]:
                kept |= {"seconds": got["seconds"], "rows_per_s": got["rows_per_s"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--http", action="store_true", help="also through `loopwise serve` on loopback")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per phase at most")
    ap.add_argument("--save", help="write bench/results/NAME.json")
    ap.add_argument(
        "--before",
        help="also run each configuration, right before, with the loopwise source at this path (e.g. a "
        "worktree's src/): both codes under the same load",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration (codes alternating)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # db,spread,http: run one in this process
    args = ap.parse_args()
    if args.one:
        db, spread, http = args.one.split(",")
        print(json.dumps(one(db, spread, args.rows, args.budget, http == "1")))
        return
    results = []
    codes = [("before", args.before), ("after", None)] if args.before else [("this", None)]
    for http in [False, True] if args.http else [False]:
        for db in args.db.split(","):
            for spread in ("hour", "year"):
                for code, path in [c for _ in range(args.repeat) for c in codes]:
                    cmd = [sys.executable, __file__, "--rows", str(args.rows), "--budget", str(args.budget)]
                    cmd += ["--one", f"{db},{spread},{int(http)}"]
                    env = dict(os.environ)
                    if path:
                        env["PYTHONPATH"] = path
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    r["code"] = code
                    r["load_average"] = os.getloadavg()
                    results.append(r)
                    via = "http " if http else "local"
                    p, lab = r["predictions"], r["labels"]
                    print(
                        f"{code:6s} {via} {db:10s} {spread:4s} predictions {p['rows_per_s']:>9,.0f} rows/s "
                        f"({p['rows']:,} in {p['seconds']:.1f} s, CPU {p['cpu_s']:.1f} s)  labels "
                        f"{lab['rows_per_s']:>9,.0f} rows/s ({lab['rows']:,} in {lab['seconds']:.1f} s, CPU "
                        f"{lab['cpu_s']:.1f} s)  load {r['load_average'][0]:.1f}",
                        flush=True,
                    )
    ratios = {}
    best = _best(results)
    for (code, db, spread, http), r in best.items():
        if spread != "year":
            continue
        hour = best[(code, db, "hour", http)]
        key = f"{code}/{'http' if http else 'local'}/{db}"
        ratios[key] = {
            phase: round(r[phase]["rows_per_s"] / hour[phase]["rows_per_s"], 3)
            for phase in ("predictions", "labels")
        }
        ratios[key] |= {
            f"{phase}_cpu": round(r[phase]["rows_per_cpu_s"] / hour[phase]["rows_per_cpu_s"], 3)
            for phase in ("predictions", "labels")
        }
        got = ratios[key]
        print(
            f"{key}: year / hour  predictions {got['predictions']:.2f} (CPU {got['predictions_cpu']:.2f})  "
            f"labels {got['labels']:.2f} (CPU {got['labels_cpu']:.2f})"
        )
    if args.save:
        import loopwise

        out = {
            "rows": args.rows,
            "budget_s": args.budget,
            "loopwise": str(Path(loopwise.__file__).parent),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_average": os.getloadavg(),
            "repeat": args.repeat,
            "results": results,
            "best": [
                {"code": c, "db": d, "spread": sp, "http": h, **phases}
                for (c, d, sp, h), phases in _best(results).items()
            ],
            "ratios": ratios,
        }
        path = HERE / "results" / f"{args.save}.json"
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
