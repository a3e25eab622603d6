"""Bucket parts: a window reads the same before and after they are folded, and matches the raw rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sklearn.metrics import accuracy_score
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests._fixtures import wait_for
from tests._fixtures.http import traffic

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML
from loopwise.ingest import (
    compact_pending,
    log_feedback,
    log_predictions,
    put_reference,
    register_model,
    window,
)
from loopwise.metrics import performance
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.task import ClassificationProfile
from loopwise.server.jobs import Compactor
from loopwise.store import make_engine, session_factory, transaction, upgrade
from loopwise.store.tables import BucketPart, BucketProfile

SCHEMA = yaml.safe_load(CREDIT_SCHEMA_YAML)
NUMERIC = ["income", "debt_to_income", "age", "loan_amount"]


Sessions = tuple[sessionmaker[Session], sessionmaker[Session]]


@pytest.fixture
def db(db_url: str) -> Iterator[Sessions]:
    """Write and read-only sessions on a migrated database (SQLite, then PostgreSQL)."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine), session_factory(engine, readonly=True)
    engine.dispose()


def batch(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df.drop(columns=["repaid"]), preserve_index=False)


def credit_with_first_rows(writers: sessionmaker[Session], df: pd.DataFrame) -> None:
    """The credit model, with the first 100 rows of ``df`` stored."""
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    with transaction(writers) as s:
        log_predictions(s, "credit", batch(df.iloc[0:100]))


def summary(p: lw.Profile) -> dict[str, object]:
    out: dict[str, object] = {"n": p.n}
    for c in NUMERIC:
        col = p[c]
        assert isinstance(col, NumericProfile)
        out[c] = (col.count, col.moments.mean, col.hist.counts.tolist() if col.hist is not None else None)
    return out


def test_parts_fold_exactly_and_match_the_raw_rows(db: Sessions) -> None:
    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(6000, seed=3)  # 3 s apart: five hours, so batches straddle buckets
    for i in range(0, 6000, 700):
        with transaction(writers) as s:
            log_predictions(s, "credit", batch(df.iloc[i : i + 700]))
    with readers() as s:
        parts = s.scalar(select(func.count()).select_from(BucketPart))
        before = window(s, "credit", cache=False)
    # Nothing folded yet: each hour's first batch made the bucket, every later one a part, which the window
    # merged itself.
    hours = [df.iloc[i : i + 700].ts.dt.floor("h").nunique() for i in range(0, 6000, 700)]
    assert parts == sum(hours) - df.ts.dt.floor("h").nunique() >= 5
    # Against the raw rows (NumPy): counts and means of each numeric column; every finite value binned.
    assert before.n == len(df)
    for c in NUMERIC:
        col = before[c]
        finite = df[c].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        assert col.count == finite.size
        assert col.moments.mean == pytest.approx(finite.mean(), rel=1e-12)
        assert col.hist is not None and col.hist.n == finite.size  # one anchor: histograms merged exactly
    # Labels that arrive while parts are pending: the bucket folds its parts, then rebuilds its task.
    late = df.iloc[:3000:3]  # labels for the first hours only: later buckets keep their parts
    with transaction(writers) as s:
        log_feedback(
            s,
            "credit",
            [{"event_id": e, "label": bool(v)} for e, v in zip(late.request_id, late.repaid, strict=True)],
            "test",
        )
    folded = compact_pending(writers, readers)
    assert folded > 0
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        assert s.scalar(select(func.sum(BucketProfile.n))) == len(df)
        after = window(s, "credit", cache=False)
    assert summary(after) == summary(before)
    task = after.task
    assert isinstance(task, ClassificationProfile)
    assert performance.compute("accuracy", task).value == pytest.approx(
        accuracy_score(late.repaid, late.approved)
    )


def test_a_default_reference_anchors_new_parts(db: Sessions) -> None:
    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
        log_predictions(s, "credit", batch(traffic(500, seed=1, start="2026-11-20T08:00:00Z")))
    ref = lw.profile(pa.Table.from_pandas(traffic(20_000, seed=2)), schema=lw.Schema.from_dict(SCHEMA))
    with transaction(writers) as s:
        put_reference(s, "credit", ref)
        log_predictions(s, "credit", batch(traffic(500, seed=3, start="2026-11-20T12:00:00Z")))
    with readers() as s:
        first = window(s, "credit", end=pd.Timestamp("2026-11-20T09:00:00Z").to_pydatetime(), cache=False)
        second = window(s, "credit", start=pd.Timestamp("2026-11-20T12:00:00Z").to_pydatetime(), cache=False)
    for c in NUMERIC:
        ref_col, a, b = ref[c], first[c], second[c]
        assert isinstance(ref_col, NumericProfile) and ref_col.hist is not None
        assert isinstance(a, NumericProfile) and a.hist is not None
        assert isinstance(b, NumericProfile) and b.hist is not None
        assert not np.array_equal(a.hist.edges, ref_col.hist.edges)  # the first batch's own edges
        assert np.array_equal(b.hist.edges, ref_col.hist.edges)  # then the reference's


