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
    base = rss_mb()
    t, p = timed(lambda: lw.profile(cur))
    peak = rss_mb()  # the high-water mark of reading and profiling, before anything else allocates
    arrow_mb = pq.read_table(cur).nbytes / 2**20
    return {
        "seconds": t,
        "peak_rss_mb": peak,
        "delta_rss_mb": peak - base,
        "arrow_mb": arrow_mb,
        "ratio_to_arrow": (peak - base) / arrow_mb,
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


def _labelled(n: int, seed: int, challenger_gain: float = 0.0) -> object:
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.choice(["g1", "g2", "g3"], n, p=[0.6, 0.3, 0.1])
    y = rng.random(n) < np.where(group == "g1", 0.35, 0.3)
    noise = rng.normal(0, 0.22, n)
    score = np.clip(0.3 + 0.35 * (y - 0.3) + noise + np.where(group == "g3", 0.03, 0.0), 0, 1)
    chall = np.clip(0.3 + (0.35 + challenger_gain) * (y - 0.3) + noise * 0.98, 0, 1)
    return pd.DataFrame(
        {
            "request_id": np.arange(n),
            "score": score.round(6),
            "prediction": score >= 0.5,
            "label": y,
            "group": group,
            "challenger_score": chall.round(6),
            "challenger_prediction": chall >= 0.5,
        }
    )


SUITE_SCHEMA = """
columns:
  request_id: {role: id}
  score:      {role: score}
  prediction: {role: prediction}
  label:      {role: target}
  group:      {role: segment, kind: categorical}
"""


def job_suite(ref: Path, cur: Path) -> dict[str, object]:
    """Classification + fairness + challenger presets on 1M labelled predictions vs sklearn + fairlearn."""
    import pyarrow as pa
    from fairlearn import metrics as flm
    from sklearn import metrics as skm
    from statsmodels.stats.contingency_tables import mcnemar

    from loopwise.checks import presets

    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
    schema = lw.Schema.from_yaml(SUITE_SCHEMA)
    ref_df, cur_df = _labelled(n // 5, 1), _labelled(n, 2, challenger_gain=0.02)
    cur_t, ref_t = pa.Table.from_pandas(cur_df), pa.Table.from_pandas(ref_df)
    champion = cur_t.select(["request_id", "prediction", "score"])
    challenger = cur_t.select(["request_id", "challenger_prediction", "challenger_score"]).rename_columns(
        ["request_id", "prediction", "score"]
    )
    suite = presets(["classification", "fairness", "challenger_gate"], schema)
    suite.run(
        cur_t.slice(0, 2000),
        ref_t.slice(0, 2000),
        schema=schema,
        champion=champion.slice(0, 2000),
        challenger=challenger.slice(0, 2000),
    )  # warm-up
    t_lw, result = timed(
        lambda: suite.run(cur_t, ref_t, schema=schema, champion=champion, challenger=challenger)
    )

    def with_sklearn() -> dict[str, float]:
        out: dict[str, float] = {}
        for name, df in (("ref", ref_df), ("cur", cur_df)):
            y, p, s = df["label"].to_numpy(), df["prediction"].to_numpy(), df["score"].to_numpy()
            out[f"{name}_accuracy"] = skm.accuracy_score(y, p)
            out[f"{name}_f1"] = skm.f1_score(y, p)
            out[f"{name}_roc_auc"] = skm.roc_auc_score(y, s)
        y, p, s, g = (cur_df[c].to_numpy() for c in ("label", "prediction", "score", "group"))
        conf = np.where(p, s, 1 - s)
        b = np.minimum((conf * 20).astype(int), 19)
        hit = (p == y).astype(float)
        out["ece"] = float(sum(abs(hit[b == i].sum() - conf[b == i].sum()) for i in range(20)) / y.size)
        out["dp"] = flm.demographic_parity_difference(y, p, sensitive_features=g)
        out["eo"] = flm.equalized_odds_difference(y, p, sensitive_features=g)
        ca, cb = p == y, cur_df["challenger_prediction"].to_numpy() == y
        out["mcnemar_p"] = mcnemar(
            [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]],
            exact=False,
            correction=True,
        ).pvalue
        out["challenger_auc"] = skm.roc_auc_score(y, cur_df["challenger_score"].to_numpy())
        return out

    t_sk, ref_vals = timed(with_sklearn)
    got = {
        r.check.metric + (f"[{r.check.params.get('metric')}]" if r.check.params else ""): r
        for r in result.results
    }
    agree = {
        "accuracy": abs(got["accuracy"].actual - ref_vals["cur_accuracy"]) < 1e-9,
        "f1": abs(got["f1"].actual - ref_vals["cur_f1"]) < 1e-9,
        "roc_auc": abs(got["roc_auc"].actual - ref_vals["cur_roc_auc"])
        <= got["roc_auc"].evidence["error_bound"],
        "ece": abs(got["expected_calibration_error"].actual - ref_vals["ece"]) < 1e-9,
        "demographic_parity_difference": abs(got["demographic_parity_difference"].actual - ref_vals["dp"])
        < 1e-9,
        "equalized_odds_difference": abs(got["equalized_odds_difference"].actual - ref_vals["eo"]) < 1e-9,
        "mcnemar_p": abs(
            got["challenger_difference_lower[accuracy]"].evidence["p_value"] - ref_vals["mcnemar_p"]
        )
        <= 1e-9 * max(1.0, ref_vals["mcnemar_p"]),
    }
    ref_p = lw.profile(ref_t, schema=schema)
    cur_p = lw.profile(cur_t, schema=schema, reference=ref_p)
    stored = presets(["classification", "fairness"], schema)
    t_prof, prof_result = timed(lambda: stored.run(cur_p, ref_p, schema=schema), repeat=5)
    return {
        "seconds": t_lw,
        "rows": n,
        "sklearn_fairlearn_seconds": t_sk,
        "ratio": t_sk / t_lw,
        "checks": len(result.results),
        "status": result.status,
        "agreement": {k: bool(v) for k, v in agree.items()},
        "stored_profiles_seconds": t_prof,
        "stored_checks": len(prof_result.results),
        "stored_errors": prof_result.counts["error"],
    }


if __name__ == "__main__":
    job, ref, cur = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print("RESULT " + json.dumps(globals()[f"job_{job}"](ref, cur)))
