"""Calibrated thresholds against plain tests and NannyML's Jensen-Shannon alerts, on NannyML's datasets.

For each dataset the reference is profiled with ``chunk_size`` (chunks in row order), then every chunk of
the reference period and of the analysis period (the same chunks NannyML makes: ``chunk_size`` rows in row
order, the last one incomplete) is compared with it, column by column:

- plain: ``lw.compare(raw reference, chunk, thresholds="plain")`` (exact tests, Benjamini-Hochberg);
- calibrated: ``lw.compare(reference profile, chunk, thresholds="calibrated")``;
- NannyML: ``UnivariateDriftCalculator`` with jensen_shannon and its default thresholds (mean + 3 std of
  the statistic over the reference's chunks), run in its own virtual environment.

Printed: the share of reference-period cells that alert, and the share of NannyML's analysis-period alerts
that each loopwise mode also raises. Also times compare with calibrated thresholds against plain compare on
the same profile. usage: python bench/calibration.py [--rates 0.01,0.05] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import loopwise as lw

NML = Path("/work/venvs/nannyml")
DATA = NML / "lib/python3.11/site-packages/nannyml/datasets/data"
HERE = Path(__file__).parent
#: The method of calibrated compares (None: ks for numeric columns, Jensen-Shannon for categorical ones).
METHOD: str | None = None

DATASETS = {
    "california_housing": (
        "california_housing_reference.csv",
        "california_housing_analysis.csv",
        584,
        [
            *("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude"),
            *("Longitude", "y_pred_proba", "y_pred"),
        ],
    ),
    "us_census_ma_employment": (
        "employment_MA_reference.pq",
        "employment_MA_analysis.pq",
        5000,
        [
            *("AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR"),
            *("DEYE", "DREM", "SEX", "RAC1P", "prediction", "predicted_probability"),
        ],
    ),
}


def read(name: str) -> pd.DataFrame:
    path = DATA / name
    df = pd.read_parquet(path) if name.endswith(".pq") else pd.read_csv(path)
    # Schema.infer cannot yet read pandas categoricals stored as large_string dictionaries: plain strings.
    return df.astype({c: str for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)})


def nannyml(ref: str, ana: str, chunk_size: int, columns: list[str]) -> dict:
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1")
    cmd = [str(NML / "bin/python"), str(HERE / "anchors/nannyml_calibration.py"), str(DATA / ref)]
    cmd += [str(DATA / ana), str(chunk_size), "jensen_shannon", ",".join(columns)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def chunks(df: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [df.iloc[i : i + size] for i in range(0, len(df), size)]


def alerts(report: lw.Report, columns: list[str]) -> dict[str, bool]:
    by_name = {c["name"]: c for c in report.to_dict()["columns"]}
    return {c: bool(by_name[c]["drift_detected"]) for c in columns}


def run(name: str, rates: list[float]) -> dict:
    ref_file, ana_file, size, columns = DATASETS[name]
    ref, ana = read(ref_file)[columns], read(ana_file)[columns]
    schema = lw.Schema.infer(ref)
    profile = lw.profile(ref, schema=schema, chunk_size=size)
    nml = nannyml(ref_file, ana_file, size, columns)
    out: dict = {"rows": [len(ref), len(ana)], "chunk_size": size, "columns": len(columns)}
    periods = {"reference": chunks(ref, size), "analysis": chunks(ana, size)}
    modes: dict[str, dict[str, list[dict[str, bool]]]] = {"plain": {}}
    for period, parts in periods.items():
        modes["plain"][period] = [
            alerts(lw.compare(ref, p, schema, thresholds="plain"), columns) for p in parts
        ]
        for rate in rates:
            key = f"calibrated@{rate:g}"
            modes.setdefault(key, {})[period] = [
                alerts(
                    lw.compare(
                        profile, p, schema, thresholds="calibrated", false_alarm_rate=rate, method=METHOD
                    ),
                    columns,
                )
                for p in parts
            ]
    nml_ref = sum(sum(v["alert"]) for v in nml["reference"].values())
    nml_ana = [(i, c) for c, v in nml["analysis"].items() for i, a in enumerate(v["alert"]) if a]
    cells = len(periods["reference"]) * len(columns)
    out["nannyml_js"] = {
        "reference_alerts": nml_ref,
        "reference_cells": cells,
        "analysis_alerts": len(nml_ana),
    }
    for mode, res in modes.items():
        ref_alerts = sum(sum(r.values()) for r in res["reference"])
        kept = sum(res["analysis"][i][c] for i, c in nml_ana)
        total = sum(sum(r.values()) for r in res["analysis"])
        out[mode] = {
            "reference_alerts": ref_alerts,
            "reference_cells": cells,
            "nannyml_alerts_kept": kept,
            "analysis_alerts": total,
            "analysis_cells": len(periods["analysis"]) * len(columns),
        }
    out["timing"] = timing(profile, periods["analysis"], schema)
    return out


def timing(profile: lw.Profile, parts: list[pd.DataFrame], schema: lw.Schema) -> dict:
    """Median seconds of compare(reference profile, chunk profile), plain and calibrated, alternated.

    Each compare gets a freshly read reference (untimed), as a server's window does: the chunk
    statistics are computed in every calibrated compare, never taken from a cache.
    """
    blob = profile.to_bytes()
    cur = [lw.profile(p, schema=schema, reference=profile) for p in parts]
    times: dict[str, list[float]] = {"plain": [], "calibrated": []}
    for _ in range(5):
        for mode, spent in times.items():
            total = 0.0
            for c in cur:
                fresh = lw.Profile.from_bytes(blob)
                t = time.perf_counter()
                lw.compare(fresh, c, schema, thresholds=mode)
                total += time.perf_counter() - t
            spent.append(total)
    med = {m: float(np.median(v)) for m, v in times.items()}
    return {**med, "ratio": med["calibrated"] / med["plain"], "compares": len(cur)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="0.05")
    ap.add_argument("--json")
    ap.add_argument("--method", help="drift method of the calibrated compares (default: each kind's)")
    args = ap.parse_args()
    global METHOD
    METHOD = args.method
    rates = [float(r) for r in args.rates.split(",")]
    results = {name: run(name, rates) for name in DATASETS}
    for name, r in results.items():
        print(f"{name}: {r['rows']} rows, chunk_size {r['chunk_size']}, {r['columns']} columns")
        n = r["nannyml_js"]
        cells = f"{n['reference_alerts']}/{n['reference_cells']}"
        print(f"  nannyml js: reference {cells}, analysis {n['analysis_alerts']}")
        for mode in [k for k in r if k == "plain" or k.startswith("calibrated")]:
            m = r[mode]
            print(
                f"  {mode:18s} reference {m['reference_alerts']:3d}/{m['reference_cells']}"
                f" ({m['reference_alerts'] / m['reference_cells']:.1%}); nannyml alerts kept"
                f" {m['nannyml_alerts_kept']}/{n['analysis_alerts']}; analysis alerts"
                f" {m['analysis_alerts']}/{m['analysis_cells']}"
            )
        t = r["timing"]
        times = f"plain {t['plain']:.3f} s, calibrated {t['calibrated']:.3f} s"
        print(f"  compare x{t['compares']}: {times}, ratio {t['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