def test_the_background_job_folds_parts(db: Sessions) -> None:
    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    job = Compactor(writers, readers, interval=0.05)
    job.start()
    try:
        df = traffic(2000, seed=4)
        for i in range(0, 2000, 250):
            with transaction(writers) as s:
                log_predictions(s, "credit", batch(df.iloc[i : i + 250]))

        def no_parts_left() -> bool:
            with readers() as s:
                return not s.scalar(select(func.count()).select_from(BucketPart))

        wait_for(no_parts_left, "the background job to fold every bucket part", timeout=20, every=0.05)
    finally:
        job.stop()
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        assert s.scalar(select(func.sum(BucketProfile.n))) == len(df)
    # One part per batch and hour it touched, but for each hour's first batch: it made the bucket.
    touched = sum(df.iloc[i : i + 250].ts.dt.floor("h").nunique() for i in range(0, 2000, 250))
    assert job.folded == touched - df.ts.dt.floor("h").nunique() > 0


def test_a_write_group_answers_each_batch_as_if_alone(db: Sessions) -> None:
    from loopwise.ingest import IdempotencyMismatchError, Prepared, Write, prepare_predictions, write_group
    from loopwise.store.tables import Batch, Event

    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
        register_model(s, "other", SCHEMA, "test")
        log_predictions(s, "credit", batch(traffic(5, seed=9)), idempotency_key="old", body_hash="h-old")
    df = traffic(40, seed=1)
    with readers() as s:

        def prep(rows: pd.DataFrame, model: str = "credit") -> Prepared:
            return prepare_predictions(s, model, batch(rows))

        writes = [
            Write(prep(df.iloc[0:10]), "a", "h-a"),
            Write(prep(df.iloc[5:15])),  # 5 ids repeat the first batch's
            Write(prep(df.iloc[0:10]), "a", "h-a"),  # a retry inside the group
            Write(prep(df.iloc[20:30]), "old", "h-changed"),  # a key used before, another body
            Write(prep(df.iloc[30:40], "other")),
            Write(prep(df.iloc[0:1])),  # all duplicates
            Write(prep(pd.concat([traffic(5, seed=9).iloc[:3], df.iloc[15:17]]))),  # 3 ids stored before
        ]
    with transaction(writers) as s:
        answers = write_group(s, writes)
    a, b, retry, reused, other, dup, stored_before = answers
    assert isinstance(stored_before, dict)
    assert (stored_before["accepted"], stored_before["duplicates"]) == (2, 3)
    assert isinstance(a, dict) and (a["accepted"], a["duplicates"]) == (10, 0)
    assert isinstance(b, dict) and (b["accepted"], b["duplicates"]) == (5, 5)
    assert isinstance(retry, dict) and retry["replayed"] is True and retry["accepted"] == 10
    assert isinstance(reused, IdempotencyMismatchError)
    assert isinstance(other, dict) and other["accepted"] == 10
    assert isinstance(dup, dict) and (dup["accepted"], dup["duplicates"], dup["batch_id"]) == (0, 1, None)
    assert a["batch_id"] == b["batch_id"] != other["batch_id"]  # one blob per model for the group
    with readers() as s:
        stored = sorted(s.scalars(select(Event.event_id).join(Batch, Batch.id == Event.batch_id)))
        credit = window(s, "credit", cache=False)
    assert stored == sorted([*traffic(5, seed=9).request_id, *df.request_id[:17], *df.request_id[30:40]])
    assert credit.n == 5 + 17


