"""``make bench``: loopwise and the anchor libraries on the same data, in one run, with ratios.

Every measurement runs in a fresh process. The anchors run in their own virtual
environments under bench/.venvs (their pins conflict with each other and with
current NumPy/pandas), created on first use. Results: printed, and written to
bench/.out/results-N.json; bench/RESULTS.md records them with date and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen import ensure  # noqa: E402

PINS = {
    "whylogs": ["whylogs[viz]==1.6.4", "numpy<2", "pandas<3", "pyarrow<24"],
    "evidently": ["evidently>=0.7,<0.8", "pandas<3", "pyarrow"],
    "nannyml": ["nannyml", "statsmodels", "pandas<3", "pyarrow"],
    "alibi": ["alibi-detect", "numpy<2", "pyarrow<24", "pandas<3"],
}
LOOPWISE_JOBS = [
    "profile",
    "kll_floor",
    "profile_file",
    "compare",
    "compare_profiles",
    "merge_720",
    "html",
    "suite",
]
TIMEOUT = 1200


def venv_python(name: str) -> Path:
    venv = HERE / ".venvs" / name
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        print(f"[bench] creating the {name} environment (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *PINS[name]], check=True)
        stamp.touch()
    return py


def run(cmd: list[str], cwd: Path) -> dict[str, object]:
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out: dict[str, object] = json.loads(line[7:])
            out["wall_seconds"] = time.perf_counter() - t
            return out
    return {"error": (proc.stderr or proc.stdout)[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--anchors", default=" ".join(PINS), help="space-separated: " + " ".join(PINS))
    ap.add_argument("--jobs", default=" ".join(LOOPWISE_JOBS))
    a = ap.parse_args()
    ref, cur = ensure(a.rows, HERE / ".data")
    results: dict[str, dict[str, object]] = {}
    for job in a.jobs.split():
        print(f"[bench] loopwise {job} ...", flush=True)
        results[f"loopwise.{job}"] = run(
            [sys.executable, str(HERE / "jobs.py"), job, str(ref), str(cur)], HERE
        )
        print("   ", results[f"loopwise.{job}"], flush=True)
    for name in a.anchors.split():
        py = venv_python(name)
        print(f"[bench] {name} ...", flush=True)
        results[name] = run(
            [str(py), str(HERE / "anchors" / f"{name}_job.py"), str(ref), str(cur)], HERE / "anchors"
        )
        print("   ", results[name], flush=True)
    meta = {
        "rows": a.rows,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load": os.getloadavg(),
    }
    out = HERE / ".out"
    out.mkdir(exist_ok=True)
    (out / f"results-{a.rows}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    report(meta, results)


def report(meta: dict[str, object], r: dict[str, dict[str, object]]) -> None:
    def s(key: str, field: str = "seconds") -> float | None:
        v = r.get(key, {}).get(field)
        return float(v) if isinstance(v, (int, float)) else None  # type: ignore[arg-type]

    print(f"\n== loopwise vs anchors, {meta['rows']:,} rows per side, {meta['date']}, {meta['machine']} ==")
    prof = s("loopwise.profile")
    floor = s("loopwise.kll_floor")
    why_prof = s("whylogs", "profile_seconds")
    if prof:
        print(f"profile 1 dataset: loopwise {prof:.2f} s ({meta['rows'] / prof:,.0f} rows/s)")
        if floor:
            print(
                f"  raw KLL floor (30 numeric cols only): {floor:.2f} s"
                f" -> loopwise takes {prof / floor:.2f}x the floor"
            )
        if why_prof:
            print(f"  whylogs why.log: {why_prof:.1f} s -> loopwise is {why_prof / prof:.0f}x faster")
    cmp_ = s("loopwise.compare")
    if cmp_:
        c = r["loopwise.compare"]
        print(
            f"full compare from raw data (exact stats + JSON): loopwise {cmp_:.2f} s; "
            f"found {c['found']}/{c['of']} drifts, {c['false_alarms']}/{c['undrifted']} false alarms; "
            f"verdict agreement with scipy {float(c['verdict_agreement_with_scipy']):.0%}; "  # type: ignore[arg-type]
            f"scipy's exact tests alone {float(c['scipy_exact_tests_seconds']):.1f} s"
        )  # type: ignore[arg-type]
        for name in ("evidently", "whylogs", "nannyml", "alibi"):
            t = s(name)
            if t:
                print(f"  {name}: {t:.1f} s -> loopwise is {t / cmp_:.0f}x faster")
            elif name in r:
                print(f"  {name}: {r[name].get('error', '')[:200]}")  # type: ignore[index]
    for key, label in (
        ("loopwise.compare_profiles", "compare two stored profiles"),
        ("loopwise.merge_720", "merge 720 hourly profiles x 40 columns"),
        ("loopwise.html", "render the HTML report"),
    ):
        t = s(key)
        if t is not None:
            print(f"{label}: {t * 1000:.0f} ms")
    su = r.get("loopwise.suite", {})
    if "ratio" in su:
        print(
            f"classification + fairness + challenger suite on {su['rows']:,} labelled predictions: loopwise "
            f"{float(su['seconds']):.2f} s vs scikit-learn + fairlearn + statsmodels "  # type: ignore[arg-type]
            f"{float(su['sklearn_fairlearn_seconds']):.2f} s -> {float(su['ratio']):.1f}x; "  # type: ignore[arg-type]
            f"same numbers: {su['agreement']}; the suite on stored profiles: "
            f"{float(su['stored_profiles_seconds']) * 1000:.0f} ms"
        )  # type: ignore[arg-type]
    pf = r.get("loopwise.profile_file", {})
    if "ratio_to_arrow" in pf:
        print(
            f"profiling the Parquet file: peak memory over baseline {float(pf['delta_rss_mb']):.0f} MB = "  # type: ignore[arg-type]
            f"{float(pf['ratio_to_arrow']):.2f}x the data in Arrow ({float(pf['arrow_mb']):.0f} MB)"
        )  # type: ignore[arg-type]
    if "html_mb" in r.get("loopwise.html", {}):
        print(f"HTML report size: {float(r['loopwise.html']['html_mb']):.1f} MB")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
