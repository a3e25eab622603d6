"""Aliases on SQLite and PostgreSQL: each move is recorded, and "which version held it at T" is answered
from those records, matching the times the test itself saw around each move."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from sklearn.pipeline import Pipeline
from tests._fixtures import wait_for
from tests._fixtures.registry import applicants, open_model
from tests.store.test_migrations import _config

from loopwise.client.base import ModelHandle
from loopwise.errors import ConflictError, NotFoundError, ParameterError
from loopwise.store import make_engine, upgrade


def _now() -> dt.datetime:
    # The database keeps microseconds: keep the test's own clock readings apart from them.
    start = dt.datetime.now(dt.UTC)

    def later() -> dt.datetime | None:
        now = dt.datetime.now(dt.UTC)
        return now if now - start >= dt.timedelta(milliseconds=2) else None

    return wait_for(later, "the clock to move on by 2 ms", every=0.0005)


@pytest.fixture
def versioned(db_url: str, tmp_path: Path, pipeline: Pipeline) -> ModelHandle:
    model = open_model(db_url, tmp_path / "artifacts")
    X, _ = applicants(50, 20)
    for name in ("v1", "v2", "v3"):
        model.register_version(name, pipeline, sample=X)
    return model


def test_alias_moves_are_recorded_and_answer_what_held_them_when(versioned: ModelHandle) -> None:
    m = versioned
    seen: list[tuple[dt.datetime, dict[str, str | None]]] = [
        (_now(), {"production": None, "challenger": None})
    ]

    def move(alias: str, version: str | None, **evidence: object) -> None:
        m.set_alias(alias, version, evidence=dict(evidence))
        state = dict(seen[-1][1])
        if version is not None:  # a version holds one alias: the one it held before is off it
            state.update({a: None for a, v in state.items() if v == version})
        state[alias] = version
        seen.append((_now(), state))

    move("production", "v1", gate=None, note="first")
    move("challenger", "v2", note="trained on November")
    move("production", "v2", gate_result=17)  # the promotion: v2 leaves challenger
    move("challenger", "v3")
    move("production", "v1", reason="rollback")
    move("challenger", None)

    for at, state in seen:
        for alias, version in state.items():
            assert m.version_at(alias, at) == version, (alias, at)
    assert m.aliases() == {"production": "v1"}
    assert {v.name: v.aliases for v in m.versions()} == {"v1": ["production"], "v2": [], "v3": []}

    history = m.alias_history("production")
    assert [(h.from_version, h.to_version) for h in history] == [(None, "v1"), ("v1", "v2"), ("v2", "v1")]
    assert [h.evidence for h in history] == [
        {"gate": None, "note": "first"},
        {"gate_result": 17},
        {"reason": "rollback"},
    ]
    assert {h.actor for h in history} == {"local"}
    # Each move's time lies between the test's readings before and after it.
    times = [at for at, _ in seen]
    moved = [h for h in m.alias_history() if "displaced_by" not in h.evidence]
    for h, before, after in zip(moved, times[:-1], times[1:], strict=True):
        assert before < h.at < after
    displaced = [h for h in m.alias_history("challenger") if h.evidence.get("displaced_by")]
    assert [(h.from_version, h.to_version, h.evidence) for h in displaced] == [
        ("v2", None, {"displaced_by": "production"})
    ]


def test_bad_moves_change_nothing(versioned: ModelHandle) -> None:
    m = versioned
    m.set_alias("production", "v1")
    assert m.set_alias("production", "v1") == []  # already there: nothing to record
    with pytest.raises(NotFoundError, match="no version named 'v7'"):
        m.set_alias("production", "v7")
    with pytest.raises(ParameterError, match="alias"):
        m.set_alias("../champion", "v2")
    with pytest.raises(ParameterError, match="evidence"):
        m.set_alias("production", "v2", evidence={"p": float("nan")})
    assert m.aliases() == {"production": "v1"}
    assert len(m.alias_history()) == 1
    assert m.version_at("production", dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) is None


def test_champion_once_held_moves_only_through_promotion(versioned: ModelHandle) -> None:
    m = versioned
    m.set_alias("champion", "v1")  # the first champion: nothing to gate it against
    m.set_alias("challenger", "v2")
    refused = [
        lambda: m.set_alias("champion", "v2"),  # a plain move would step around the gate
        lambda: m.set_alias("champion", None),
        lambda: m.set_alias("challenger", "v1"),  # would take champion off v1
    ]
    for attempt in refused:
        with pytest.raises(ConflictError, match="champion"):
            attempt()
    with pytest.raises(NotFoundError, match="no version named 'v7'"):
        m.set_alias("champion", "v7")
    assert m.aliases() == {"champion": "v1", "challenger": "v2"}
    assert len(m.alias_history()) == 2
    forced = m.promote("v2", force=True, reason="v1 refuses new products")
    assert forced.status == "forced"
    assert m.aliases() == {"champion": "v2"}
    m.rollback()
    assert m.aliases() == {"champion": "v1"}


def test_the_migration_keeps_versions_written_before_it(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0007")
        conn.execute(
            sa.text(
                "INSERT INTO models (id, name, schema_json, created_at) "
                "VALUES (1, 'm', '{}', '2026-11-21 10:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO model_versions (id, model_id, name, created_at, meta) "
                "VALUES (1, 1, 'v1', '2026-11-21 10:00:00', '{}')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT name, flavor, sha256, lineage, created_by FROM model_versions")
        ).one()
    assert (row[0], row[1], row[2], row[4]) == ("v1", "external", None, "")
    assert row[3] in ("{}", {})
    assert {"artifacts", "aliases", "alias_events", "output_batches"} <= set(
        sa.inspect(engine).get_table_names()
    )
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0007")
    assert "aliases" not in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM model_versions")).scalar_one() == "v1"
    engine.dispose()


def test_the_time_without_a_zone_is_utc(versioned: ModelHandle) -> None:
    versioned.set_alias("production", "v3")
    later = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime() + dt.timedelta(seconds=1)
    assert versioned.version_at("production", later) == "v3"


def test_two_registrations_of_one_name_at_once_store_one(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    import threading

    from loopwise.errors import ConflictError

    models = [open_model(db_url, tmp_path / "artifacts") for _ in range(2)]  # two clients, two connections
    X, _ = applicants(50, 21)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def register(m: ModelHandle) -> None:
        start.wait()
        try:
            m.register_version("v1", pipeline, sample=X)
            outcomes.append("stored")
        except ConflictError as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=register, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes)[1] == "stored", outcomes
    assert "already has a version named 'v1'" in sorted(outcomes)[0]
    assert [v.name for v in models[0].versions()] == ["v1"]
    assert len([p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]) == 1


def served_frame(pipeline: Pipeline) -> pd.DataFrame:
    """300 events from 10:00 to 12:00, served by v1 until 10:50 and by v2 after."""
    X, _ = applicants(300, 22)
    ts = pd.Timestamp("2026-12-01 10:00", tz="UTC") + pd.to_timedelta(np.arange(300) * 24, unit="s")
    return X.assign(
        id=[f"e{i}" for i in range(300)],
        ts=ts,
        approved=pipeline.predict(X),
        p_approved=pipeline.predict_proba(X)[:, 1],
        model_version=np.where(ts < pd.Timestamp("2026-12-01 10:50", tz="UTC"), "v1", "v2"),
    )


def test_what_served_is_counted_from_the_events_own_versions(
    db_url: str, tmp_path: Path, pipeline: Pipeline
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    frame = served_frame(pipeline)
    model.log(frame)
    start, end = pd.Timestamp("2026-12-01 10:30", tz="UTC"), pd.Timestamp("2026-12-01 11:10", tz="UTC")
    inside = frame[(frame.ts >= start) & (frame.ts < end)]
    expected = inside.model_version.value_counts().to_dict()
    assert model.served(start.to_pydatetime(), end.to_pydatetime()) == expected
    assert model.served("2026-12-01T10:30:00", "2026-12-01T11:10:00") == expected  # no zone: UTC
    assert model.served("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z") == {}
    with pytest.raises(ParameterError, match="'end' must be a time after start"):
        model.served(end.to_pydatetime(), start.to_pydatetime())