def test_small_batches_validated_together_get_each_its_own_answer(db: Sessions) -> None:
    """The writer validates queued small batches as one; every answer must equal the batch's answer alone."""
    from tests._fixtures.http import records

    from loopwise.errors import LoopwiseError
    from loopwise.ingest import UnvalidatedBatch, Write, prepare_group, prepare_predictions, write_group
    from loopwise.server.bodies import records_to_table

    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(60, seed=4)
    good = [records(df.iloc[i : i + 1]) for i in range(40)]
    bad_type = records(df.iloc[40:41])
    bad_type[0]["income"] = "a lot"
    bad_time = records(df.iloc[41:42])
    bad_time[0]["ts"] = "1999-01-01T00:00:00Z"
    unknown = records(df.iloc[42:43])
    unknown[0]["colour"] = "red"
    twice = records(df.iloc[43:44]) * 2
    repeated = records(df.iloc[0:2])  # ids already in the first two batches: duplicates, not errors
    missing = records(df.iloc[44:45])
    del missing[0]["region"]
    inf = records(df.iloc[45:46])
    inf[0]["age"] = float("inf")
    as_int = records(df.iloc[46:47])  # another Arrow schema (an int): validated apart, still stored
    as_int[0]["income"] = int(as_int[0]["income"])
    bodies = [*good[:20], bad_type, bad_time, unknown, twice, repeated, missing, inf, as_int, *good[20:]]
    raws = [UnvalidatedBatch("credit", records_to_table(b)) for b in bodies] + [
        UnvalidatedBatch("nope", records_to_table(good[0]))
    ]

    def answer(x: object) -> object:
        if isinstance(x, LoopwiseError):
            return (type(x).__name__, str(x))
        assert hasattr(x, "ids")
        return x.ids

    with readers() as s:
        together = prepare_group(s, raws, profile=True)
        alone = []
        for r in raws:
            try:
                alone.append(prepare_predictions(s, r.model_name, r.table, profile=False))
            except LoopwiseError as exc:
                alone.append(exc)  # type: ignore[arg-type]
    assert [answer(x) for x in together] == [answer(x) for x in alone]
    errors = [type(x).__name__ for x in together if isinstance(x, LoopwiseError)]
    assert errors == ["SchemaValidationError"] * 6 + ["NotFoundError"]
    with transaction(writers) as s:
        answers = write_group(s, [Write(p) if not isinstance(p, LoopwiseError) else p for p in together])
    stored = [a for a in answers if isinstance(a, dict)]
    assert sum(a["accepted"] for a in stored) == 41 and sum(a["duplicates"] for a in stored) == 2
    compact_pending(writers)
    with readers() as s:
        w = window(s, "credit", cache=False)
    kept = pd.concat([df.iloc[0:40], df.iloc[46:47].assign(income=as_int[0]["income"])])
    assert w.n == len(kept)
    for c in NUMERIC:
        col = w[c]
        assert isinstance(col, NumericProfile)
        assert col.count == kept[c].notna().sum()
        assert col.moments.mean == pytest.approx(kept[c].mean(), rel=1e-12)


def test_a_merge_made_outside_the_lock_is_dropped_if_the_bucket_moved(db: Sessions) -> None:
    """The compactor merges in a read snapshot; if another fold lands first, it must not count rows twice."""
    from contextlib import contextmanager

    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(300, seed=6)  # 15 minutes: one hourly bucket
    for i in range(0, 300, 100):
        with transaction(writers) as s:
            log_predictions(s, "credit", batch(df.iloc[i : i + 100]))

    uses = []

    @contextmanager
    def racing_readers() -> Iterator[Session]:
        with readers() as s:
            yield s
        uses.append(1)
        if len(uses) == 2:  # after the snapshot the merge is made from, before the compactor's write:
            compact_pending(writers)  # another replica folds the bucket,
            with transaction(writers) as s:  # and a new batch arrives
                log_predictions(s, "credit", batch(traffic(50, seed=7)))

    racer: sessionmaker[Session] = racing_readers  # type: ignore[assignment]
    assert compact_pending(writers, racer) == 0  # its merge is stale: dropped, nothing deleted
    assert compact_pending(writers, readers) == 1  # the new part, next pass
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        w = window(s, "credit", cache=False)
    raw = pd.concat([df, traffic(50, seed=7)])
    assert w.n == len(raw) == 350
    col = w["income"]
    assert isinstance(col, NumericProfile)
    assert col.moments.mean == pytest.approx(raw["income"].mean(), rel=1e-12)


