"""Each stored batch's summary (decision 0049): its events' first and last time, its index rows, the one
version that served them; written by every ingest path, backfilled by migration 0018, and the window read
through it equals the scan of the events' index."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sklearn.pipeline import Pipeline
from tests._fixtures import Running
from tests._fixtures.registry import SCHEMA, applicants, http_client, open_model

from loopwise.client.base import ModelHandle
from loopwise.registry.replay import read_stored
from loopwise.registry.window import window_events, window_rows
from loopwise.store import make_engine, upgrade

T0 = pd.Timestamp("2026-12-01 09:00", tz="UTC")


def _frame(
    n: int, seed: int, first: int, pipeline: Pipeline, seconds: np.ndarray | None = None
) -> pd.DataFrame:
    X, _ = applicants(n, seed)
    offsets = (first + np.arange(n)) * 20 if seconds is None else seconds
    return X.assign(
        id=[f"e{first + i}" for i in range(n)],
        ts=T0 + pd.to_timedelta(offsets, unit="s"),
        approved=pipeline.predict(X),
        p_approved=pipeline.predict_proba(X)[:, 1],
    )


def _logged(model: ModelHandle, pipeline: Pipeline) -> pd.DataFrame:
    """Batches of every shape a window must read right, each logged in one call; returns every row sent
    with its ``version`` (``model_version`` where given) and ``call``."""
    rng = np.random.default_rng(5)
    sent = []

    def log(frame: pd.DataFrame, call: int, version: str = "v1") -> None:
        model.log(frame, version=version)
        versions = frame.get("model_version", version)
        sent.append(frame.assign(version=versions, call=call).drop(columns="model_version", errors="ignore"))

    log(_frame(300, 1, 0, pipeline), 0)  # in order: 0 .. 5980 s
    shuffled = rng.permutation(np.arange(300, 600)) * 20  # times out of order inside the batch
    log(_frame(300, 2, 300, pipeline, shuffled), 1)
    mixed = _frame(200, 3, 600, pipeline)  # two versions in one batch
    log(mixed.assign(model_version=np.where(np.arange(200) % 3 == 0, "v0", "v1")), 2)
    log(_frame(150, 4, 800, pipeline, rng.uniform(0, 16_000, 150)), 3)  # late: times across the others
    log(_frame(100, 5, 950, pipeline), 4, "v2")  # another version, whole batch
    again = _frame(120, 6, 1000, pipeline)
    again["id"] = [f"e{i}" for i in range(1040, 1100)] + [f"e{i}" for i in range(60)]  # half logged before
    log(again, 5)
    return pd.concat(sent, ignore_index=True)


def _summaries(model: ModelHandle) -> pd.DataFrame:
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(
            sa.text("SELECT id, n_rows, n_events, first_ts, last_ts, version FROM batches ORDER BY id")
        ).all()
    return pd.DataFrame(rows, columns=["id", "n_rows", "n_events", "first_ts", "last_ts", "version"])


def _check_summaries(summaries: pd.DataFrame, sent: pd.DataFrame) -> None:
    """One batch per call; its summary is NumPy's min, max and count over the rows the call stored (a
    repeated id is stored once, by its first call), and its one version."""
    kept = sent.drop_duplicates("id", keep="first")
    assert len(summaries) == sent.call.nunique()
    for (_, got), (call, rows) in zip(summaries.iterrows(), kept.groupby("call"), strict=True):
        times = rows.ts.to_numpy("datetime64[us]")
        assert got.n_events == got.n_rows == len(rows), call
        assert pd.Timestamp(got.first_ts).tz_localize(None) == pd.Timestamp(times.min()), call
        assert pd.Timestamp(got.last_ts).tz_localize(None) == pd.Timestamp(times.max()), call
        versions = rows.version.unique()
        one = None if pd.isna(got.version) else got.version
        assert one == (versions[0] if len(versions) == 1 else None), call


def _aware(t: Any) -> pd.Timestamp:
    return pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t)


def test_local_client_batches_carry_their_summaries(db_url: str, tmp_path: Path, pipeline: Pipeline) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    sent = _logged(model, pipeline)
    _check_summaries(_summaries(model), sent)


def test_http_batches_carry_their_summaries(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    request: pytest.FixtureRequest,
    pipeline: Pipeline,
) -> None:
    monkeypatch.setenv("LOOPWISE_ARTIFACT_DIR", str(tmp_path / "served-artifacts"))
    server: Running = request.getfixturevalue("server")
    client = http_client(server.url, server.admin_key)
    client.register("credit", SCHEMA)
    sent = _logged(client.model("credit"), pipeline)
    engine = make_engine(server.db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, n_rows, n_events, first_ts, last_ts, version FROM batches ORDER BY id")
        ).all()
    engine.dispose()
    summaries = pd.DataFrame(rows, columns=["id", "n_rows", "n_events", "first_ts", "last_ts", "version"])
    _check_summaries(summaries, sent)


def _windows() -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    edges = [0, 1000, 5990, 6000, 7001, 11_999, 12_000, 16_000, 19_000, 20_000, 21_000, 25_000]
    out = [
        (T0 + pd.Timedelta(seconds=a), T0 + pd.Timedelta(seconds=b)) for a in edges for b in edges if a < b
    ]
    return [*out, (T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1))]


@pytest.mark.parametrize("version", ["v1", "v2", "v9"])
def test_a_window_read_through_the_summaries_equals_the_index_scan(
    db_url: str, tmp_path: Path, pipeline: Pipeline, version: str
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    sent = _logged(model, pipeline).drop_duplicates("id", keep="first").set_index("id")
    # A batch whose blob holds rows its index left out (as batches stored before decision 0039 may): the
    # backfill counts its index rows, so it is never taken whole.
    left_out = [f"e{i}" for i in (3, 150, 299)]
    with model.transport.sessions.begin() as s:  # type: ignore[attr-defined]
        for e in left_out:
            s.execute(sa.text("DELETE FROM events WHERE event_id = :e"), {"e": e})
        s.execute(
            sa.text("UPDATE batches SET n_events = n_events - 3 WHERE id = (SELECT min(id) FROM batches)")
        )
    sent = sent.drop(index=left_out)
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        model_id = s.execute(sa.text("SELECT id FROM models WHERE name = 'credit'")).scalar_one()
        for start, end in _windows():
            a, z = start.to_pydatetime(), end.to_pydatetime()
            scan = window_events(s.connection(), model_id, a, z, served_by=(version,))
            got = window_rows(s.connection(), model_id, a, z, version)
            np.testing.assert_array_equal(got.batch_id, scan.table.column("batch_id").to_numpy())
            np.testing.assert_array_equal(got.row, scan.table.column("row").to_numpy())
            np.testing.assert_array_equal(got.served, scan.table.column("served").to_numpy() == 1)
            assert (got.first, got.last) == (scan.first, scan.last)
            # And against the rows sent: NumPy on the raw frame.
            inside = sent[(sent.ts >= start) & (sent.ts < end)]
            ids = (
                read_stored(s, got.batch_id, got.row, ["id"]).column("id").to_pylist() if len(got.row) else []
            )
            assert sorted(ids) == sorted(inside.index), (start, end)
            np.testing.assert_array_equal(got.served, (inside.loc[ids].version == version).to_numpy())


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("loopwise.store") / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def test_migration_0018_backfills_the_summaries_of_stored_batches(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0017")
    rng = np.random.default_rng(3)
    base = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    events = []  # (batch, event id, version, time): out-of-order times, one batch of two versions
    for batch, n, versions in [(1, 40, ["a"]), (2, 25, ["a", "b"]), (3, 30, ["b"]), (5, 1, ["c"])]:
        seconds = rng.integers(0, 86_400 * 3, n)
        for row in range(n):
            events.append((batch, f"b{batch}-{row}", versions[row % len(versions)], row, int(seconds[row])))
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO models (id, name, schema_json, created_at) VALUES (1, 'm', '{}', :t)"),
            {"t": base},
        )
        for batch, n in [(1, 40), (2, 27), (3, 30), (4, 10), (5, 1)]:  # 2: two rows left out; 4: none
            conn.execute(
                sa.text(
                    "INSERT INTO batches (id, model_id, received_at, n_rows, arrow) "
                    "VALUES (:id, 1, :t, :n, :b)"
                ),
                {"id": batch, "t": base, "n": n, "b": b"x"},
            )
        conn.execute(
            sa.text(
                "INSERT INTO events (model_id, event_id, version, ts, bucket, batch_id, row, latency_ms) "
                "VALUES (1, :e, :v, :ts, :hour, :batch, :row, NULL)"
            ),
            [
                {
                    "e": e,
                    "v": v,
                    "ts": base + dt.timedelta(seconds=sec),
                    "hour": (base + dt.timedelta(seconds=sec)).replace(minute=0, second=0),
                    "batch": b,
                    "row": r,
                }
                for b, e, v, r, sec in events
            ],
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, n_rows, n_events, first_ts, last_ts, version FROM batches ORDER BY id")
        ).all()
    raw = pd.DataFrame(events, columns=["batch", "id", "version", "row", "seconds"])
    for batch_id, _, n_events, first, last, version in rows:
        mine = raw[raw.batch == batch_id]
        assert n_events == len(mine), batch_id
        if not len(mine):
            assert (first, last, version) == (None, None, None)
            continue
        seconds = mine.seconds.to_numpy()
        assert _aware(first) == pd.Timestamp(base + dt.timedelta(seconds=int(seconds.min()))), batch_id
        assert _aware(last) == pd.Timestamp(base + dt.timedelta(seconds=int(seconds.max()))), batch_id
        versions = mine.version.unique()
        assert version == (versions[0] if len(versions) == 1 else None), batch_id
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0017")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("batches")}
        assert not columns & {"first_ts", "last_ts", "n_events", "version"}
        assert conn.execute(sa.text("SELECT count(*) FROM batches")).scalar_one() == 5
    engine.dispose()


def test_replayed_outputs_over_summarized_windows_equal_the_estimators_own(
    db_url: str, tmp_path: Path, pipeline: Pipeline, train: tuple[pd.DataFrame, pd.Series]
) -> None:
    # Each window meets in-order, out-of-order, mixed-version, late and partly repeated batches.
    model = open_model(db_url, tmp_path / "artifacts")
    model.register_version("v2", pipeline, sample=train[0].head(50))
    sent = _logged(model, pipeline).drop_duplicates("id", keep="first").set_index("id")
    done: set[str] = set()
    for a, b in [(1000, 7001), (12_000, 19_000), (0, 25_000)]:
        start, end = T0 + pd.Timedelta(seconds=a), T0 + pd.Timedelta(seconds=b)
        run = model.evaluate_version("v2", start=start.isoformat(), end=end.isoformat(), batch_rows=97)
        inside = sent[(sent.ts >= start) & (sent.ts < end)]
        mine = inside[inside.version == "v2"]
        assert (run.events, run.served_by_version) == (len(inside), len(mine))
        assert run.evaluated + run.already == len(inside) - len(mine)
        done |= set(inside.index) - set(mine.index)
        with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
            blobs = (
                s.execute(sa.text("SELECT arrow FROM output_batches WHERE version = 'v2'")).scalars().all()
            )
        tables = [pa.ipc.open_stream(pa.py_buffer(blob)).read_all() for blob in blobs]
        ids = [e for t in tables for e in t.column("event_id").to_pylist()]
        assert sorted(ids) == sorted(done)
        predicted = np.array([p for t in tables for p in t.column("prediction").to_pylist()], dtype=bool)
        score = np.array([p for t in tables for p in t.column("score:true").to_pylist()])
        features = sent.loc[ids, ["income", "age"]]
        np.testing.assert_array_equal(predicted, pipeline.predict(features))
        np.testing.assert_allclose(score, pipeline.predict_proba(features)[:, 1], rtol=1e-12)
