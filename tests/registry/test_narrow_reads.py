"""A paired comparison reads the logged batches' narrow blobs (``batch_outputs``, decision 0062) where they
have one, and the whole blob for the others (batches stored before migration 0020, simulated here by
deleting their rows) or for a column the narrow blob left out: the same ``Paired``, value for value and type
for type, as reading every whole blob (all the narrow rows deleted), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tests._fixtures.registry import applicants
from tests.registry.test_paired_columns import DAY, _model, _traffic

from loopwise.client.base import ModelHandle
from loopwise.registry import comparison, replay
from loopwise.registry.comparison import Paired, pair
from loopwise.store import make_engine

START, END = pd.Timestamp(DAY["start"]), pd.Timestamp(DAY["end"])


def _logged(url: str, tmp_path: Path, pipeline: Pipeline) -> ModelHandle:
    X, y = applicants(2000, 1)
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.assign(age=0.0), y)
    model = _model(url, tmp_path / "artifacts")
    _traffic(model, pipeline, weak)
    return model


def _batches(url: str) -> list[int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = [
            int(i) for (i,) in conn.execute(sa.text("SELECT batch_id FROM batch_outputs ORDER BY batch_id"))
        ]
    engine.dispose()
    return found


def _forget(url: str, batch_ids: list[int]) -> None:
    """Delete these batches' narrow blobs: as if they had been stored before migration 0020."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for b in batch_ids:
            conn.execute(sa.text("DELETE FROM batch_outputs WHERE batch_id = :b"), {"b": b})
    engine.dispose()


def _pair(model: ModelHandle, columns: list[str]) -> Paired:
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        return pair(s, "seg", "v1", "v2", START, END, columns)


def _values(v: Any) -> tuple[str, Any]:
    """A ``registry.values`` column as its kind and its values (an Arrow array's type kept)."""
    if isinstance(v, pa.Array | pa.ChunkedArray):
        return str(v.type), v.to_pylist()
    assert isinstance(v, np.ndarray)
    return str(v.dtype), v.tolist()


def _same(p: Paired, q: Paired) -> None:
    assert (p.champion, p.challenger, p.positive, p.logged) == (
        q.champion,
        q.challenger,
        q.positive,
        q.logged,
    )
    assert p.schema == q.schema
    assert p.ids.equals(q.ids) and p.ids.type == q.ids.type
    for name in ("champion_predictions", "challenger_predictions", "labels"):
        assert _values(getattr(p, name)) == _values(getattr(q, name)), name
    for name in ("champion_scores", "challenger_scores"):
        assert getattr(p, name).equals(getattr(q, name)), name
    assert p.table.schema.equals(q.table.schema, check_metadata=True)
    assert p.table.equals(q.table)
    np.testing.assert_array_equal(p.challenger_ms, q.challenger_ms)


@pytest.mark.parametrize("scan", [True, False], ids=["window-from-summaries", "window-from-events"])
def test_pairs_from_narrow_blobs_equal_those_from_the_whole_blobs(
    tmp_path: Path, db_url: str, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, scan: bool
) -> None:
    if not scan:  # pair() then reads the window from the events' index, and the paired events' rows after
        monkeypatch.setattr(comparison, "SCAN_PER_EVENT", 0)
    model = _logged(db_url, tmp_path, pipeline)
    batches = _batches(db_url)
    assert len(batches) == 3  # v1's two batches, v2's one
    whole_reads: list[int] = []
    blobs = replay.whole_blobs

    def counted(s: Any, ids: list[int]) -> Any:
        whole_reads.extend(ids)
        return blobs(s, ids)

    monkeypatch.setattr(replay, "whole_blobs", counted)

    narrow = _pair(model, ["region"])
    assert whole_reads == []  # every batch read from its narrow blob
    assert narrow.table.column_names == ["region", "approved", "p_approved"] and len(narrow) == 1600
    with_feature = _pair(model, ["region", "income"])  # a feature: the whole blobs
    assert sorted(whole_reads) == batches
    whole_reads.clear()

    _forget(db_url, [batches[1]])  # one batch "stored before": a mixed window
    mixed = _pair(model, ["region"])
    assert whole_reads == [batches[1]]
    mixed_feature = _pair(model, ["region", "income"])

    _forget(db_url, batches)  # every batch read whole, as before batch_outputs
    whole_reads.clear()
    whole = _pair(model, ["region"])
    assert sorted(whole_reads) == batches
    whole_feature = _pair(model, ["region", "income"])

    _same(narrow, whole)
    _same(mixed, whole)
    _same(with_feature, whole_feature)
    _same(mixed_feature, whole_feature)
    # The logged order.
    assert whole_feature.table.column_names == ["income", "region", "approved", "p_approved"]
    assert whole_feature.table.column("income").type == pa.float64()


def test_compare_and_gate_read_the_same_from_either_blob(
    tmp_path: Path, db_url: str, pipeline: Pipeline
) -> None:
    from loopwise.checks import Suite, fairness_budget, superior

    model = _logged(db_url, tmp_path, pipeline)
    suite = Suite("g", [superior("accuracy"), fairness_budget("region", 0.5)])
    narrow = model.compare_versions(champion="v1", challenger="v2", **DAY).to_dict()
    gated = model.gate("v2", suite, champion="v1", **DAY)
    _forget(db_url, _batches(db_url))
    whole = model.compare_versions(champion="v1", challenger="v2", **DAY).to_dict()
    again = model.gate("v2", suite, champion="v1", **DAY)
    assert narrow == whole and narrow["paired"] == 1600
    assert gated.checks["checks"] == again.checks["checks"] and gated.comparisons == again.comparisons


def test_read_stored_narrow_equals_whole_on_any_rows(tmp_path: Path, db_url: str, pipeline: Pipeline) -> None:
    """Rows taken out of batches (not whole batches, not in one piece), ids and outputs, some batches
    without a narrow blob: the narrow read equals the whole one, and a column no blob has is in neither."""
    model = _logged(db_url, tmp_path, pipeline)
    batches = _batches(db_url)
    rng = np.random.default_rng(3)
    sizes = {batches[0]: 700, batches[1]: 800, batches[2]: 100}
    keys = sorted((b, int(r)) for b, n in sizes.items() for r in rng.choice(n, n // 3, replace=False))
    batch_ids = np.array([k[0] for k in keys], np.int64)
    rows = np.array([k[1] for k in keys], np.int64)
    columns = ["id", "approved", "p_approved", "region", "not_logged"]
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        whole = replay.read_stored(s, batch_ids, rows, columns)
        narrow = replay.read_stored(s, batch_ids, rows, columns, narrow=True)
    _forget(db_url, [batches[0]])
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        mixed = replay.read_stored(s, batch_ids, rows, columns, narrow=True)
    assert whole.column_names == ["id", "region", "approved", "p_approved"]
    assert whole.num_rows == len(keys)
    for got in (narrow, mixed):
        assert got.schema.equals(whole.schema, check_metadata=True)
        assert got.equals(whole)
