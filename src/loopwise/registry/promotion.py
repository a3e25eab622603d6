"""Promotion: moving an alias onto a version only through the gate, an approval, or an admin's forced and
reasoned decision; rollback in one call (decision 0027).

A model's promotion policy says what a promotion needs:

- ``gate`` (the default): the latest GateResult of the version passed, against the version that holds the
  alias now;
- ``gate+approval``: that, and then another maintainer's or admin's approval;
- ``approval``: an approval alone (the latest gate result, if any, is recorded as evidence).

Every promotion is a ``promotions`` row (``pending``, ``promoted``, ``approved``, ``forced`` or
``superseded``), every alias move goes through ``aliases.set_alias`` (whose history stays the record of
what served when) with the promotion's and the gate's ids as evidence, and every step is appended to the
audit chain.

A promotion that moves an alias (promoted by the gate, approved, forced) closes every other request pending
for that alias as ``superseded`` (decision 0044): each was asked against the version that held the alias
then, and an approver must not be left to approve one on a premise that no longer holds. The closed
request records who closed it, when, and why (the promotion that moved the alias), and the audit chain gets
a ``promotion.supersede`` entry for each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import ConflictError, ForbiddenError, NotFoundError, ParameterError
from loopwise.ingest import get_model
from loopwise.registry.aliases import AliasMove, alias_history, aliases, set_alias
from loopwise.registry.audit import append, promotion_record, record_digest
from loopwise.registry.gate import GateResult, gate_results
from loopwise.registry.versions import describe, valid_name
from loopwise.store.tables import Model, Promotion, PromotionPolicy
from loopwise.store.types import utcnow

MODES = ("gate", "gate+approval", "approval")
STATUSES = ("pending", "promoted", "approved", "forced", "superseded")


@dataclass(frozen=True)
class PromotionRequest:
    """A promotion of ``version`` to ``alias``: who asked, on which gate result, who decided, the moves."""

    id: int
    model: str
    version: str
    alias: str
    status: str
    gate_result: int | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    moves: list[AliasMove]
    #: The pending requests for the same alias this promotion closed as ``superseded`` (their ids).
    superseded: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["requested_at"] = self.requested_at.isoformat()
        out["decided_at"] = None if self.decided_at is None else self.decided_at.isoformat()
        out["moves"] = [m.to_dict() for m in self.moves]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PromotionRequest:
        def t(v: Any) -> Any:
            return dt.datetime.fromisoformat(v) if isinstance(v, str) else v

        return cls(
            **{
                **d,
                "requested_at": t(d["requested_at"]),
                "decided_at": t(d.get("decided_at")),
                "moves": [AliasMove.from_dict(m) for m in d.get("moves", [])],
                "superseded": list(d.get("superseded") or []),
            }
        )


def _public(
    model_name: str,
    row: Promotion,
    moves: list[AliasMove] | None = None,
    superseded: list[int] | None = None,
) -> PromotionRequest:
    return PromotionRequest(
        row.id,
        model_name,
        row.version,
        row.alias,
        row.status,
        row.gate_result_id,
        row.requested_by,
        row.requested_at,
        row.decided_by,
        row.decided_at,
        row.reason,
        moves or [],
        superseded or [],
    )


def _lock(s: Session, model_id: int) -> None:
    # One promotion of a model at a time: its checks read state (the gate, the alias) that a move changes.
    s.execute(select(Model.id).where(Model.id == model_id).with_for_update())


def policy(s: Session, model_name: str) -> str:
    """The model's promotion policy (``gate`` when none was set)."""
    row = s.get(PromotionPolicy, get_model(s, model_name).id)
    return "gate" if row is None else row.mode


