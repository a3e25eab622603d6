"""How a replay reads the logged batches' blobs back (decision 0053): on PostgreSQL through ``COPY TO STDOUT``
in binary, each blob a view of the row's message; on SQLite by a ``SELECT``. Checked against the blobs a plain
SQLAlchemy ``SELECT`` returns and against the estimator's own outputs; the binary COPY parser against the
stream PostgreSQL sent, cut at every place; migration 0019's storage against ``pg_attribute``; a column logged
as strings in some batches and as categories in others (a new user's trial of decision 0065) against the
estimator's own outputs."""

from __future__ import annotations

import itertools
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tests._fixtures.registry import OPENED, applicants, open_model, stored_outputs

import loopwise as lw
from loopwise.client.base import ModelHandle
from loopwise.errors import DataError
from loopwise.registry import RegistrySettings
from loopwise.registry.blobs import COPY_BLOBS, CopyReader, whole_blobs
from loopwise.store import make_engine
from loopwise.store.tables import Batch

START, END = "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"
T0 = pd.Timestamp("2026-12-01 09:00", tz="UTC")
#: Rows per logged call: batches compressed (zstd or LZ4), stored as they are (noise), and under 100 rows.
SIZES = [700, 40, 1_300, 99, 100, 500, 3]


def _logged(url: str, tmp_path: Path, pipeline: Pipeline) -> tuple[ModelHandle, pd.DataFrame]:
    model = open_model(url, tmp_path / "artifacts")
    model.register_version("v1", pipeline, sample=applicants(50, 0)[0])
    frames = []
    first = 0
    for k, n in enumerate(SIZES):
        X, _ = applicants(n, 10 + k)
        frame = X.assign(
            id=[f"e{first + i}" for i in range(n)],
            ts=T0 + pd.to_timedelta((first + np.arange(n)) * 7, unit="s"),
            approved=pipeline.predict(X),
            p_approved=pipeline.predict_proba(X)[:, 1],
        )
        model.log(frame, version="served")
        frames.append(frame)
        first += n
    return model, pd.concat(frames, ignore_index=True)


def _selected(url: str) -> dict[int, bytes]:
    """Every stored batch's blob, by a plain SQLAlchemy SELECT."""
    engine = make_engine(url)
    with engine.connect() as conn:
        found = {int(i): bytes(b) for i, b in conn.execute(sa.select(Batch.id, Batch.arrow))}
    engine.dispose()
    return found


def test_the_blobs_read_for_a_replay_are_the_stored_ones_aligned(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    model, _ = _logged(db_url, tmp_path, pipeline)
    expected = _selected(db_url)
    assert len(expected) == len(SIZES)
    ids = sorted(expected)
    with model.transport.read_sessions() as s:  # type: ignore[attr-defined]
        got = whole_blobs(s, ids)
        some = whole_blobs(s, ids[2:5])
    assert {i: bytes(b) for i, b in got.items()} == expected
    assert {i: bytes(b) for i, b in some.items()} == {i: expected[i] for i in ids[2:5]}
    # Arrow reads the views in place: each starts 8-byte aligned, as the IPC buffers inside it expect.
    assert all(pa.py_buffer(b).address % 8 == 0 for b in got.values())


def test_replayed_outputs_over_many_blobs_equal_the_estimators_own(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    model, frame = _logged(db_url, tmp_path, pipeline)
    run = model.evaluate_version("v1", start=START, end=END, batch_rows=333)
    assert run.evaluated == len(frame) == sum(SIZES)
    got = stored_outputs(db_url, frame.id)
    features = frame[["income", "age"]]
    # The estimator on the same rows in the replay's batches (the window's (batch, row) order is the logged
    # order): a matrix product over 333 rows may round the last bit unlike one over all of them.
    proba = np.concatenate(
        [pipeline.predict_proba(features.iloc[a : a + 333]) for a in range(0, len(frame), 333)]
    )
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), pipeline.predict(features))
    np.testing.assert_array_equal(got["score:false"].to_numpy(), proba[:, 0])
    np.testing.assert_array_equal(got["score:true"].to_numpy(), proba[:, 1])


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    import psycopg

    base = request.getfixturevalue("postgres").url
    name = f"lw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(base.rsplit("/", 1)[0] + "/" + name)


