"""NannyML's univariate drift alerts per chunk and column, reference and analysis periods (its own venv).

usage: nannyml_calibration.py reference.{csv,pq} analysis.{csv,pq} chunk_size method col1,col2,...
Prints one JSON object: {"reference": {col: [alert, ...]}, "analysis": {...}, "seconds": ...}.
"""

import json
import sys
import time

import nannyml as nml
import pandas as pd


def read(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if path.endswith(".pq") else pd.read_csv(path)


def main() -> None:
    ref_path, ana_path, chunk_size, method, cols = sys.argv[1:6]
    columns = cols.split(",")
    ref, ana = read(ref_path), read(ana_path)
    t = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(
        column_names=columns,
        chunk_size=int(chunk_size),
        continuous_methods=[method],
        categorical_methods=[method],
    )
    calc.fit(ref)
    res = calc.calculate(ana).filter(methods=[method]).to_df()
    seconds = time.perf_counter() - t
    out: dict = {"reference": {}, "analysis": {}, "seconds": seconds}
    period = res[("chunk", "chunk", "period")]
    for c in columns:
        alerts = res[(c, method, "alert")].astype(bool)
        values = res[(c, method, "value")]
        for p in ("reference", "analysis"):
            out[p][c] = {"alert": alerts[period == p].tolist(), "value": values[period == p].tolist()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
