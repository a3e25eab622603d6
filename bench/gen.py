"""Benchmark data: reference and current, N rows x 40 columns, drift in 14 of them.

30 float64 columns cycle through normal, lognormal, uniform, exponential and
bimodal shapes, every 4th with 5% NaN; 10 string categoricals have 5 to 200
Zipf-like categories. Drifted in the current: numeric columns whose index is a
multiple of 3 (small location, scale or mixture shifts) and cat_0, cat_3,
cat_6, cat_9 (top categories reshuffled).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_NUM, CATS = 30, [5, 8, 12, 20, 30, 50, 75, 100, 150, 200]
DRIFTED = [f"num_{i:02d}" for i in range(N_NUM) if i % 3 == 0] + [f"cat_{i}" for i in (0, 3, 6, 9)]


def _numeric(rng: np.random.Generator, i: int, n: int, drift: bool) -> np.ndarray:
    shift = drift and i % 3 == 0
    strength = (0.03, 0.05, 0.08, 0.12, 0.2)[i % 5] if shift else 0.0
    shape = i % 5
    if shape == 0:
        x = rng.normal(strength, 1.0, n)
    elif shape == 1:
        x = rng.lognormal(0.0, 0.6 * (1 + strength), n)
    elif shape == 2:
        x = rng.uniform(0.0 + strength, 1.0 + strength, n)
    elif shape == 3:
        x = rng.exponential(1.0 * (1 + strength), n)
    else:
        w = 0.5 + strength
        x = np.where(rng.random(n) < w, rng.normal(-2, 1, n), rng.normal(2, 1, n))
    if i % 4 == 0:
        x[rng.random(n) < 0.05] = np.nan
    return x


def _categorical(rng: np.random.Generator, j: int, k: int, n: int, drift: bool) -> pa.Array:
    p = 1.0 / np.arange(1, k + 1) ** 1.1
    if drift and j % 3 == 0:
        # Reversed, not permuted: a random permutation of two items is the identity half the time.
        half = k // 2
        p[:half] = p[:half][::-1].copy()
    p /= p.sum()
    labels = np.array([f"c{j}_{v:03d}" for v in range(k)])
    codes = rng.choice(k, n, p=p)
    return pa.array(labels[codes])


def make(n: int, seed: int, drift: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols = {f"num_{i:02d}": _numeric(rng, i, n, drift) for i in range(N_NUM)}
    cols |= {f"cat_{j}": _categorical(rng, j, k, n, drift) for j, k in enumerate(CATS)}
    return pa.table(cols)


def ensure(n: int, root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    # v2: the categorical drift is a reversal (v1's permutation left cat_0 undrifted at 1M rows).
    ref, cur = root / f"reference_{n}_v2.parquet", root / f"current_{n}_v2.parquet"
    for path, seed, drift in ((ref, 12345 + n, False), (cur, 67890 + n, True)):
        if not path.exists():
            pq.write_table(make(n, seed, drift), path, row_group_size=1 << 20)
    (root / f"truth_{n}.json").write_text(json.dumps({"drifted": DRIFTED}))
    return ref, cur