def set_policy(s: Session, model_name: str, mode: str, *, actor: str) -> str:
    """Set what a promotion of the model's versions needs: ``gate``, ``gate+approval`` or ``approval``."""
    if mode not in MODES:
        raise ParameterError("mode", mode, MODES)
    model = get_model(s, model_name)
    row = s.get(PromotionPolicy, model.id)
    old = None if row is None else row.mode
    if row is None:
        s.add(PromotionPolicy(model_id=model.id, mode=mode, updated_by=actor, updated_at=utcnow()))
    else:
        row.mode, row.updated_by, row.updated_at = mode, actor, utcnow()
    s.flush()
    append(s, model.id, actor, "promotion.policy", {"from": old, "to": mode})
    return mode


def _passing_gate(s: Session, model_name: str, version: str, alias: str) -> GateResult:
    """The version's latest gate result, when it passed against the version that holds ``alias`` now."""
    found = gate_results(s, model_name, version)
    if not found:
        raise ConflictError(
            f"version {version!r} of model {model_name!r} has no gate result: run the gate first "
            f"(loopwise versions gate {model_name} {version} ...)"
        )
    latest = found[0]
    if not latest.passed:
        raise ConflictError(
            f"the latest gate result of version {version!r} (id {latest.id}) is {latest.verdict}: "
            "it cannot be promoted on it"
        )
    holder = aliases(s, model_name).get(alias)
    if holder is not None and holder != latest.champion:
        raise ConflictError(
            f"gate result {latest.id} compared {version!r} with {latest.champion!r}, but {alias!r} is now "
            f"{holder!r}: run the gate against it (champion={alias!r}; CLI --champion {alias})"
        )
    return latest


def _gate_evidence(s: Session, model_name: str, version: str, alias: str) -> GateResult | None:
    """Under the ``approval`` policy, the gate result an approver is shown: the version's latest, when it
    compared the version with what holds ``alias`` now (a gate against the champion says nothing about
    replacing another alias's holder), else none."""
    found = gate_results(s, model_name, version)
    if not found:
        return None
    holder = aliases(s, model_name).get(alias)
    return found[0] if holder is None or holder == found[0].champion else None


def _digest(row: Promotion, decided: bool) -> str:
    """The digest a promotion's audit entry carries (``audit verify`` recomputes it from the row)."""
    return record_digest(promotion_record(row, decided))


def _move(
    s: Session, model_name: str, row: Promotion, actor: str, evidence: dict[str, Any]
) -> list[AliasMove]:
    moves = set_alias(
        s,
        model_name,
        row.alias,
        row.version,
        actor=actor,
        evidence={"promotion": row.id, "gate_result": row.gate_result_id, **evidence},
        promoted=True,
    )
    if not moves:
        raise ConflictError(f"{row.alias!r} already points at {row.version!r}")
    return moves


def _supersede(s: Session, row: Promotion, actor: str) -> list[int]:
    """Close every other request pending for ``row``'s alias as superseded by ``row`` (which has just moved
    the alias): decided by ``actor``, now, with the reason naming ``row``; one audit entry each."""
    waiting = s.scalars(
        select(Promotion)
        .where(
            Promotion.model_id == row.model_id,
            Promotion.alias == row.alias,
            Promotion.status == "pending",
            Promotion.id != row.id,
        )
        .order_by(Promotion.id)
    ).all()
    now = utcnow()
    for other in waiting:
        other.status, other.decided_by, other.decided_at = "superseded", actor, now
        other.reason = (
            f"superseded by promotion {row.id} ({row.status}): {row.alias!r} moved to {row.version!r}"
        )
    s.flush()
    for other in waiting:
        append(
            s,
            row.model_id,
            actor,
            "promotion.supersede",
            {
                "promotion": other.id,
                "version": other.version,
                "alias": other.alias,
                "requested_by": other.requested_by,
                "superseded_by": row.id,
                "to_version": row.version,
                "reason": other.reason,
                "digest": _digest(other, True),
            },
        )
    return [other.id for other in waiting]