def test_the_binary_copy_is_read_wherever_its_data_is_cut(
    pg_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    """PostgreSQL sends a message per row; the parser must not depend on it: the same stream cut at every
    one of its first 80 bytes, around each field of the second row, and at random places reads the same."""
    import psycopg

    _logged(pg_url, tmp_path, pipeline)
    expected = _selected(pg_url)
    ids = sorted(expected)
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur, cur.copy(COPY_BLOBS, (ids,)) as copy:
        messages = [bytes(m) for m in copy]
    assert len(messages) == len(ids) + 1  # a row each (the header with the first), then the trailer

    def read(pieces: list[bytes]) -> dict[int, bytes]:
        reader = CopyReader()
        for p in pieces:
            reader.feed(memoryview(p))
        return {i: bytes(b) for i, b in reader.rows.items()}

    assert read(messages) == expected
    stream = b"".join(messages)
    second = len(messages[0])
    cuts = [*range(1, 80), *range(second - 3, second + 40)]
    for cut in cuts:
        assert read([stream[:cut], stream[cut:]]) == expected, cut
    rng = np.random.default_rng(0)
    for _ in range(40):
        at = sorted(set(rng.integers(1, len(stream), int(rng.integers(1, 12))).tolist()))
        bounds = [0, *at, len(stream)]
        assert read([stream[a:z] for a, z in itertools.pairwise(bounds)]) == expected
    with pytest.raises(DataError, match="binary format"):
        CopyReader().feed(b"PGCOPY\n\xff\r\n\x01" + stream[11:])


def _storage(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            return None
        return str(
            conn.exec_driver_sql(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'output_batches'::regclass "
                "AND attname = 'arrow'"
            ).scalar_one()
        )


def test_migration_0019_stores_output_blobs_without_pglz(db_url: str) -> None:
    """PostgreSQL: output_batches.arrow EXTERNAL after 0019, EXTENDED (the default) before; SQLite: only the
    version moves."""
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("loopwise.store") / "migrations"))

    def version() -> str:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one())

    def to(target: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, target)

    to("0018")
    before = _storage(engine)
    to("0019")  # not the head: later migrations move on from it
    assert version() == "0019"
    after = _storage(engine)
    to("0018", down=True)
    assert version() == "0018"
    again = _storage(engine)
    engine.dispose()
    if db_url.startswith("postgresql"):
        assert (before, after, again) == ("x", "e", "x")
    else:
        assert (before, after, again) == (None, None, None)


def test_a_column_logged_as_strings_and_as_categories_is_read_as_strings(db_url: str, tmp_path: Path) -> None:
    """Arrow cannot concatenate a dictionary column with a string one: evaluating, pairing and the gate
    raised ``ArrowTypeError`` (a traceback on the command line) when a team logged a column from a pandas
    ``category`` in one call and from strings in another."""
    rng = np.random.default_rng(5)
    n = 1_300
    X = pd.DataFrame({"income": rng.normal(50, 10, n), "region": rng.choice(["north", "south", "east"], n)})
    y = (X.income + (X.region == "south") * 8 + rng.normal(0, 5, n)) > 54
    pipe = make_pipeline(
        ColumnTransformer(
            [("region", OneHotEncoder(handle_unknown="ignore"), ["region"])], remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(X, y)
    schema = {
        "columns": {
            "id": {"role": "id"},
            "ts": {"role": "timestamp"},
            "income": {"kind": "numeric"},
            "region": {"kind": "categorical"},
            "approved": {"role": "prediction", "kind": "boolean"},
        }
    }
    client = lw.Client.local(db_url, registry=RegistrySettings(artifact_dir=tmp_path / "artifacts"))
    OPENED.append(client)
    model = client.register("loans", schema)
    model.register_version("v1", pipe, sample=X.head(50))
    served = pipe.predict(X) ^ (rng.random(n) < 0.1)  # a champion that differs on a tenth of the events
    frame = X.assign(
        id=[f"e{i}" for i in range(n)], ts=T0 + pd.to_timedelta(np.arange(n) * 7, unit="s"), approved=served
    )
    for a, z, as_category in ((0, 400, False), (400, 1_000, True), (1_000, n, False)):
        part = frame.iloc[a:z]
        model.log(part.astype({"region": "category"}) if as_category else part, version="served")

    run = model.evaluate_version("v1", start=START, end=END)
    assert run.evaluated == n
    got = stored_outputs(db_url, frame.id)
    np.testing.assert_array_equal(got.prediction.to_numpy(bool), pipe.predict(X))
    np.testing.assert_array_equal(got["score:true"].to_numpy(), pipe.predict_proba(X)[:, 1])
    found = model.compare_versions(champion="served", challenger="v1", start=START, end=END)
    assert found.paired == n
    assert found.agreement == pytest.approx(np.mean(served == pipe.predict(X)))
