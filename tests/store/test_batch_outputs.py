"""Every batch stored has its narrow blob (``batch_outputs``, decision 0062): written by the local client and
over HTTP (JSON records in small and large batches, an Arrow body, the SDK), on SQLite and PostgreSQL (its
one-statement path under 100 rows included). Checked against pyarrow on the raw stored blobs: the narrow
blob holds exactly the whole blob's id, prediction, score and segment columns, equal to them value for value
and type for type, and names the columns it left out."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from tests._fixtures.http import client, records, register, sdk, traffic
from tests._fixtures.registry import applicants, open_model
from tests._fixtures.servers import Running

from loopwise.store import make_engine

#: The credit model's narrow columns (tests/_fixtures/http.py's schema), named here, not from the code.
CREDIT_NARROW = ["request_id", "race", "p_approve", "approved"]
#: The registry fixture's model: an id, a prediction, a score, no segment.
APPLICANTS_NARROW = ["id", "approved", "p_approved"]


def _stored(url: str) -> list[tuple[int, int, bytes, int | None, bytes | None]]:
    """(batch id, model id, whole blob, narrow blob's model id, narrow blob) of every stored batch."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT b.id, b.model_id, b.arrow, o.model_id, o.arrow FROM batches b "
                "LEFT JOIN batch_outputs o ON o.batch_id = b.id ORDER BY b.id"
            )
        ).all()
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM batch_outputs o "
                "WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = o.batch_id)"
            )
        ).scalar_one()
    engine.dispose()
    assert orphans == 0
    return [(int(i), int(m), bytes(a), om, None if o is None else bytes(o)) for i, m, a, om, o in rows]


def _read(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def _check(url: str, narrow_names: list[str], batches: int) -> None:
    stored = _stored(url)
    assert len(stored) == batches
    for batch_id, model_id, whole_blob, outputs_model, narrow_blob in stored:
        assert narrow_blob is not None, f"batch {batch_id} has no narrow blob"
        assert outputs_model == model_id
        whole, narrow = _read(whole_blob), _read(narrow_blob)
        expected = [c for c in whole.column_names if c in narrow_names]
        assert narrow.column_names == expected
        assert set(expected) == set(narrow_names)  # every narrow column was logged here
        assert narrow.num_rows == whole.num_rows > 0
        for name in expected:
            assert narrow.schema.field(name).type == whole.schema.field(name).type, name
            assert narrow.column(name).equals(whole.column(name)), name
        left_out = json.loads(narrow.schema.metadata[b"loopwise.left_out"])
        assert left_out == [c for c in whole.column_names if c not in narrow_names]


def test_the_local_client_writes_each_batchs_narrow_blob(db_url: str, tmp_path: Path) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    sizes = [3, 99, 100, 1_300]  # PostgreSQL's one statement under 100 rows; compressed from 100
    first = 0
    for k, n in enumerate(sizes):
        X, y = applicants(n, k)
        frame = X.assign(
            id=[f"e{first + i}" for i in range(n)],
            ts=pd.Timestamp("2026-12-01 09:00", tz="UTC")
            + pd.to_timedelta(first + pd.RangeIndex(n), unit="s"),
            approved=y.to_numpy(),
            p_approved=(X.income / 100).clip(0, 1),
        )
        model.log(frame, version="v1")
        first += n
    # A batch all of whose events are stored already stores nothing, narrow blob included.
    model.log(frame, version="v1")
    _check(db_url, APPLICANTS_NARROW, len(sizes))


def test_http_json_arrow_and_the_sdk_write_each_batchs_narrow_blob(server: Running) -> None:
    c = client(server)
    register(c)
    df = traffic(1_600, seed=4)
    posts: list[httpx.Response] = []
    for lo, hi in (
        (0, 1),
        (1, 40),
        (40, 140),
        (140, 900),
    ):  # JSON: one statement under 100 rows on PostgreSQL
        posts.append(c.post("/v1/models/credit/predictions", json=records(df[lo:hi])))
    table = pa.Table.from_pandas(df[900:1_300].drop(columns=["repaid"]), preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    posts.append(
        c.post(
            "/v1/models/credit/predictions",
            content=sink.getvalue(),
            headers={"Content-Type": "application/vnd.apache.arrow.stream"},
        )
    )
    assert all(r.status_code == 200 for r in posts), [r.text for r in posts]
    sdk(server).model("credit").log(df[1_300:].drop(columns=["repaid"]))
    ids: set[Any] = {r.json()["batch_id"] for r in posts}
    assert len(ids) == 5
    stored = _stored(server.db_url)
    _check(server.db_url, CREDIT_NARROW, len(stored))
    assert sum(_read(b[2]).num_rows for b in stored) == 1_600
