"""Alibi Detect: TabularDrift (KS and chi-square) init(reference) + predict(current)."""

import numpy as np
import pandas as pd
from _common import CATEGORICAL, NUMERIC, Clock, emit, paths
from alibi_detect.cd import TabularDrift

ref_path, cur_path = paths()
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
with Clock() as encode:
    codes = {c: {v: i for i, v in enumerate(sorted(set(ref[c]) | set(cur[c])))} for c in CATEGORICAL}
    xr = np.column_stack(
        [ref[NUMERIC].to_numpy()] + [ref[c].map(codes[c]).to_numpy()[:, None] for c in CATEGORICAL]
    )
    xc = np.column_stack(
        [cur[NUMERIC].to_numpy()] + [cur[c].map(codes[c]).to_numpy()[:, None] for c in CATEGORICAL]
    )
    xr, xc = xr.astype(np.float32), xc.astype(np.float32)
cpf = {len(NUMERIC) + j: None for j in range(len(CATEGORICAL))}
TabularDrift(xr[:1000], p_val=0.05, categories_per_feature=cpf).predict(xc[:1000])
with Clock() as clock:
    cd = TabularDrift(xr, p_val=0.05, categories_per_feature=cpf)
    cd.predict(xc, drift_type="feature", return_p_val=True)
emit(seconds=clock.seconds, encode_seconds=encode.seconds)
