"""NannyML's multivariate drift on its own datasets, chunks of 5,000 rows: value, thresholds, alert.

Runs in NannyML's virtual environment; prints a RESULT line per dataset and method
(read by bench/multivariate.py).
"""

import json
import os
import sys
import time

import nannyml as nml
import pandas as pd
from nannyml_datasets import CHUNK, FEATURES

DATA = os.path.join(os.path.dirname(nml.__file__), "datasets", "data")


def rows(result, column):
    d = result.to_df()
    out = []
    for _, r in d.iterrows():
        out.append(
            {
                "period": r[("chunk", "period")],
                "value": float(r[(column, "value")]),
                "upper": None
                if pd.isna(r[(column, "upper_threshold")])
                else float(r[(column, "upper_threshold")]),
                "lower": None
                if pd.isna(r[(column, "lower_threshold")])
                else float(r[(column, "lower_threshold")]),
                "alert": bool(r[(column, "alert")]),
            }
        )
    return out


methods = sys.argv[1].split(",") if len(sys.argv) > 1 else ["pca"]
CALCULATORS = {
    "pca": (
        lambda cols: nml.DataReconstructionDriftCalculator(column_names=cols, chunk_size=CHUNK),
        "reconstruction_error",
    ),
    "classifier": (
        lambda cols: nml.DomainClassifierCalculator(feature_column_names=cols, chunk_size=CHUNK),
        "domain_classifier_auroc",
    ),
}

for name, (stem, cols) in FEATURES.items():
    ref = pd.read_csv(os.path.join(DATA, f"{stem}_reference.csv"))
    cur = pd.read_csv(os.path.join(DATA, f"{stem}_analysis.csv"))
    for method in methods:
        make, column = CALCULATORS[method]
        t = time.perf_counter()
        calc = make(cols)
        calc.fit(ref)
        res = calc.calculate(cur)
        secs = time.perf_counter() - t
        result = {"dataset": name, "method": method, "seconds": secs, "chunks": rows(res, column)}
        print("RESULT " + json.dumps(result), flush=True)
