"""Multivariate drift: loopwise against NannyML on NannyML's datasets (chunks of 5,000 rows), and speed.

    python bench/multivariate.py            # PCA, both libraries, alert patterns and timings
    python bench/multivariate.py --speed    # 100,000 x 40 bench data (bench/gen.py): fit and compare times

NannyML runs in its own virtual environment (bench/anchors/nannyml_multivariate_job.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

import loopwise as lw
from loopwise.metrics.multivariate.reconstruction import chunk_bounds

HERE = Path(__file__).parent
NML_PY = os.environ.get("NANNYML_PYTHON", "/work/venvs/nannyml/bin/python")
DATA = Path(NML_PY).parent.parent / "lib/python3.11/site-packages/nannyml/datasets/data"
sys.path.insert(0, str(HERE / "anchors"))
from nannyml_datasets import CHUNK, FEATURES  # noqa: E402


def nannyml(method: str) -> dict[str, dict]:
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1")
    out = subprocess.run(
        [NML_PY, str(HERE / "anchors/nannyml_multivariate_job.py"), method],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return {r["dataset"]: r for r in (json.loads(x[7:]) for x in out.splitlines() if x.startswith("RESULT "))}


def loopwise(stem: str, cols: list[str], method: str, **kw: object) -> tuple[list[dict], float]:
    ref = pd.read_csv(DATA / f"{stem}_reference.csv")
    cur = pd.read_csv(DATA / f"{stem}_analysis.csv")
    t = time.perf_counter()
    test = lw.MultivariateDrift(method, columns=cols, **kw).fit(ref)
    rows = []
    for period, frame in (("reference", ref), ("analysis", cur)):
        for a, b in chunk_bounds(len(frame), CHUNK):
            r = test.compare(frame.iloc[a:b])
            rows.append(
                {
                    "period": period,
                    "value": r.statistic,
                    "upper": r.threshold,
                    "lower": r.lower_threshold,
                    "alert": r.drift_detected,
                }
            )
    return rows, time.perf_counter() - t


def pattern(rows: list[dict], period: str) -> str:
    return "".join("X" if r["alert"] else "." for r in rows if r["period"] == period)


def compare() -> None:
    theirs = nannyml("pca")
    print(
        "| dataset | NannyML (Euclidean, mean +- 3 sd) | loopwise squared | loopwise euclidean | "
        "agree (squared) | reference-period alerts (NannyML / squared) | seconds (NannyML / squared) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (stem, cols) in FEATURES.items():
        sq, t_sq = loopwise(stem, cols, "pca", chunk_size=CHUNK)
        eu, _ = loopwise(stem, cols, "pca", chunk_size=CHUNK, distance="euclidean")
        nml = theirs[name]["chunks"]
        a, b = pattern(nml, "analysis"), pattern(sq, "analysis")
        agree = sum(x == y for x, y in zip(a, b, strict=True))
        print(
            f"| {name} | `{a}` | `{b}` | `{pattern(eu, 'analysis')}` | {agree}/{len(a)} | "
            f"{pattern(nml, 'reference').count('X')} / {pattern(sq, 'reference').count('X')} | "
            f"{theirs[name]['seconds']:.2f} / {t_sq:.2f} |"
        )


def speed() -> None:
    sys.path.insert(0, str(HERE))
    from gen import ensure

    ref_path, cur_path = ensure(100_000, HERE / "data")
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    for method in ("pca", "classifier"):
        t = time.perf_counter()
        test = lw.MultivariateDrift(method).fit(ref)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        r = test.compare(cur)
        first = time.perf_counter() - t
        t = time.perf_counter()
        test.compare(cur.iloc[:5000])
        chunk = time.perf_counter() - t
        print(
            f"{method}: fit {fit:.2f} s, compare 100,000 rows {first:.2f} s (statistic {r.statistic:.4f}, "
            f"threshold {r.threshold:.4f}, drift {r.drift_detected}), a 5,000-row chunk {chunk:.2f} s"
        )


if __name__ == "__main__":
    speed() if "--speed" in sys.argv else compare()
