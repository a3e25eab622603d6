"""NannyML's side of bench/nannyml_compare.py, in NannyML's own environment (a fresh process).

``python nannyml_compare_job.py OUT_DIR [--parts estimation,drift,js,multivariate,speed]``

Reads the datasets NannyML ships (nothing is downloaded), writes each one's
reference and analysis rows (analysis joined with its ground truth) to
OUT_DIR/data/<dataset>/ as Parquet for loopwise's side, runs NannyML on them
with its defaults unless said otherwise, and writes what it found per chunk to
OUT_DIR/nannyml.json: the chunks' row ranges (so both sides use the same rows),
CBPE/DLE estimates with their confidence bands, univariate drift alerts (KS and
chi2; Jensen-Shannon), multivariate drift alerts, and timings. One line
``RESULT {...}`` on stdout, like the other anchors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
warnings.filterwarnings("ignore")

import nannyml as nml  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from nannyml.chunk import SizeBasedChunker  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit  # noqa: E402
from nannyml_datasets import DATASETS, DLE_ROWS, ESTIMATED, ESTIMATION_DATASETS, SPEED_ROWS, outputs  # noqa: E402


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = DATASETS[name]
    ref, ana, gt = getattr(nml.datasets, spec["loader"])()
    ana = ana.merge(gt, on="id", how="left")
    keep = ["id", "timestamp", *spec["features"], *outputs(spec), spec["target"]]
    ref, ana = (
        ref[[c for c in keep if c in ref.columns]].copy(),
        ana[[c for c in keep if c in ana.columns]].copy(),
    )
    for df in (ref, ana):
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                # Census codes: categories (NannyML treats them so); as strings both sides read them alike.
                df[col] = df[col].astype(str).astype(object)
        if "timestamp" in df.columns:
            df["timestamp"] = pd.to_datetime(df["timestamp"])
        if spec["problem"] != "regression" and df[spec["target"]].dtype.kind == "f":
            df[spec["target"]] = df[spec["target"]].astype("int64")  # car loan's reference holds 1.0 / 0.0
    return ref.reset_index(drop=True), ana.reset_index(drop=True)


def _chunk(df: pd.DataFrame, field: str) -> pd.Series:
    """A chunk field of a NannyML result frame (two column levels, or three for univariate drift)."""
    return df[("chunk", "chunk", field)] if df.columns.nlevels == 3 else df[("chunk", field)]


def chunk_ranges(df: pd.DataFrame) -> dict[str, list[list[int]]]:
    """Row ranges [start, end) of each period's chunks (NannyML's end_index is inclusive)."""
    out: dict[str, list[list[int]]] = {"reference": [], "analysis": []}
    for p, s, e in zip(_chunk(df, "period"), _chunk(df, "start_index"), _chunk(df, "end_index"), strict=True):
        out[str(p)].append([int(s), int(e) + 1])
    return out


def per_period(df: pd.DataFrame, col: tuple[str, ...]) -> dict[str, list[Any]]:
    period = _chunk(df, "period")
    return {p: [_py(v) for v in df.loc[period == p, col]] for p in ("reference", "analysis")}


def _py(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    f = float(v)
    return None if np.isnan(f) else f


def univariate(
    ref: pd.DataFrame, ana: pd.DataFrame, cols: list[str], chunk_size: int, cont: str, cat: str
) -> dict[str, Any]:
    calc = nml.UnivariateDriftCalculator(
        column_names=cols,
        continuous_methods=[cont],
        categorical_methods=[cat],
        chunk_size=chunk_size,
    )
    calc.fit(ref)
    df = calc.calculate(ana).to_df(multilevel=True)
    out: dict[str, Any] = {"chunks": chunk_ranges(df), "columns": {}}
    for c in cols:
        method = cont if c in calc.continuous_column_names else cat
        out["columns"][c] = {
            "method": method,
            "alert": per_period(df, (c, method, "alert")),
            "value": per_period(df, (c, method, "value")),
            "upper_threshold": per_period(df, (c, method, "upper_threshold")),
        }
    return out


def estimation(name: str, ref: pd.DataFrame, ana: pd.DataFrame) -> dict[str, Any]:
    spec = DATASETS[name]
    problem = spec["problem"]
    if problem == "regression":
        est = nml.DLE(
            feature_column_names=spec["features"],
            y_pred=spec["y_pred"],
            y_true=spec["target"],
            timestamp_column_name="timestamp",
            metrics=ESTIMATED[problem],
            chunk_size=spec["chunk_size"],
        )
    else:
        est = nml.CBPE(
            y_pred_proba=spec["proba"],
            y_pred=spec["y_pred"],
            y_true=spec["target"],
            timestamp_column_name="timestamp",
            metrics=ESTIMATED[problem],
            chunk_size=spec["chunk_size"],
            problem_type=problem,
        )
    t = time.perf_counter()
    est.fit(ref)
    # The estimate reads predictions and scores only; with the labels present NannyML also reports its
    # realized values, kept as a check on the scikit-learn ones.
    df = est.estimate(ana).to_df()
    seconds = time.perf_counter() - t
    df = df[df[("chunk", "period")] == "analysis"]
    metrics: dict[str, Any] = {}
    for top in dict.fromkeys(c[0] for c in df.columns if c[0] != "chunk"):
        metrics[top] = {
            "estimate": [_py(v) for v in df[(top, "value")]],
            "lower": [_py(v) for v in df[(top, "lower_confidence_boundary")]],
            "upper": [_py(v) for v in df[(top, "upper_confidence_boundary")]],
            "realized": [_py(v) for v in df[(top, "realized")]] if (top, "realized") in df.columns else None,
        }
    chunks = [
        [int(s), int(e) + 1]
        for s, e in zip(df[("chunk", "start_index")], df[("chunk", "end_index")], strict=True)
    ]
    return {"seconds": seconds, "chunks": chunks, "metrics": metrics}


def multivariate(name: str, ref: pd.DataFrame, ana: pd.DataFrame) -> dict[str, Any]:
    spec = DATASETS[name]
    out: dict[str, Any] = {}
    for key, cls, arg, col in (
        ("pca", nml.DataReconstructionDriftCalculator, "column_names", "reconstruction_error"),
        ("classifier", nml.DomainClassifierCalculator, "feature_column_names", "domain_classifier_auroc"),
    ):
        t = time.perf_counter()
        calc = cls(**{arg: spec["features"]}, chunk_size=spec["chunk_size"])
        calc.fit(ref)
        df = calc.calculate(ana).to_df(multilevel=True)
        out[key] = {
            "seconds": time.perf_counter() - t,
            "chunks": chunk_ranges(df),
            "alert": per_period(df, (col, "alert")),
            "value": per_period(df, (col, "value")),
            "upper_threshold": per_period(df, (col, "upper_threshold")),
            "lower_threshold": per_period(df, (col, "lower_threshold")),
        }
    return out


def speed(out_dir: Path, data: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    res: dict[str, Any] = {}
    # 1. CBPE on 1,000,000 rows: the work-from-home analysis rows drawn with replacement.
    spec = DATASETS["work_from_home"]
    ref, ana = data["work_from_home"]
    big = ana.iloc[rng.integers(0, len(ana), SPEED_ROWS)].reset_index(drop=True)
    big["id"] = np.arange(len(big))
    big.to_parquet(out_dir / "data" / "speed_current_1m.parquet", index=False)
    cur = big.drop(columns=[spec["target"]])
    with_labels = ESTIMATED["classification_binary"]
    t = time.perf_counter()
    cbpe = nml.CBPE(
        y_pred_proba=spec["proba"],
        y_pred=spec["y_pred"],
        y_true=spec["target"],
        metrics=with_labels,
        chunker=SizeBasedChunker(chunk_size=SPEED_ROWS),
        problem_type="classification_binary",
    )
    cbpe.fit(ref)
    cbpe.estimate(cur)
    res["cbpe_1m_seconds"] = time.perf_counter() - t
    # 2. DLE fitted on 100,000 reference rows: the car-price reference drawn with replacement.
    spec = DATASETS["car_price"]
    ref, ana = data["car_price"]
    big_ref = ref.iloc[rng.integers(0, len(ref), DLE_ROWS)].reset_index(drop=True)
    big_ref["id"] = np.arange(len(big_ref))
    big_ref.to_parquet(out_dir / "data" / "speed_dle_reference_100k.parquet", index=False)
    t = time.perf_counter()
    dle = nml.DLE(
        feature_column_names=spec["features"],
        y_pred=spec["y_pred"],
        y_true=spec["target"],
        metrics=ESTIMATED["regression"],
        chunk_size=spec["chunk_size"],
    )
    dle.fit(big_ref)
    res["dle_fit_100k_seconds"] = time.perf_counter() - t
    # 3. Univariate drift (defaults: Jensen-Shannon) over the census analysis, chunk by chunk.
    spec = DATASETS["census_employment"]
    ref, ana = data["census_employment"]
    cols = [*spec["features"], *outputs(spec)]
    t = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(column_names=cols, chunk_size=spec["chunk_size"])
    calc.fit(ref)
    res["univariate_fit_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    calc.calculate(ana)
    res["univariate_calculate_seconds"] = time.perf_counter() - t
    res["univariate_rows"], res["univariate_columns"] = len(ana), len(cols)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--parts", default="estimation,drift,js,multivariate,speed")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    out_dir = Path(a.out_dir)
    start = time.perf_counter()
    data: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    result: dict[str, Any] = {"nannyml_version": nml.__version__, "datasets": {}}
    for name, spec in DATASETS.items():
        ref, ana = load(name)
        data[name] = (ref, ana)
        d = out_dir / "data" / name
        d.mkdir(parents=True, exist_ok=True)
        ref.to_parquet(d / "reference.parquet", index=False)
        ana.to_parquet(d / "analysis.parquet", index=False)
        cols = [*spec["features"], *outputs(spec)]
        entry: dict[str, Any] = {"chunk_size": spec["chunk_size"], "columns": cols}
        t = time.perf_counter()
        if "estimation" in parts and name in ESTIMATION_DATASETS:
            entry["estimation"] = estimation(name, ref, ana)
        if "drift" in parts and spec["synthetic"]:
            entry["ks_chi2"] = univariate(ref, ana, cols, spec["chunk_size"], "kolmogorov_smirnov", "chi2")
        if "js" in parts:
            entry["jensen_shannon"] = univariate(
                ref, ana, cols, spec["chunk_size"], "jensen_shannon", "jensen_shannon"
            )
        if "multivariate" in parts and spec["synthetic"]:
            entry["multivariate"] = multivariate(name, ref, ana)
        entry["seconds"] = time.perf_counter() - t
        print(f"[nannyml] {name}: {entry['seconds']:.1f} s", file=sys.stderr, flush=True)
        result["datasets"][name] = entry
    if "speed" in parts:
        result["speed"] = speed(out_dir, data)
    result["seconds"] = time.perf_counter() - start
    (out_dir / "nannyml.json").write_text(json.dumps(result))
    emit(path=str(out_dir / "nannyml.json"), seconds=result["seconds"])


if __name__ == "__main__":
    main()
