"""Several promotion requests waiting for one alias: the promotion that moves it (approved or forced) closes
the others as superseded, recorded with who and why in the row and the audit chain (decision 0044); a
request for another alias stays pending. Over real HTTP on loopback and through the local client, on SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.pipeline import Pipeline
from sqlalchemy import update
from tests._fixtures import Running
from tests._fixtures.registry import OPENED, SCHEMA, applicants, http_client

import loopwise as lw
from loopwise.errors import ConflictError
from loopwise.registry import RegistrySettings
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.tables import Promotion


def _scenario(first: Any, second: Any, admin: Any, pipeline: Pipeline) -> dict[str, Any]:
    """``first`` and ``second`` (maintainers, or local clients with different actors) each ask for a version
    to become champion; ``second``'s is approved by ``first``; then an admin forces another over a fresh
    request. Returns what the test compares."""
    X, _ = applicants(60, 3)
    m = admin.model("credit")
    for v in ("v1", "v2", "v3", "v4", "v5"):
        m.register_version(v, pipeline, sample=X.head(20))
    m.set_alias("champion", "v1")
    m.promotion_policy("approval")

    for_v2 = first.model("credit").promote("v2")
    for_v3 = second.model("credit").promote("v3")
    for_shadow = first.model("credit").promote("v4", alias="shadow")  # another alias: not touched
    assert [p.status for p in (for_v2, for_v3, for_shadow)] == ["pending"] * 3
    assert {p.id for p in m.promotions("pending")} == {for_v2.id, for_v3.id, for_shadow.id}

    done = first.model("credit").approve(for_v3.id)
    assert done.status == "approved" and done.superseded == [for_v2.id]
    assert m.aliases()["champion"] == "v3"
    closed = next(p for p in m.promotions() if p.id == for_v2.id)
    assert closed.status == "superseded"
    assert closed.decided_by == done.decided_by == for_v2.requested_by  # the approver closed it
    assert closed.decided_at is not None and closed.decided_at >= closed.requested_at
    assert closed.reason == f"superseded by promotion {for_v3.id} (approved): 'champion' moved to 'v3'"
    assert [p.id for p in m.promotions("superseded")] == [for_v2.id]
    assert [p.id for p in m.promotions("pending")] == [for_shadow.id]
    with pytest.raises(ConflictError, match=f"promotion request {for_v2.id} is superseded, not pending"):
        second.model("credit").approve(for_v2.id)

    # Asked again, the version gets a new request (against the new holder), which a forced promotion of
    # another version closes in turn, by the admin.
    again = first.model("credit").promote("v2")
    assert again.status == "pending" and again.id not in (for_v2.id, for_v3.id)
    forced = m.promote("v5", force=True, reason="v3 misprices the new product")
    assert forced.status == "forced" and forced.superseded == [again.id]
    closed_again = next(p for p in m.promotions() if p.id == again.id)
    assert closed_again.status == "superseded" and closed_again.decided_by == forced.decided_by
    assert closed_again.reason == f"superseded by promotion {forced.id} (forced): 'champion' moved to 'v5'"
    assert [p.id for p in m.promotions("pending")] == [for_shadow.id]
    # A rollback closes nothing.
    still = second.model("credit").promote("v2")
    m.rollback()
    assert [p.id for p in m.promotions("pending")] == [still.id, for_shadow.id]

    entries = [e for e in m.audit() if e["action"] == "promotion.supersede"]
    assert [(e["detail"]["promotion"], e["detail"]["superseded_by"], e["actor"]) for e in entries] == [
        (for_v2.id, for_v3.id, done.decided_by),
        (again.id, forced.id, forced.decided_by),
    ]
    assert entries[0]["detail"]["reason"] == closed.reason and entries[0]["detail"]["to_version"] == "v3"
    assert m.verify_audit()["ok"]
    return {"superseded": for_v2.id}


def _edit_reason(db_url: str, promotion: int) -> None:
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            s.execute(update(Promotion).where(Promotion.id == promotion).values(reason="never mind"))
    finally:
        engine.dispose()


def test_superseded_over_http(server: Running, pipeline: Pipeline) -> None:
    admin = http_client(server.url, server.admin_key)
    admin.register("credit", SCHEMA)
    alice, bob = (http_client(server.url, server.key("maintainer")) for _ in range(2))
    got = _scenario(alice, bob, admin, pipeline)
    # The supersede entry's digest covers the closed request's decision: an edited reason is named.
    _edit_reason(server.db_url, got["superseded"])
    found = admin.model("credit").verify_audit()
    assert not found["ok"] and f"promotion {got['superseded']}) was edited" in found["problem"]["text"]


def test_superseded_through_the_local_client(db_url: str, tmp_path: Path, pipeline: Pipeline) -> None:
    def local(actor: str) -> Any:
        client = lw.Client.local(
            db_url, actor=actor, registry=RegistrySettings(artifact_dir=tmp_path / "artifacts")
        )
        OPENED.append(client)
        return client

    admin = local("root")
    admin.register("credit", SCHEMA)
    got = _scenario(local("alice"), local("bob"), admin, pipeline)
    _edit_reason(db_url, got["superseded"])
    found = admin.model("credit").verify_audit()
    assert not found["ok"] and f"promotion {got['superseded']}) was edited" in found["problem"]["text"]