def test_sqlite_writers_of_two_processes_queue_on_the_file_lock(tmp_path: object) -> None:
    """A writer waits for another process's write transaction instead of failing or polling."""
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import text

    from loopwise.store import sqlite_url

    path = Path(str(tmp_path)) / "lock.db"
    engine = make_engine(sqlite_url(path))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE marks (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from loopwise.store import make_engine, session_factory, sqlite_url, transaction\n"
            "from sqlalchemy import text\n"
            f"f = session_factory(make_engine(sqlite_url({str(path)!r})))\n"
            "with transaction(f) as s:\n"
            "    s.execute(text(\"INSERT INTO marks (who) VALUES ('first')\"))\n"
            "    print('holding', flush=True)\n"
            "    sys.stdin.readline()  # holds the write lock until the test says go\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    writers = session_factory(engine)
    wrote = threading.Event()

    def second() -> None:
        with transaction(writers) as s, transaction(writers) as inner:  # re-entrant in one thread
            s.execute(text("INSERT INTO marks (who) VALUES ('second')"))
            assert inner is not s
        wrote.set()

    writer = threading.Thread(target=second)
    writer.start()
    # While the other process holds the lock the writer waits: it neither fails nor writes.
    assert not wrote.wait(0.5)
    assert writer.is_alive()
    holder.stdin.write("go\n")
    holder.stdin.flush()
    holder.stdin.close()
    assert holder.wait(30) == 0
    holder.stdout.close()
    wait_for(wrote.is_set, "the queued writer to write once the lock is released", timeout=30)
    writer.join(5)
    with engine.connect() as conn:
        order = [r[0] for r in conn.exec_driver_sql("SELECT who FROM marks ORDER BY id")]
    assert order == ["first", "second"]
    engine.dispose()


def test_compressed_blobs_are_stored_as_they_are(db_url: str) -> None:
    """Migration 0005: PostgreSQL must not try to compress loopwise's zstd blobs again (storage EXTERNAL)."""
    from sqlalchemy import text

    engine = make_engine(db_url)
    upgrade(engine)
    blobs = {
        ("batches", "arrow"),
        ("bucket_profiles", "profile"),
        ("bucket_parts", "profile"),
        ("rollups", "profile"),
        ("references", "profile"),
    }
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT c.relname, a.attname, a.attstorage FROM pg_attribute a JOIN pg_class c "
                    "ON c.oid = a.attrelid WHERE a.attnum > 0 AND a.atttypid = 'bytea'::regtype"
                )
            ).all()
            storage = {(t, c): s for t, c, s in rows if (t, c) in blobs}
            assert storage == dict.fromkeys(blobs, "e")
        else:  # nothing to do on SQLite: the migration only moves the version on
            from importlib import resources

            from alembic.script import ScriptDirectory

            head = ScriptDirectory(str(resources.files("loopwise.store") / "migrations")).get_current_head()
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    engine.dispose()


def test_a_group_staged_before_the_lock_stores_the_same_rows(db: Sessions) -> None:
    """What the writer makes before its lock is used only if it still holds; the result is the same."""
    from loopwise.ingest import Write, prepare_predictions, stage, write_group

    writers, readers = db
    df = traffic(400, seed=8)
    credit_with_first_rows(writers, df)

    def group(*frames: pd.DataFrame) -> list[Write]:
        with readers() as s:
            writes = [Write(prepare_predictions(s, "credit", batch(f))) for f in frames]
            stage(s, writes)  # type: ignore[arg-type]
        assert writes[0].staged is not None and writes[0].staged.n == sum(len(f) for f in frames)
        return writes

    # All new: stored as staged.
    with transaction(writers) as s:
        a, b = write_group(s, group(df.iloc[100:200], df.iloc[200:300]))  # type: ignore[arg-type]
    assert isinstance(a, dict) and isinstance(b, dict)
    assert (a["accepted"], b["accepted"], a["batch_id"]) == (100, 100, b["batch_id"])
    # Ten rows were stored before: the staged group no longer holds and is made again under the lock.
    with transaction(writers) as s:
        (c,) = write_group(s, group(pd.concat([df.iloc[90:100], df.iloc[300:400]])))  # type: ignore[arg-type]
    assert isinstance(c, dict) and (c["accepted"], c["duplicates"]) == (100, 10)
    compact_pending(writers)
    with readers() as s:
        w = window(s, "credit", cache=False)
        parts = s.scalar(select(func.count()).select_from(BucketPart))
    assert parts == 0 and w.n == 400
    for c_name in NUMERIC:
        col = w[c_name]
        assert isinstance(col, NumericProfile)
        assert col.count == df[c_name].notna().sum()
        assert col.moments.mean == pytest.approx(df[c_name].mean(), rel=1e-12)
        finite = df[c_name].dropna().to_numpy()
        assert col.hist is not None and col.hist.counts.sum() == len(finite)  # each row binned once


