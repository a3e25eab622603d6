"""Backfilling history: a year of traffic and its labels, the windows it answers, the progress callback."""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import accuracy_score
from tests._fixtures import Running
from tests._fixtures.http import sdk

import loopwise as lw
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.ingest import window
from loopwise.ingest.buckets import get_anchor
from loopwise.ingest.parts import fingerprints_of, profile_parts
from loopwise.profiles import BooleanProfile, CategoricalProfile, DatetimeProfile, NumericProfile, Profile
from loopwise.profiles.histogram import fingerprint
from loopwise.profiles.serialize import dumps
from loopwise.profiles.task import ClassificationProfile, RegressionProfile
from loopwise.store.tables import BucketProfile, Model

from ..profiles.test_grouped import same

SCHEMA = lw.Schema.from_yaml(CREDIT_SCHEMA_YAML)
END = pd.Timestamp("2026-11-30", tz="UTC")


def year_of(n: int, seed: int = 3, days: int = 365) -> pd.DataFrame:
    """The demo's traffic, its times evenly spread over the ``days`` before END, in time order."""
    df = make_credit(n, seed=seed)
    span = days * 86_400 * 10**6
    df["ts"] = END - pd.Timedelta(days=days) + pd.to_timedelta((np.arange(n) * span) // n, unit="us")
    return df


def test_a_backfilled_year_answers_each_month_as_its_rows_profiled_directly(tmp_path: Path) -> None:
    df = year_of(3_000)  # one event in about every third hourly bucket
    client = lw.Client.local(tmp_path / "lw.db")
    model = client.register("credit", SCHEMA)
    model.log(df.drop(columns=["repaid"]))
    model.log_feedback(df["request_id"][::2], df["repaid"][::2])  # half the labels, in two passes
    model.log_feedback(df["request_id"][1::2], df["repaid"][1::2])
    sessions = client.transport.read_sessions
    with sessions() as s:
        model_id = s.query(Model.id).filter(Model.name == "credit").scalar()
        anchor = get_anchor(s, model_id)
    assert anchor is not None
    schema = lw.Schema.from_dict(client.describe("credit")["schema"])  # kinds as the first batch fixed them
    for month in range(12):
        start = (END - pd.Timedelta(days=365) + pd.DateOffset(months=month)).to_pydatetime()
        end = min(start + pd.DateOffset(months=1), END.to_pydatetime())
        rows = df[(df["ts"] >= start) & (df["ts"] < end)]
        direct = Profile.empty(schema, anchors=anchor.edges, segments=["race"])
        direct.update(pa.Table.from_pandas(rows, preserve_index=False))
        with sessions() as s:
            stored = window(s, "credit", start, end, cache=False)
        assert stored.n == len(rows) > 0
        same(comparable(direct), comparable(stored), f"month {month}")
        got = model.metrics(start, end)["performance"]["accuracy"]["value"]
        assert got == pytest.approx(accuracy_score(rows["repaid"], rows["approved"]), abs=1e-12)


def comparable(p: Profile) -> dict[str, Any]:
    """What a window must hold exactly as the same rows profiled in one pass: every count, histogram and
    atom; moments and the task's float sums to rounding; KLL sketches by count and range (a merge of
    sketches is not the sketch of the union, by design); a datetime column by its range (each bucket took
    its own histogram edges, which do not merge)."""
    columns: dict[str, Any] = {}
    for name, col in p.columns.items():
        if isinstance(col, NumericProfile):
            m = col.moments
            columns[name] = {
                "counts": [col.n, col.missing, col.nan, col.posinf, col.neginf],
                "moments": [m.count, m.mean, m.m2, m.min, m.max],
                "hist": col.hist.counts.tolist() if col.hist is not None else None,
                "atoms": None
                if col.atoms is None
                else [col.atoms.values.tolist(), col.atoms.counts.tolist()],
                "kll": [col.kll.n, col.kll.get_min_value(), col.kll.get_max_value()] if col.kll.n else [0],
            }
        elif isinstance(col, CategoricalProfile):
            columns[name] = {"counts": [col.n, col.missing], "values": col.counts}
        elif isinstance(col, BooleanProfile):
            columns[name] = [col.n, col.missing, col.true]
        elif isinstance(col, DatetimeProfile):
            m = col.seconds.moments
            columns[name] = [col.n, col.missing, m.count, m.min, m.max]
        else:
            raise AssertionError(f"no comparison for {type(col).__name__}")
    task: Any = None
    if isinstance(p.task, ClassificationProfile):
        meta, _ = p.task.to_state()
        task = [
            meta,
            {name: {k: v.tolist() for k, v in getattr(p.task, name).items()} for name in meta["arrays"]},
        ]
    elif isinstance(p.task, RegressionProfile):
        t = p.task
        sketch = t.error_sketch
        task = [
            t.n,
            t.n_labeled,
            [
                [m.count, m.mean, m.m2, m.min, m.max]
                for m in (t.error, t.abs_error, t.sq_error, t.ape, t.target)
            ],
            [sketch.n, sketch.get_min_value(), sketch.get_max_value()] if sketch.n else [0],
        ]
    return {
        "n": p.n,
        "columns": columns,
        "task": task,
        "segments": {
            seg: {k: comparable(sub) for k, sub in subs.items()} for seg, subs in p.segments.items()
        },
    }


def _recorder(model: Any, calls: list[tuple[int, int, int]]) -> Any:
    """A progress callback noting (done, total, rows the service holds at that moment)."""

    def progress(done: int, total: int) -> None:
        calls.append((done, total, int(model.metrics()["window"]["n"]) if done else 0))

    return progress


def _progress_is_real(client: lw.Client) -> None:
    df = year_of(12_000, seed=8, days=2)
    model = client.register("credit", SCHEMA)
    calls: list[tuple[int, int, int]] = []
    model.log(df.drop(columns=["repaid"]), progress=_recorder(model, calls))
    # Before the first batch, then after each acknowledged batch of 5,000: the rows are stored by then.
    assert calls == [
        (0, 12_000, 0),
        (5_000, 12_000, 5_000),
        (10_000, 12_000, 10_000),
        (12_000, 12_000, 12_000),
    ]
    seen: list[tuple[int, int]] = []
    out = model.log_feedback(df["request_id"], df["repaid"], progress=lambda d, t: seen.append((d, t)))
    assert out["stored"] == 12_000
    assert seen == [(0, 12_000), (5_000, 12_000), (10_000, 12_000), (12_000, 12_000)]
    accuracy = model.metrics()["performance"]["accuracy"]["value"]
    assert accuracy == pytest.approx(accuracy_score(df["repaid"], df["approved"]), abs=1e-12)


def test_progress_embedded(tmp_path: Path) -> None:
    with lw.Client.local(tmp_path / "lw.db") as client:
        _progress_is_real(client)


def test_progress_over_http(server: Running) -> None:
    _progress_is_real(sdk(server))


def test_loopwise_log_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """Rich draws the bar only on a terminal: run the CLI on a pseudo-terminal and read what it drew."""
    df = year_of(12_000, seed=9, days=2).drop(columns=["repaid"])
    df.to_parquet(tmp_path / "history.parquet")
    db = tmp_path / "lw.db"
    lw.Client.local(db).register("credit", SCHEMA)
    exe = str(Path(sys.executable).parent / "loopwise")
    main, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [exe, "log", str(tmp_path / "history.parquet"), "--model", "credit", "--local", str(db)],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(120) == 0
    os.close(main)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert "logging history.parquet" in text
    # The total is known from the start and the bar ends full; a middle frame (5000/12000) shows only when a
    # batch takes longer than Rich's refresh, which a fast machine's batches no longer do.
    assert re.search(r"\s0/12,?000", text) and re.search(r"12,?000/12,?000", text), text[-2000:]
    assert "accepted 12,000" in text


DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def test_the_progress_block_of_docs_server_md(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("### Backfilling history", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, str(DOC), "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "20,000 of 20,000 rows" in printed
    client = lw.Client.local(tmp_path / "backfill.db")
    m = client.model("credit").metrics(
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    )
    assert m["window"]["n"] == 20_000
    assert m["performance"]["accuracy"]["value"] is not None


def test_labels_added_to_an_hours_bucket_request_by_request_answer_as_the_rows_profiled(db_url: str) -> None:
    """First labels are added to the bucket that counts their events (not a rebuild of it); a request sent
    again changes nothing, and a replaced label rebuilds the bucket: after each, the hour answers as its rows
    with the labels they hold then, profiled in one pass, and accuracy is scikit-learn's over those rows."""
    df = make_credit(3_000, seed=5)
    start = END - pd.Timedelta(hours=1)
    df["ts"] = start + pd.to_timedelta(np.arange(len(df)) * 1_000, unit="ms")  # 50 minutes, one bucket
    with lw.Client.local(db_url) as client:  # a PostgreSQL connection left open warns when collected
        model = client.register("credit", SCHEMA)
        model.log(df.drop(columns=["repaid"]))
        held: pd.Series = pd.Series([None] * len(df), index=df.index, dtype=object)
        truth = df["repaid"].astype(object)
        flipped = (~df["repaid"].astype(bool)).astype(object)
        thirds = [df.index[i::3] for i in range(3)]
        steps = [
            (thirds[0], truth, 1_000),  # first labels
            (thirds[0], truth, 0),  # the same request again: nothing new
            (thirds[1], truth, 1_000),
            (thirds[0][:200], flipped, 0),  # replacements: the bucket is rebuilt
            (thirds[2], truth, 1_000),
        ]
        for step, (rows, labels, stored) in enumerate(steps):
            out = model.log_feedback(df.loc[rows, "request_id"], labels[rows].astype(bool))
            assert out["stored"] == stored, step
            held[rows] = labels[rows]
            with client.transport.read_sessions() as s:
                model_id = s.query(Model.id).filter(Model.name == "credit").scalar()
                anchor = get_anchor(s, model_id)
                stored_window = window(s, "credit", start.to_pydatetime(), END.to_pydatetime(), cache=False)
            assert anchor is not None
            schema = lw.Schema.from_dict(client.describe("credit")["schema"])
            now = df.assign(repaid=held)
            direct = Profile.empty(schema, anchors=anchor.edges, segments=["race"])
            direct.update(pa.Table.from_pandas(now, preserve_index=False))
            assert stored_window.n == len(df)
            same(comparable(direct), comparable(stored_window), f"step {step}")
            labelled = held.notna()
            metrics = model.metrics(start.to_pydatetime(), END.to_pydatetime())
            got = metrics["performance"]["accuracy"]["value"]
            expected = accuracy_score(held[labelled].astype(bool), df.loc[labelled, "approved"])
            assert got == pytest.approx(expected, abs=1e-12), step


REGRESSOR = lw.Schema.from_yaml(
    "columns:\n  id: {role: id, kind: categorical}\n  ts: {role: timestamp, kind: datetime}\n"
    "  x: {kind: numeric}\n  g: {role: segment, kind: categorical}\n"
    "  yhat: {role: prediction, kind: numeric}\n  y: {role: target, kind: numeric}\n"
)


def test_a_regressors_first_labels_are_added_to_their_buckets_not_rebuilt(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regressor's first labels are added to the bucket that counts their events, as a classifier's are:
    no bucket is rebuilt for them, also when its target already holds labels (on the edges its first labels
    took: the model has no anchor edges for the target). A request over several such buckets profiles the
    labels on one bucket's edges and the others are rebuilt, as is a bucket with a replaced label. After each
    request every hour answers as its rows with the labels they hold then, profiled in one pass (the target's
    histogram on the edges the bucket's first labels took), and the mean absolute error is scikit-learn's."""
    from sklearn.metrics import mean_absolute_error

    import loopwise.ingest.feedback as feedback

    rebuilt: list[set[Any]] = []
    relabel = feedback.relabel

    def spy(s: Any, model: Any, touched: set[Any]) -> None:
        rebuilt.append({b for _, b in touched})
        relabel(s, model, touched)

    monkeypatch.setattr(feedback, "relabel", spy)
    rng = np.random.default_rng(37)
    n, hours = 1_200, 12
    start = END - pd.Timedelta(hours=hours)
    y = rng.normal(50.0, 10.0, n).round(1)
    df = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "ts": start + pd.to_timedelta(np.arange(n) * (hours * 3_600_000 // n), unit="ms"),
            "x": rng.normal(size=n),
            "g": rng.choice(["a", "b", "c"], n),
            "yhat": y + rng.normal(0.0, 3.0, n),
            "y": y,
        }
    )
    hour = df["ts"].dt.floor("h")
    early = df.index[hour < start + pd.Timedelta(hours=6)]
    late = df.index[hour >= start + pd.Timedelta(hours=6)]
    late_hours = {h.to_pydatetime() for h in hour[late]}
    first_late = late[hour[late] == hour[late[0]]]
    with lw.Client.local(db_url) as client:
        model = client.register("reg", REGRESSOR)
        model.log(df.drop(columns=["y"]))
        held: pd.Series = pd.Series([None] * n, index=df.index, dtype=object)
        changed = df["y"] + 1.0
        rest = late[1::2].difference(first_late)
        steps: list[tuple[pd.Index, pd.Series, int, Any]] = [
            (early, df["y"], len(early), set()),  # each early hour's labels at once: added
            (early, df["y"], 0, set()),  # the same again: nothing stored, nothing rebuilt
            (late[::2], df["y"], len(late[::2]), set()),  # the late hours' first half: added
            (first_late[1::2], df["y"], len(first_late[1::2]), set()),  # one bucket's second half: added
            (rest, df["y"], len(rest), late_hours),  # the others' over several buckets: some rebuilt
            (early[:30], changed, 0, {hour[early[0]].to_pydatetime()}),  # replaced labels: rebuilt
        ]
        for step, (rows, labels, stored, expect_rebuilt) in enumerate(steps):
            rebuilt.clear()
            out = model.log_feedback(df.loc[rows, "id"], labels[rows])
            assert out["stored"] == stored, step
            got_rebuilt = set().union(*rebuilt)
            assert got_rebuilt <= expect_rebuilt if step == 4 else got_rebuilt == expect_rebuilt, step
            held[rows] = labels[rows]
            now = df.assign(y=held.astype(float))
            with client.transport.read_sessions() as s:
                model_id = s.query(Model.id).filter(Model.name == "reg").scalar()
                anchor = get_anchor(s, model_id)
                assert anchor is not None
                for h in sorted(set(hour)):
                    stored_window = window(
                        s, "reg", h.to_pydatetime(), (h + pd.Timedelta(hours=1)).to_pydatetime(), cache=False
                    )
                    target = stored_window.columns["y"]
                    assert isinstance(target, NumericProfile)
                    edges = dict(anchor.edges) | ({"y": target.hist.edges} if target.hist is not None else {})
                    direct = Profile.empty(REGRESSOR, anchors=edges, segments=["g"])
                    direct.update(pa.Table.from_pandas(now[hour == h], preserve_index=False))
                    same(comparable(direct), comparable(stored_window), f"step {step}, {h}")
            labelled = held.notna()
            metrics = model.metrics(start.to_pydatetime(), END.to_pydatetime())
            got = metrics["performance"]["mae"]["value"]
            expected = mean_absolute_error(held[labelled].astype(float), df.loc[labelled, "yhat"])
            assert got == pytest.approx(expected, rel=1e-9), step


def test_a_backfills_new_buckets_are_stored_as_their_profiles_own_writer_writes_them(db_url: str) -> None:
    """A batch spread over 40 days makes a bucket an hour, each written from the batch's arrays
    (``profiles.grouped_write``, decision 0054): every stored bucket holds the bytes ``serialize.dumps``
    writes from the objects of the same rows' profile, naming the model's anchor edges."""
    df = year_of(4_000, seed=9, days=40)  # about four events an hour: 960 new buckets
    with lw.Client.local(db_url) as client:
        model = client.register("credit", SCHEMA)
        model.log(df.drop(columns=["repaid"]))
        schema = lw.Schema.from_dict(client.describe("credit")["schema"])  # kinds as the batch fixed them
        with client.transport.read_sessions() as s:
            model_id = s.query(Model.id).filter(Model.name == "credit").scalar()
            anchor = get_anchor(s, model_id)
            stored = {(r.version, r.bucket.replace(tzinfo=dt.UTC)): r.profile for r in s.query(BucketProfile)}
    assert anchor is not None
    table = lw.schema.to_table(df.drop(columns=["repaid"]))
    ts = df["ts"].dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    ids = [str(x) for x in df["request_id"]]
    (version,) = {v for v, _ in stored}
    parts = profile_parts(schema, table, ids, ts, [version] * len(ids), anchor.edges, {})
    assert len(parts) == len(stored) > 900
    for key, part in parts.items():
        assert isinstance(part, Profile)
        edges: dict[str, np.ndarray] = {}
        assert stored[key] == dumps(part, edges_out=edges), key
        assert (
            {fingerprint(e) for e in edges.values()}
            == set(edges)
            == set(fingerprints_of(anchor.edges).values())
        )
