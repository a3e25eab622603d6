"""Promotion with approval, force and rollback over real HTTP (roles enforced by the server), and the audit
chain: intact after real registry events, broken (and named) by an edited or deleted row, unforked by
concurrent appends."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sqlalchemy import delete, select, update
from tests._fixtures import Running, run_cli
from tests._fixtures.registry import SCHEMA, applicants, http_client, lw_url, open_model

from loopwise.errors import ConflictError, ForbiddenError, ParameterError
from loopwise.registry.audit import append, verify
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.tables import AuditEntry, AuditHead


def test_approval_force_and_rollback_over_http(server: Running, tmp_path: Path, pipeline: Pipeline) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    alice, bob = (http_client(server.url, server.key("maintainer")) for _ in range(2))
    viewer = http_client(server.url, server.key("viewer"))
    X, _ = applicants(100, 2)
    m = admin.model("credit")
    for v in ("v1", "v2", "v3"):
        m.register_version(v, pipeline, sample=X.head(20))
    m.set_alias("champion", "v1")

    assert m.promotion_policy("gate+approval") == "gate+approval"
    with pytest.raises(ForbiddenError):
        alice.model("credit").promotion_policy("approval")  # an admin's decision
    with pytest.raises(ConflictError, match="no gate result"):
        alice.model("credit").promote("v2")  # the gate comes first under this policy
    assert m.promotion_policy("approval") == "approval"

    # The refusal names what was asked, not the policy behind it (the trial read "may not manage").
    refused = (
        r"role 'viewer' may not promote a version \(POST /v1/models/credit/versions/v2/promote\): it needs"
    )
    with pytest.raises(ForbiddenError, match=refused + " the role admin or maintainer$"):
        viewer.model("credit").promote("v2")
    asked = alice.model("credit").promote("v2")
    assert asked.status == "pending" and asked.moves == []
    assert m.aliases() == {"champion": "v1"}
    with pytest.raises(ForbiddenError, match="another maintainer or admin"):
        alice.model("credit").approve(asked.id)
    with pytest.raises(ForbiddenError):
        viewer.model("credit").approve(asked.id)
    done = bob.model("credit").approve(asked.id)
    assert done.status == "approved" and done.decided_by.startswith("key:")
    assert [(mv.alias, mv.from_version, mv.to_version) for mv in done.moves] == [("champion", "v1", "v2")]
    assert done.moves[0].evidence["promotion"] == asked.id
    with pytest.raises(ConflictError, match="approved, not pending"):
        bob.model("credit").approve(asked.id)

    # Force: an admin's, with a reason; without one it is refused, by the SDK and by the server.
    with pytest.raises(ParameterError):
        m.promote("v3", force=True)
    r = httpx.post(
        f"{server.url}/v1/models/credit/versions/v3/force",
        json={"reason": ""},
        headers={"Authorization": f"Bearer {server.admin_key}"},
    )
    assert r.status_code == 422 and r.json()["type"] == "ParameterError"
    with pytest.raises(
        ForbiddenError, match=r"role 'maintainer' may not force a promotion .* the role admin$"
    ):
        alice.model("credit").promote("v3", force=True, reason="in a hurry")
    assert m.aliases() == {"champion": "v2"}
    forced = m.promote("v3", force=True, reason="v2 fails on new products")
    assert forced.status == "forced" and forced.moves[-1].evidence["forced"] is True

    back = alice.model("credit").rollback()
    assert [(mv.from_version, mv.to_version) for mv in back if mv.alias == "champion"] == [("v3", "v2")]
    assert m.aliases() == {"champion": "v2"}
    statuses = [p.status for p in m.promotions()]
    assert statuses == ["forced", "approved"]

    actions = [e["action"] for e in m.audit()]
    for action in (
        "promotion.request",
        "promotion.approve",
        "promotion.force",
        "promotion.rollback",
        "alias.move",
    ):
        assert action in actions
    assert m.verify_audit()["ok"]


def _tamper(db_url: str, how: str) -> int:
    """Edit or delete one chained audit row straight in the database; returns its id."""
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            ids = list(
                s.scalars(select(AuditEntry.id).where(AuditEntry.chain.is_not(None)).order_by(AuditEntry.id))
            )
            target = ids[len(ids) // 2] if how != "last" else ids[-1]
            if how == "edit":
                s.execute(update(AuditEntry).where(AuditEntry.id == target).values(actor="mallory"))
            else:
                s.execute(delete(AuditEntry).where(AuditEntry.id == target))
            return target
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["edit", "delete", "last"])
def test_an_edited_or_deleted_audit_row_is_named(
    tmp_path: Path, db_url: str, pipeline: Pipeline, how: str
) -> None:
    model = open_model(db_url, tmp_path / "artifacts")
    X, _ = applicants(100, 2)
    model.register_version("v1", pipeline, sample=X.head(20))
    model.register_version("v2", pipeline, sample=X.head(20))
    model.set_alias("champion", "v1")
    model.promote("v2", force=True, reason="test")
    model.rollback()
    chained = [e for e in model.audit() if e["chain"] is not None]
    assert model.verify_audit() == {
        "ok": True,
        "chains": 1,
        "entries": len(chained),
        "heads": {"model:1": {"seq": len(chained), "hash": chained[-1]["hash"]}},
        "problem": None,
    }
    entries = {e["id"]: e for e in model.audit()}
    target = _tamper(db_url, how)
    found = model.verify_audit()
    assert not found["ok"]
    problem = found["problem"]
    assert problem["seq"] == entries[target]["seq"]
    if how == "edit":
        assert problem["entry_id"] == target and "edited" in problem["text"]
    else:
        assert problem["entry_id"] is None and "deleted" in problem["text"]
        assert f"#{entries[target]['seq']}" in problem["text"]


def test_audit_cli_verify_and_export(tmp_path: Path, pipeline: Pipeline) -> None:
    url = lw_url(tmp_path)
    model = open_model(url, tmp_path / "artifacts")
    X, _ = applicants(100, 2)
    model.register_version("v1", pipeline, sample=X.head(20))
    model.set_alias("champion", "v1")
    db = str(tmp_path / "lw.db")

    ok = run_cli("audit", "verify", "credit", "--local", db)
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout, ok.stderr
    exported = run_cli("audit", "export", "credit", "-o", str(tmp_path / "a.jsonl"), "--local", db)
    assert exported.returncode == 0, exported.stderr
    lines = [pd.read_json(tmp_path / "a.jsonl", lines=True)]
    assert list(lines[0]["action"]) == [e["action"] for e in model.audit()]
    target = _tamper(url, "edit")
    bad = run_cli("audit", "verify", "credit", "--local", db)
    assert bad.returncode == 1 and f"entry {target} " in bad.stderr
    missing = run_cli("audit", "verify", "nope", "--local", db)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_concurrent_appends_never_fork_a_chain(db_url: str) -> None:
    engine = make_engine(db_url)
    from loopwise.store import ensure_schema

    ensure_schema(engine)
    sessions = session_factory(engine)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(15):
                with transaction(sessions) as s:
                    append(
                        s,
                        None,
                        f"writer-{i}",
                        "test.append",
                        {"writer": i, "n": j, "x": np.float64(0.5).item()},
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        with session_factory(engine, readonly=True)() as s:
            seqs = list(
                s.scalars(select(AuditEntry.seq).where(AuditEntry.chain == "global").order_by(AuditEntry.seq))
            )
            assert seqs == list(range(1, 61))
            assert s.get(AuditHead, "global").seq == 60  # type: ignore[union-attr]
            assert verify(s).ok
    finally:
        engine.dispose()


@pytest.mark.parametrize("record", ["alias_event", "gate_result", "promotion"])
def test_an_edited_evidence_record_is_named(
    tmp_path: Path, db_url: str, pipeline: Pipeline, record: str
) -> None:
    """The audit entry of an alias move and of a gate result holds what the record said: editing the
    record (the history of what served when, a gate's outcome) fails verification, naming both."""
    from loopwise.store.tables import AliasEvent, GateResult, Promotion

    model = open_model(db_url, tmp_path / "artifacts")
    X, _ = applicants(200, 2)
    model.register_version("v1", pipeline, sample=X.head(20))
    model.register_version("v2", pipeline, sample=X.head(20))
    model.set_alias("champion", "v1")
    model.log(
        X.assign(
            id=[f"a{i}" for i in range(200)],
            ts=pd.Timestamp("2026-12-01 09:00", tz="UTC"),
            approved=pipeline.predict(X),
            p_approved=pipeline.predict_proba(X)[:, 1],
        ),
        version="v1",
    )
    model.evaluate_version("v2", start="2026-12-01", end="2026-12-02")
    gate = model.gate("v2", start="2026-12-01", end="2026-12-02")
    forced = model.promote("v2", force=True, reason="the committee said so")
    assert model.verify_audit()["ok"]
    # Every entry is in the chain: the model's registration and the promotion's decision included.
    assert all(e["chain"] is not None for e in model.audit())
    assert {"model.register", "promotion.force"} <= {e["action"] for e in model.audit()}
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            if record == "alias_event":
                target = s.scalars(select(AliasEvent.id).order_by(AliasEvent.id)).first()
                s.execute(update(AliasEvent).where(AliasEvent.id == target).values(to_version="v2"))
            elif record == "gate_result":
                target = gate.id
                s.execute(update(GateResult).where(GateResult.id == target).values(status="pass"))
            else:  # who decided the promotion is what an auditor asks first
                target = forced.id
                s.execute(update(Promotion).where(Promotion.id == target).values(decided_by="mallory"))
    finally:
        engine.dispose()
    found = model.verify_audit()
    assert not found["ok"]
    label = {"alias_event": "alias event", "gate_result": "gate result", "promotion": "promotion"}[record]
    assert f"({label} {target}) was edited" in found["problem"]["text"]
    entry = next(
        e
        for e in model.audit()
        if e["detail"].get(record) == target
        and e["action"] in ("alias.move", "gate.result", "promotion.force")
    )
    assert found["problem"]["entry_id"] == entry["id"]