def test_a_group_meeting_a_stored_id_in_raise_mode_stores_nothing(db: Sessions) -> None:
    """The server's writer inserts optimistically ("raise"): an id stored before fails the transaction
    (on SQLite the insert rolls it back itself), nothing of the group stays, and the retry looking ids up
    stores the new rows once. The connection then begins and rolls back transactions as before."""
    from sqlalchemy.exc import IntegrityError

    from loopwise.ingest import Write, prepare_predictions, stage, write_group
    from loopwise.store.tables import Batch, Event, Model

    writers, readers = db
    df = traffic(700, seed=12)
    credit_with_first_rows(writers, df)

    def counts() -> tuple[int, int, int]:
        with readers() as s:
            return tuple(  # type: ignore[return-value]
                s.scalar(select(func.count()).select_from(t)) for t in (Batch, Event, BucketPart)
            )

    before = counts()
    frames = (df.iloc[100:400], pd.concat([df.iloc[400:700], df.iloc[50:51]]))  # the last row stored before
    for staged in (True, False):
        with readers() as s:
            writes = [Write(prepare_predictions(s, "credit", batch(f))) for f in frames]
            if staged:
                stage(s, writes)  # type: ignore[arg-type]
        assert (writes[0].staged is not None) == staged
        with pytest.raises(IntegrityError), transaction(writers) as s:
            write_group(s, writes, duplicates="raise")  # type: ignore[arg-type]
        assert counts() == before

    def abandoned() -> None:
        with transaction(writers) as s:
            register_model(s, "never", SCHEMA, "test")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        abandoned()
    with transaction(writers) as s:
        a, b = write_group(s, writes, duplicates="lookup")  # type: ignore[arg-type]
    assert isinstance(a, dict) and isinstance(b, dict)
    assert (a["accepted"], b["accepted"], b["duplicates"]) == (300, 300, 1)
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(Model).where(Model.name == "never")) == 0
        stored = list(s.scalars(select(Event.event_id)))
    assert sorted(stored) == sorted(df.request_id)


def test_only_one_process_runs_the_compactor_at_a_time(db: Sessions) -> None:
    """Every server process has a compactor; the job lock lets one work and the others skip their pass."""
    from loopwise.store.engine import exclusive

    writers, _ = db
    with exclusive(writers, "compactor") as first:
        with exclusive(writers, "compactor") as second:  # another holder: a file descriptor or a session
            assert (first, second) == (True, False)
        with exclusive(writers, "another job") as other:
            assert other is True
    with exclusive(writers, "compactor") as again:
        assert again is True  # released at the end of the block


