"""A drifted small-integer column is flagged by the server's windows (stored profiles), as scipy flags it on
the raw rows: whether the reference came before the traffic (buckets on its edges) or after (buckets on the
first batch's own edges)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats
from tests._fixtures import Running
from tests._fixtures.http import client

SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "loan_length": {"kind": "numeric"},
        "amount": {"kind": "numeric"},
    }
}


def _frame(n: int, seed: int, drift: bool, start: str = "2026-11-20T08:00:00Z") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = np.arange(6, 23)
    loan = rng.choice(months, n)
    if drift:  # a tenth of the loans get longer
        loan = np.where(rng.random(n) < 0.1, 22, loan)
    return pd.DataFrame(
        {
            "id": [f"{seed}-{i}" for i in range(n)],
            "ts": pd.Timestamp(start) + pd.to_timedelta(np.arange(n), unit="s"),
            "loan_length": loan.astype(np.int64),
            "amount": rng.lognormal(9, 0.5, n),
        }
    )


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def _post(c: httpx.Client, path: str, df: pd.DataFrame) -> None:
    r = c.post(path, content=_parquet(df), headers={"Content-Type": "application/x-parquet"})
    assert r.status_code in (200, 201), r.text


def test_a_drifted_loan_length_is_flagged_by_windows_as_on_the_raw_rows(server: Running) -> None:
    c = client(server)
    ref = _frame(20_000, 1, drift=False)
    traffic = _frame(4_000, 2, drift=True)
    for model, reference_first in (("anchored", True), ("late-reference", False)):
        assert c.post("/v1/models", json={"name": model, "schema": SCHEMA}).status_code == 201
        if reference_first:
            _post(c, f"/v1/models/{model}/references", ref)
        _post(c, f"/v1/models/{model}/predictions", traffic)
        if not reference_first:
            _post(c, f"/v1/models/{model}/references", ref)
        drift = c.get(f"/v1/models/{model}/metrics").json()["drift"]
        col = next(x for x in drift["columns"] if x["name"] == "loan_length")
        scipy = stats.ks_2samp(ref["loan_length"], traffic["loan_length"])  # asymptotic at these sizes
        assert col["exact"] is True, model
        assert abs(col["statistic"] - scipy.statistic) < 1e-12, model
        assert scipy.pvalue < 1e-6
        assert col["p_value"] < 1e-6, model
        assert col["drift_detected"] is True, model
        assert "loan_length" in drift["dataset"]["drifted_columns"]
        # The continuous column did not drift: no alarm where scipy on the raw rows raises none.
        amount = next(x for x in drift["columns"] if x["name"] == "amount")
        assert stats.ks_2samp(ref["amount"], traffic["amount"]).pvalue > 0.05
        assert amount["drift_detected"] is False, model
