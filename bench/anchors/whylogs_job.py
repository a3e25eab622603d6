"""whylogs 1.x: why.log(df) of the current; end to end: profile both and compare (drift scores)."""

import pandas as pd
import whylogs as why
from _common import Clock, emit, paths
from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

ref_path, cur_path = paths()
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
why.log(cur.head(1000)).view()  # warm-up
with Clock() as profile:
    cv = why.log(cur).view()
with Clock() as rest:
    rv = why.log(ref).view()
    scores = calculate_drift_scores(target_view=cv, reference_view=rv, with_thresholds=True)
flagged = [c for c, s in scores.items() if s and s.get("drift_category") == "DRIFT"]
emit(
    profile_seconds=profile.seconds,
    profile_rows=len(cur),
    seconds=profile.seconds + rest.seconds,
    flagged=flagged,
)