@pytest.mark.parametrize("n", [250, 40])
def test_index_rows_stored_over_several_statements_match_the_batch(db: Sessions, n: int) -> None:
    """On SQLite the index rows go in as multi-row INSERTs sized to the bound-parameter limit; lowered
    here to 75 rows a statement, a 250-row batch takes four statements and every row is stored as sent.
    On PostgreSQL 250 rows go by COPY and 40 (under ONE_STATEMENT_BELOW) in the batch's one statement, as
    arrays: both must store every row, time (to the microsecond), hour and latency (some missing) as sent."""
    import sqlite3

    from loopwise.store.bulk import ONE_STATEMENT_BELOW
    from loopwise.store.tables import Event

    assert (n < ONE_STATEMENT_BELOW) == (n == 40)
    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(n, seed=21)
    df["ts"] += pd.to_timedelta(np.arange(n) * 1_234_567, unit="us")  # crosses hours; microseconds
    df["latency_ms"] = np.linspace(1.0, 50.0, len(df))
    df.loc[df.index[::7], "latency_ms"] = np.nan  # sent as nulls
    with transaction(writers) as s:
        dbapi = s.connection().connection.dbapi_connection
        if isinstance(dbapi, sqlite3.Connection):
            dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 600)
        out = log_predictions(s, "credit", batch(df))
        if isinstance(dbapi, sqlite3.Connection):
            dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
    assert out["accepted"] == n
    with readers() as s:
        rows = s.execute(
            select(Event.event_id, Event.row, Event.ts, Event.bucket, Event.latency_ms, Event.batch_id)
        ).all()
        parts = s.execute(select(BucketPart.bucket, BucketPart.n, BucketPart.batch_id)).all()
        made = s.execute(select(BucketProfile.bucket, BucketProfile.n)).all()
    got = pd.DataFrame(rows, columns=["event_id", "row", "ts", "bucket", "latency_ms", "batch_id"])
    got = got.set_index("event_id")
    assert len(got) == n and got["batch_id"].nunique() == 1
    sent = df.set_index("request_id")
    got = got.loc[sent.index]
    assert got["row"].tolist() == list(range(n))  # each row's position in the stored batch
    np.testing.assert_allclose(got["latency_ms"].to_numpy(dtype=float), sent["latency_ms"].to_numpy())
    times = pd.to_datetime(sent["ts"], utc=True)
    assert [t.replace(tzinfo=None) for t in got["ts"]] == [
        t.to_pydatetime().replace(tzinfo=None) for t in times
    ]
    hours = times.dt.floor("h")
    assert [t.replace(tzinfo=None) for t in got["bucket"]] == [
        t.to_pydatetime().replace(tzinfo=None) for t in hours
    ]
    # Per hour the batch covers, of that hour's rows: 40 rows, a part of rows naming the batch; 250 rows,
    # profiled, the new bucket itself.
    per_hour = sorted(
        (h.to_pydatetime().replace(tzinfo=None), int(k)) for h, k in hours.value_counts().items()
    )
    if n == 40:
        assert sorted((b.replace(tzinfo=None), k) for b, k, _ in parts) == per_hour
        assert {b for _, _, b in parts} == set(got["batch_id"])
        assert not made
    else:
        assert not parts
        assert sorted((b.replace(tzinfo=None), k) for b, k in made) == per_hour


def test_small_groups_store_rows_that_profile_as_the_raw_rows(db: Sessions) -> None:
    """Groups of single events store their rows as parts (profiled when read or folded): windows over them,
    pending or folded, must equal the raw rows; labels known at write time count; a bad score is refused
    alone, its group-mates stored."""
    from tests._fixtures.http import records

    from loopwise.errors import DataError
    from loopwise.ingest import ROWS, UnvalidatedBatch, Write, write_group
    from loopwise.server.bodies import records_to_table

    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(240, seed=8)  # 3 s apart: all in one hour
    early = df.iloc[::4]  # labels that arrive before their predictions
    with transaction(writers) as s:
        log_feedback(
            s,
            "credit",
            [{"event_id": e, "label": bool(v)} for e, v in zip(early.request_id, early.repaid, strict=True)],
            "test",
        )
    bodies = [records(df.iloc[i : i + 1]) for i in range(len(df))]
    bad = records(traffic(1, seed=9).assign(request_id="bad-score"))
    bad[0]["p_approve"] = 1.5
    answers = []
    for g in range(0, len(bodies), 8):
        group = [UnvalidatedBatch("credit", records_to_table(b)) for b in bodies[g : g + 8]]
        if g == 80:
            group.insert(3, UnvalidatedBatch("credit", records_to_table(bad)))
        with transaction(writers) as s:
            answers += write_group(s, [Write(r) for r in group])
    refused = [a for a in answers if isinstance(a, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], DataError) and "1.5" in str(refused[0])
    assert sum(a["accepted"] for a in answers if isinstance(a, dict)) == len(df)
    with readers() as s:
        blobs = list(s.scalars(select(BucketPart.profile)))
        pending = window(s, "credit", cache=False)
    assert len(blobs) == 30 and all(b[:4] == ROWS for b in blobs)
    compact_pending(writers, readers)
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        folded = window(s, "credit", cache=False)
    for w in (pending, folded):
        assert w.n == len(df)
        for c in NUMERIC:
            col = w[c]
            assert isinstance(col, NumericProfile)
            x = df[c].to_numpy(dtype=float)
            assert col.count == np.isfinite(x).sum()
            assert col.moments.mean == pytest.approx(np.nanmean(x), rel=1e-12)
            assert col.hist is not None and col.hist.n == col.count
        assert w["region"].frequencies() == df["region"].value_counts().to_dict()  # type: ignore[union-attr]
        sizes = {k: p.n for k, p in w.segments["race"].items()}
        assert sizes == df["race"].value_counts().to_dict()
        task = w.task
        assert isinstance(task, ClassificationProfile)
        assert task.n_labeled == len(early)
        assert performance.compute("accuracy", task).value == pytest.approx(
            accuracy_score(early.repaid, early.approved)
        )