def promote(
    s: Session, model_name: str, version: str, alias: str = "champion", *, actor: str
) -> PromotionRequest:
    """Promote ``version`` to ``alias`` as the model's policy allows: moved now when the gate passed (policy
    ``gate``), else a pending request for another maintainer or admin to approve. While a request for the
    same version and alias is pending, asking again returns it (idempotent, decision 0038): one request
    per promotion waits for approval, whoever asked. ``s``: a write session."""
    valid_name("alias", alias)
    model = get_model(s, model_name)
    _lock(s, model.id)
    describe(s, model_name, version)
    if aliases(s, model_name).get(alias) == version:
        raise ConflictError(f"{alias!r} already points at {version!r}")
    mode = policy(s, model_name)
    if mode != "gate":
        waiting = s.scalar(
            select(Promotion)
            .where(
                Promotion.model_id == model.id,
                Promotion.version == version,
                Promotion.alias == alias,
                Promotion.status == "pending",
            )
            .order_by(Promotion.id.desc())
            .limit(1)
        )
        if waiting is not None:
            # Asked again while a request waits: that request is the answer (a retry, or a second person
            # asking, must not leave several for approvers to sort out); nothing new is recorded.
            return _public(model_name, waiting)
    gate: GateResult | None = None
    if mode in ("gate", "gate+approval"):
        gate = _passing_gate(s, model_name, version, alias)
    else:
        gate = _gate_evidence(s, model_name, version, alias)
    pending = mode != "gate"
    row = Promotion(
        model_id=model.id,
        version=version,
        alias=alias,
        status="pending" if pending else "promoted",
        gate_result_id=None if gate is None else gate.id,
        requested_by=actor,
        requested_at=utcnow(),
        decided_by=None if pending else "gate",
        decided_at=None if pending else utcnow(),
    )
    s.add(row)
    s.flush()
    detail = {"promotion": row.id, "version": version, "alias": alias, "gate_result": row.gate_result_id}
    append(s, model.id, actor, "promotion.request", {**detail, "policy": mode, "digest": _digest(row, False)})
    if pending:
        return _public(model_name, row)
    moves = _move(s, model_name, row, actor, {"policy": mode})
    done = {**detail, "alias_events": [m.id for m in moves], "digest": _digest(row, True)}
    append(s, model.id, actor, "promotion.promote", done)
    return _public(model_name, row, moves, _supersede(s, row, actor))


def approve(
    s: Session, model_name: str, request_id: int, *, actor: str, comment: str | None = None
) -> PromotionRequest:
    """Approve a pending promotion and move the alias. The requester cannot approve their own; under
    ``gate+approval`` the version's latest gate result must still pass against the alias's holder.
    ``comment`` is recorded with the approval."""
    model = get_model(s, model_name)
    _lock(s, model.id)
    row = s.get(Promotion, request_id)
    if row is None or row.model_id != model.id:
        raise NotFoundError(f"model {model_name!r} has no promotion request {request_id}")
    if row.status != "pending":
        raise ConflictError(f"promotion request {request_id} is {row.status}, not pending")
    if actor == row.requested_by:
        raise ForbiddenError(
            f"promotion request {request_id} was made by {actor}: another maintainer or admin must approve it"
        )
    mode = policy(s, model_name)
    if mode == "gate+approval":
        gate = _passing_gate(s, model_name, row.version, row.alias)
        row.gate_result_id = gate.id
    row.status, row.decided_by, row.decided_at = "approved", actor, utcnow()
    s.flush()
    moves = _move(s, model_name, row, actor, {"approved_by": actor, "requested_by": row.requested_by})
    append(
        s,
        model.id,
        actor,
        "promotion.approve",
        {
            "promotion": row.id,
            "version": row.version,
            "alias": row.alias,
            "requested_by": row.requested_by,
            "gate_result": row.gate_result_id,
            "comment": comment,
            "alias_events": [m.id for m in moves],
            "digest": _digest(row, True),
        },
    )
    return _public(model_name, row, moves, _supersede(s, row, actor))


