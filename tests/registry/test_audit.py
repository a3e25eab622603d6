"""``verify`` checks the model's current state against its chain (decision 0060): an alias row or a version
row changed straight in the database is named, an overwritten artifact file is refused at load, and a head
hash kept elsewhere finds the last entries deleted together with the chain's head row. And ``history``
says what the events served around a time truly show (none within the window is not "none ever")."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import delete, insert, select, update
from tests._fixtures import run_cli
from tests._fixtures.registry import applicants, lw_url, open_model

from loopwise.cli.gate import served_line
from loopwise.client.base import ModelHandle
from loopwise.errors import DataError, ParameterError
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.tables import Alias, AuditEntry, AuditHead
from loopwise.store.tables import ModelVersion as VersionRow


def _other(pipeline: Pipeline) -> Pipeline:
    """A second pipeline with other coefficients: other bytes, another sha256."""
    X, y = applicants(500, 7)
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(X, y)


def _two_versions(db_url: str, tmp_path: Path, pipeline: Pipeline) -> ModelHandle:
    """v1 and v2 (other bytes) registered; champion on v1, then forced to v2."""
    model = open_model(db_url, tmp_path / "artifacts")
    X, _ = applicants(100, 2)
    model.register_version("v1", pipeline, sample=X.head(20))
    model.register_version("v2", _other(pipeline), sample=X.head(20))
    model.set_alias("champion", "v1")
    model.promote("v2", force=True, reason="test")
    assert model.aliases() == {"champion": "v2"} and model.verify_audit()["ok"]
    return model


def _write(db_url: str, *statements: Any) -> None:
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            for statement in statements:
                s.execute(statement)
    finally:
        engine.dispose()


def _version_id(db_url: str, name: str) -> int:
    engine = make_engine(db_url)
    try:
        with session_factory(engine, readonly=True)() as s:
            found = s.scalar(select(VersionRow.id).where(VersionRow.name == name))
            assert found is not None
            return found
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["moved", "deleted", "added"])
def test_an_alias_row_changed_outside_the_registry_is_named(
    tmp_path: Path, db_url: str, pipeline: Pipeline, how: str
) -> None:
    """The trial's ``UPDATE aliases SET version_id=1``: the alias served v1 while the chain (and history)
    said v2, and verify said intact."""
    model = _two_versions(db_url, tmp_path, pipeline)
    v1 = _version_id(db_url, "v1")
    if how == "moved":
        _write(db_url, update(Alias).where(Alias.name == "champion").values(version_id=v1))
        assert model.aliases() == {"champion": "v1"}
        said = "alias 'champion' (chain model:1): points at v1, but its last recorded move (entry"
        tail = "put it at v2: the alias row was changed outside the registry"
    elif how == "deleted":
        _write(db_url, delete(Alias).where(Alias.name == "champion"))
        said = "alias 'champion' (chain model:1): is unset, but its last recorded move (entry"
        tail = "put it at v2"
    else:
        row = {"model_id": 1, "name": "staging", "version_id": v1, "updated_at": dt.datetime.now(dt.UTC)}
        _write(db_url, insert(Alias).values(**row))
        said = "alias 'staging' (chain model:1): points at v1 with no recorded move"
        tail = ""
    found = model.verify_audit()
    assert not found["ok"]
    assert found["problem"]["text"].startswith(said) and tail in found["problem"]["text"], found


@pytest.mark.parametrize("field", ["sha256", "file"])
def test_a_version_whose_artifact_changed_is_named_and_not_loaded(
    tmp_path: Path, db_url: str, pipeline: Pipeline, field: str
) -> None:
    """(a) the row's sha256 set to v1's: verify names the version and both digests, and a load refuses
    (it loaded v1's model as v2); (b) the file overwritten with other bytes: a load re-hashes it and
    refuses (verify reads rows, not files)."""
    model = _two_versions(db_url, tmp_path, pipeline)
    digests = {v.name: v.sha256 for v in model.versions()}
    assert digests["v1"] != digests["v2"]
    if field == "sha256":
        _write(db_url, update(VersionRow).where(VersionRow.name == "v2").values(sha256=digests["v1"]))
        found = model.verify_audit()
        assert not found["ok"]
        text = found["problem"]["text"]
        assert text.startswith(f"version 'v2' (chain model:1): its row says sha256 {digests['v1']}, ")
        assert f"says {digests['v2']}: the row was changed outside the registry" in text
        refused = f"its row names {digests['v1']}, its registration \\(audit entry \\d+\\) recorded"
    else:
        v1 = tmp_path / "artifacts" / digests["v1"][:2] / digests["v1"]  # type: ignore[index]
        v2 = tmp_path / "artifacts" / digests["v2"][:2] / digests["v2"]  # type: ignore[index]
        v2.write_bytes(v1.read_bytes())
        refused = f"sha256 {digests['v2']}: the file in .* holds bytes whose sha256 is {digests['v1']}"
    with pytest.raises(DataError, match=r"^the artifact of version 'v2' does not match its recorded sha256"):
        model.load_version("v2")
    with pytest.raises(DataError, match=refused):
        model.load_version("v2")
    assert model.load_version("v1").version == "v1"  # the untouched version still loads


def test_a_kept_head_finds_the_last_entries_deleted_with_their_head(
    tmp_path: Path, db_url: str, pipeline: Pipeline
) -> None:
    """Deleting the last entry and its ``audit_heads`` row leaves a chain that verifies (it cannot know
    what it never held); the head hash an operator kept elsewhere is then not in it."""
    model = _two_versions(db_url, tmp_path, pipeline)
    model.promotion_policy("approval")
    found = model.verify_audit()
    ((chain, head),) = found["heads"].items()
    assert chain == "model:1" and head["hash"] == model.audit()[-1]["hash"]
    assert head["seq"] == found["entries"] == len(model.audit())
    assert model.verify_audit(head["hash"].upper())["ok"]
    earlier = model.audit()[-2]["hash"]
    assert model.verify_audit(earlier)["ok"]  # an older kept head is still in the chain
    _write(
        db_url,
        delete(AuditEntry).where(AuditEntry.seq == head["seq"], AuditEntry.chain == chain),
        delete(AuditHead).where(AuditHead.chain == chain),
    )
    assert model.verify_audit()["ok"]  # inherent: a chain stored beside its head
    broken = model.verify_audit(head["hash"])
    assert not broken["ok"]
    assert broken["problem"]["text"] == (
        f"the chain (chain model:1): the head hash given ({head['hash']}) is not in the chain, whose last "
        f"entry is #{head['seq'] - 1} ({earlier}): the entries from it on were deleted together with the "
        "chain's head row, or the hash is another chain's"
    )
    with pytest.raises(ParameterError, match="'head'"):
        model.verify_audit("abc")


def test_audit_cli_prints_the_head_and_checks_a_kept_one(tmp_path: Path, pipeline: Pipeline) -> None:
    url = lw_url(tmp_path)
    model = _two_versions(url, tmp_path, pipeline)
    db = str(tmp_path / "lw.db")
    ok = run_cli("audit", "verify", "credit", "--local", db)
    head = model.audit()[-1]
    assert ok.returncode == 0, ok.stderr
    assert f"; head of model:1: #{head['seq']} {head['hash']}" in ok.stdout
    again = run_cli("audit", "verify", "credit", "--head", head["hash"], "--local", db)
    assert again.returncode == 0, again.stderr
    _write(url, delete(AuditEntry).where(AuditEntry.id == head["id"]), delete(AuditHead))
    gone = run_cli("audit", "verify", "credit", "--head", head["hash"], "--local", db)
    assert gone.returncode == 1 and f"the head hash given ({head['hash']}) is not in the chain" in gone.stderr
    v1 = _version_id(url, "v1")
    _write(url, update(Alias).where(Alias.name == "champion").values(version_id=v1))
    moved = run_cli("audit", "verify", "credit", "--local", db)
    assert moved.returncode == 1
    assert "alias 'champion' (chain model:1): points at v1, but its last recorded move" in moved.stderr


def _logged(db_url: str, tmp_path: Path, pipeline: Pipeline) -> ModelHandle:
    """v1 served 50 events at 2026-12-01 09:00-09:49; v2 took champion later (now)."""
    model = _two_versions(db_url, tmp_path, pipeline)
    X, _ = applicants(50, 3)
    model.log(
        X.assign(
            id=[f"a{i}" for i in range(50)],
            ts=pd.Timestamp("2026-12-01 09:00", tz="UTC") + pd.to_timedelta(range(50), unit="min"),
            approved=pipeline.predict(X),
            p_approved=pipeline.predict_proba(X)[:, 1],
        ),
        version="v1",
    )
    return model


def test_history_says_what_the_events_around_a_time_show(
    tmp_path: Path, db_url: str, pipeline: Pipeline
) -> None:
    """The trial read "events served around then: none; the last one by -" although v1 had served
    earlier: none within the window is said as such, and the last event names its version and time."""
    model = _logged(db_url, tmp_path, pipeline)
    later = model.history(dt.datetime(2026, 12, 5, 9, tzinfo=dt.UTC))
    assert served_line(later) == "no events served within an hour either side of 2026-12-05T09:00:00+00:00"
    during = model.history(dt.datetime(2026, 12, 1, 9, 30, 30, tzinfo=dt.UTC))
    assert served_line(during) == (
        "events served within an hour either side: v1: 50; the last at or before then by v1 at "
        "2026-12-01T09:30:00+00:00"
    )
    before = model.history(dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC))
    assert served_line(before) == (
        "events served within an hour either side: v1: 30; none at or before 2026-12-01T08:30:00+00:00"
    )


def test_history_cli_wording(tmp_path: Path, pipeline: Pipeline) -> None:
    _logged(lw_url(tmp_path), tmp_path, pipeline)
    db = str(tmp_path / "lw.db")
    far = run_cli("history", "credit", "--at", "2026-12-05T09:00:00Z", "--local", db)
    assert far.returncode == 0, far.stderr
    assert "no events served within an hour either side of 2026-12-05T09:00:00+00:00" in far.stdout
    assert "the last one by -" not in far.stdout
    near = run_cli("history", "credit", "--at", "2026-12-01T09:10:00Z", "--local", db)
    assert "v1: 50; the last at or before then by v1 at 2026-12-01T09:10:00+00:00" in near.stdout


def test_a_rehash_is_the_stored_digest(tmp_path: Path, pipeline: Pipeline) -> None:
    from loopwise.registry.artifacts import ArtifactStore

    store = ArtifactStore(tmp_path / "a")
    data = b"x" * (3 * 2**20 + 5)  # more than one chunk
    stored = store.put(data)
    assert store.digest(stored.sha256) == stored.sha256 == hashlib.sha256(data).hexdigest()