def test_a_model_found_once_is_remembered_per_database(tmp_path: object) -> None:
    # The write path remembers a model's id and schema after the first lookup. Two databases in one process
    # (as here, and in these tests) may hold models of the same name with different schemas.
    from pathlib import Path

    from loopwise.ingest import NotFoundError, registered
    from loopwise.store import sqlite_url

    assert isinstance(tmp_path, Path)
    engines = [make_engine(sqlite_url(tmp_path / f"{n}.db")) for n in ("a", "b")]
    small = {"columns": {"id": {"role": "id"}, "ts": {"role": "timestamp"}, "x": {"kind": "numeric"}}}
    for engine, spec in zip(engines, (SCHEMA, small), strict=True):
        upgrade(engine)
        with transaction(session_factory(engine)) as s:
            register_model(s, "m", spec, "test")
    for _ in range(2):  # the first lookup queries, the second is remembered
        for engine, spec in zip(engines, (SCHEMA, small), strict=True):
            with session_factory(engine, readonly=True)() as s:
                _, schema = registered(s, "m")
                assert sorted(c.name for c in schema.columns) == sorted(spec["columns"])
    with session_factory(engines[0])() as s, pytest.raises(NotFoundError):
        registered(s, "nope")
    # Found later (registered after a miss): a miss is not remembered.
    with transaction(session_factory(engines[0])) as s:
        register_model(s, "nope", small, "test")
    with session_factory(engines[0])() as s:
        assert sorted(c.name for c in registered(s, "nope")[1].columns) == ["id", "ts", "x"]
    for engine in engines:
        engine.dispose()


def test_the_write_path_remembers_an_anchor_briefly(
    db: Sessions, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write path may use a model's anchor read up to ANCHOR_SECONDS before (saving a read per write
    group). A reference set through this database handle anchors the next write at once; one set through
    another handle (another process) within that time; an anchor claimed by a rolled-back write is not
    remembered; and windows over parts of either anchor still count every row."""
    import loopwise.ingest.preparation as preparation
    import loopwise.ingest.writes as writes
    from loopwise.ingest import own_edges

    monkeypatch.setattr(preparation, "ANCHOR_SECONDS", 0.5)
    monkeypatch.setattr(writes, "ANCHOR_SECONDS", 0.5)
    writers, readers = db
    schema = lw.Schema.from_dict(SCHEMA)
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    first = batch(traffic(500, seed=31, start="2026-11-20T08:00:00Z"))
    with writers() as s:  # a first write that rolls back, its claimed anchor with it
        log_predictions(s, "credit", batch(traffic(500, seed=30, start="2026-11-20T07:00:00Z")))
        s.rollback()
    with transaction(writers) as s:
        log_predictions(s, "credit", first)
    with transaction(writers) as s:  # reads the anchor claimed above: now remembered
        log_predictions(s, "credit", batch(traffic(100, seed=36, start="2026-11-20T08:30:00Z")))

    def edges(hour: str) -> dict[str, np.ndarray]:
        start = pd.Timestamp(f"2026-11-20T{hour}:00:00Z").to_pydatetime()
        with readers() as s:
            w = window(s, "credit", start=start, end=start + pd.Timedelta(hours=1), cache=False)
        out = {}
        for c in NUMERIC:
            col = w[c]
            assert isinstance(col, NumericProfile) and col.hist is not None
            out[c] = col.hist.edges
        return out

    own = own_edges(schema, first)
    assert all(np.array_equal(edges("08")[c], own[c]) for c in NUMERIC)  # not the rolled-back batch's
    refs = [lw.profile(pa.Table.from_pandas(traffic(5_000, seed=s)), schema=schema) for s in (32, 33)]
    with transaction(writers) as s:  # this handle: anchors the next write at once
        put_reference(s, "credit", refs[0])
    with transaction(writers) as s:
        log_predictions(s, "credit", batch(traffic(500, seed=34, start="2026-11-20T09:00:00Z")))
    read_by = time.monotonic()
    other = make_engine(db_url)  # another pool: what another process would see
    try:
        with transaction(session_factory(other)) as s:
            put_reference(s, "credit", refs[1])
        # This handle read the anchor at the latest by `read_by`; the write path takes a new read once the one
        # it remembers is ANCHOR_SECONDS old.
        wait_for(
            lambda: time.monotonic() - read_by > writes.ANCHOR_SECONDS,
            "the anchor this handle remembers to be older than ANCHOR_SECONDS",
            every=0.01,
        )
        with transaction(writers) as s:
            log_predictions(s, "credit", batch(traffic(500, seed=35, start="2026-11-20T10:00:00Z")))
    finally:
        other.dispose()
    for hour, ref in (("09", refs[0]), ("10", refs[1])):
        got = edges(hour)
        for c in NUMERIC:
            col = ref[c]
            assert isinstance(col, NumericProfile) and col.hist is not None
            assert np.array_equal(got[c], col.hist.edges)
    with readers() as s:
        assert window(s, "credit", cache=False).n == 1_600


def test_a_new_bucket_is_stored_as_the_bucket_and_a_known_one_gets_a_part(db: Sessions) -> None:
    """A batch's profile of a bucket with no row yet is the bucket (nothing to fold); a bucket that has one
    gets a part; either way each row is counted once and the window is the raw rows'."""
    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(3600, seed=8)  # 3 s apart from 08:00: hours 08, 09 and 10
    first, second = df.iloc[:1800], df.iloc[1800:]  # 08-09:30, then 09:30-11
    with transaction(writers) as s:
        log_predictions(s, "credit", batch(first))
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        stored = sorted(s.scalars(select(BucketProfile.n)))
    assert stored == [600, 1200]  # 08:00 whole, 09:00 half
    with transaction(writers) as s:
        log_predictions(s, "credit", batch(second))
    with readers() as s:
        parts = [(b, n) for b, n in s.execute(select(BucketPart.bucket, BucketPart.n))]
        before = window(s, "credit", cache=False)
    assert [n for _, n in parts] == [600]  # the 09:00 bucket had a row: a part; 10:00 was new
    assert compact_pending(writers, readers) == 1
    with readers() as s:
        assert s.scalar(select(func.count()).select_from(BucketPart)) == 0
        assert sorted(s.scalars(select(BucketProfile.n))) == [1200, 1200, 1200]
        after = window(s, "credit", cache=False)
    assert summary(after) == summary(before)
    whole = lw.profile(pa.Table.from_pandas(df.drop(columns=["repaid"])), schema=lw.Schema.from_dict(SCHEMA))
    assert after.n == whole.n == len(df)
    for c in NUMERIC:
        col = after[c]
        finite = df[c].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        assert isinstance(col, NumericProfile) and col.count == finite.size
        assert col.moments.mean == pytest.approx(finite.mean(), rel=1e-12)
        assert col.hist is not None and col.hist.n == finite.size