def force(
    s: Session, model_name: str, version: str, alias: str = "champion", *, reason: str, actor: str
) -> PromotionRequest:
    """An admin's promotion without the gate or an approval: ``reason`` is required and recorded, and the
    promotion is marked forced. The caller checks the admin role (the server's ``admin`` policy)."""
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError("reason", reason, "a reason for forcing the promotion (it is recorded)")
    valid_name("alias", alias)
    model = get_model(s, model_name)
    _lock(s, model.id)
    describe(s, model_name, version)
    found = gate_results(s, model_name, version)
    row = Promotion(
        model_id=model.id,
        version=version,
        alias=alias,
        status="forced",
        gate_result_id=found[0].id if found else None,
        requested_by=actor,
        requested_at=utcnow(),
        decided_by=actor,
        decided_at=utcnow(),
        reason=reason.strip()[:2000],
    )
    s.add(row)
    s.flush()
    moves = _move(s, model_name, row, actor, {"forced": True, "reason": row.reason})
    append(
        s,
        model.id,
        actor,
        "promotion.force",
        {
            "promotion": row.id,
            "version": version,
            "alias": alias,
            "reason": row.reason,
            "gate_result": row.gate_result_id,
            "alias_events": [m.id for m in moves],
            "digest": _digest(row, True),
        },
    )
    return _public(model_name, row, moves, _supersede(s, row, actor))


def rollback(
    s: Session, model_name: str, alias: str = "champion", *, actor: str, reason: str | None = None
) -> list[AliasMove]:
    """Move ``alias`` back to the version that held it before its last move, in one call (a second rollback
    undoes the first)."""
    model = get_model(s, model_name)
    _lock(s, model.id)
    moves = alias_history(s, model_name, alias)
    if not moves or moves[-1].to_version is None:
        raise ConflictError(f"{alias!r} of model {model_name!r} points at no version: nothing to roll back")
    last = moves[-1]
    if last.from_version is None:
        raise ConflictError(
            f"{alias!r} held no version before {last.to_version!r}: there is nothing to roll back to"
        )
    holder = aliases(s, model_name).get("champion")
    if alias != "champion" and holder is not None and holder == last.from_version:
        # Giving the alias back would take champion off its version: a way round the promotion policy.
        raise ConflictError(
            f"rolling {alias!r} back to {last.from_version!r} would take 'champion' off it: move champion "
            "first, through promotion or a rollback of champion"
        )
    evidence: dict[str, Any] = {"rollback": True, "from": last.to_version, "undoes": last.id}
    if reason:
        evidence["reason"] = reason[:2000]
    done = set_alias(s, model_name, alias, last.from_version, actor=actor, evidence=evidence, promoted=True)
    append(
        s,
        model.id,
        actor,
        "promotion.rollback",
        {
            "alias": alias,
            "from": last.to_version,
            "to": last.from_version,
            "undoes": last.id,
            "reason": evidence.get("reason"),
            "alias_events": [m.id for m in done],
        },
    )
    return done


def promotions(s: Session, model_name: str, status: str | None = None) -> list[PromotionRequest]:
    """The model's promotions (of one status), newest first."""
    if status is not None and status not in STATUSES:
        raise ParameterError("status", status, STATUSES)
    model = get_model(s, model_name)
    q = select(Promotion).where(Promotion.model_id == model.id)
    if status is not None:
        q = q.where(Promotion.status == status)
    return [_public(model_name, r) for r in s.scalars(q.order_by(Promotion.id.desc()))]


def promotion(s: Session, model_name: str, request_id: int) -> PromotionRequest:
    model = get_model(s, model_name)
    row = s.get(Promotion, request_id)
    if row is None or row.model_id != model.id:
        raise NotFoundError(f"model {model_name!r} has no promotion request {request_id}")
    return _public(model_name, row)
