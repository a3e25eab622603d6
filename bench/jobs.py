"""loopwise's side of the benchmark: one job per fresh process, one JSON line on stdout.

Run by run.py as ``python bench/jobs.py JOB REF CUR``; times cover the operation only
(after imports and loading the data), like the anchors' scripts.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import datasketches as ds
import numpy as np
import pyarrow.parquet as pq
from scipy import stats

import loopwise as lw

sys.path.insert(0, str(Path(__file__).parent))
from gen import DRIFTED


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def job_profile(ref: Path, cur: Path) -> dict[str, object]:
    table = pq.read_table(cur)
    lw.profile(table.slice(0, 1000))  # warm-up, as the anchors get
    base = rss_mb()
    t, p = timed(lambda: lw.profile(table))
    return {
        "seconds": t,
        "rows": table.num_rows,
        "rows_per_s": table.num_rows / t,
        "peak_rss_mb": rss_mb(),
        "delta_rss_mb": rss_mb() - base,
        "arrow_mb": table.nbytes / 2**20,
        "profile_kib": len(p.to_bytes()) / 1024,
    }


def job_profile_file(ref: Path, cur: Path) -> dict[str, object]:
    import pyarrow as pa

    base = rss_mb()
    t, p = timed(lambda: lw.profile(cur))
    arrow_mb = pq.read_metadata(cur).num_rows and pq.read_table(cur).nbytes / 2**20
    del pa
    return {
        "seconds": t,
        "peak_rss_mb": rss_mb(),
        "delta_rss_mb": rss_mb() - base,
        "arrow_mb": arrow_mb,
        "ratio_to_arrow": (rss_mb() - base) / arrow_mb,
        "n": p.n,
    }


def job_kll_floor(ref: Path, cur: Path) -> dict[str, object]:
    table = pq.read_table(cur)
    cols = [table.column(f"num_{i:02d}").to_numpy().copy() for i in range(30)]

    def run() -> None:
        for c in cols:
            s = ds.kll_doubles_sketch(200)
            s.update(c)

    t, _ = timed(run)
    return {"seconds": t, "rows_per_s": table.num_rows / t}


def job_compare(ref: Path, cur: Path) -> dict[str, object]:
    r, c = pq.read_table(ref), pq.read_table(cur)
    lw.compare(r.slice(0, 1000), c.slice(0, 1000)).to_json()  # warm-up
    base = rss_mb()
    t, text = timed(lambda: lw.compare(r, c).to_json())
    doc = json.loads(text)
    flagged = set(doc["dataset"]["drifted_columns"])
    truth = set(DRIFTED)
    # Independent answer in the same run: scipy's exact tests on the raw data.
    t0 = time.perf_counter()
    agree, n_tests, stat_err = 0, 0, 0.0
    for col in doc["columns"]:
        name = col["name"]
        if col["kind"] == "numeric":
            a = r.column(name).to_numpy(zero_copy_only=False)
            b = c.column(name).to_numpy(zero_copy_only=False)
            res = stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)])
            stat_err = max(stat_err, abs(res.statistic - col["statistic"]))
            p_scipy = res.pvalue
        else:
            ka, ca = np.unique(r.column(name).to_numpy(zero_copy_only=False), return_counts=True)
            kb, cb = np.unique(c.column(name).to_numpy(zero_copy_only=False), return_counts=True)
            keys = sorted(set(ka) | set(kb))
            ma, mb = dict(zip(ka, ca, strict=True)), dict(zip(kb, cb, strict=True))
            tab = np.array([[ma.get(k, 0) for k in keys], [mb.get(k, 0) for k in keys]])
            p_scipy = stats.chi2_contingency(tab, correction=False).pvalue
        n_tests += 1
        agree += (p_scipy < 0.05) == (col["p_value"] < 0.05)
    scipy_s = time.perf_counter() - t0
    return {
        "seconds": t,
        "rows": r.num_rows + c.num_rows,
        "peak_rss_mb": rss_mb(),
        "delta_rss_mb": rss_mb() - base,
        "found": len(flagged & truth),
        "of": len(truth),
        "false_alarms": len(flagged - truth),
        "undrifted": 40 - len(truth),
        "verdict_agreement_with_scipy": agree / n_tests,
        "max_ks_statistic_diff_vs_scipy": stat_err,
        "scipy_exact_tests_seconds": scipy_s,
    }


def job_compare_profiles(ref: Path, cur: Path) -> dict[str, object]:
    rp = lw.profile(pq.read_table(ref))
    cp = lw.profile(pq.read_table(cur), reference=rp)
    t, report = timed(lambda: lw.compare(rp, cp), repeat=5)
    found = set(report.drifted_columns)
    return {"seconds": t, "found": len(found & set(DRIFTED)), "false_alarms": len(found - set(DRIFTED))}


def job_merge_720(ref: Path, cur: Path) -> dict[str, object]:
    table = pq.read_table(cur)
    rp = lw.profile(pq.read_table(ref).slice(0, 200_000))
    step = max(table.num_rows // 720, 10)
    hourly = [lw.profile(table.slice(i * step, step), reference=rp) for i in range(720)]
    t, merged = timed(lambda: lw.merge(hourly), repeat=3)
    t_bytes, _ = timed(lambda: [lw.Profile.from_bytes(b) for b in [h.to_bytes() for h in hourly[:72]]])
    return {
        "seconds": t,
        "profiles": 720,
        "columns": 40,
        "rows_merged": merged.n,
        "deserialize_72_profiles_s": t_bytes,
    }


def job_html(ref: Path, cur: Path) -> dict[str, object]:
    report = lw.compare(pq.read_table(ref), pq.read_table(cur))
    t, html = timed(lambda: report.to_html())
    return {"seconds": t, "html_mb": len(html.encode()) / 2**20}


if __name__ == "__main__":
    job, ref, cur = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print("RESULT " + json.dumps(globals()[f"job_{job}"](ref, cur)))