def test_a_writer_meeting_another_transactions_new_bucket_row_stores_a_part(db: Sessions) -> None:
    """A transaction that created the bucket's row (a label's lock) and has not committed: the writer waits
    for it, then finds the row and stores a part; the rows are counted once."""
    from loopwise.ingest.buckets import lock_bucket

    writers, readers = db
    with transaction(writers) as s:
        register_model(s, "credit", SCHEMA, "test")
    df = traffic(600, seed=9)  # 08:00-08:30
    hour = pd.Timestamp("2026-11-20T08:00:00Z").to_pydatetime()
    locked, release = threading.Event(), threading.Event()
    model_id: list[int] = []

    def holder() -> None:
        from loopwise.ingest import get_model

        with transaction(writers) as s:
            model_id.append(get_model(s, "credit").id)
            lock_bucket(s, model_id[0], "default", hour)
            locked.set()
            release.wait(20)

    t = threading.Thread(target=holder)
    t.start()
    assert locked.wait(20)
    done = threading.Event()

    def writer() -> None:
        with transaction(writers) as s:
            log_predictions(s, "credit", batch(df))
        done.set()

    w = threading.Thread(target=writer)
    w.start()
    assert not done.wait(0.5)  # waiting for the holder (PostgreSQL: its row; SQLite: the write lock)
    release.set()
    t.join(20)
    w.join(20)
    assert done.is_set()
    with readers() as s:
        assert s.execute(select(BucketPart.n)).scalars().all() == [600]
        assert s.scalar(select(BucketProfile.n)) == 0  # the holder's empty row
        assert window(s, "credit", cache=False).n == 600
    compact_pending(writers, readers)
    with readers() as s:
        assert s.scalar(select(BucketProfile.n)) == 600
        assert window(s, "credit", cache=False).n == 600
