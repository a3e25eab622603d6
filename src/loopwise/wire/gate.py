"""The gate's, promotion's and audit trail's requests and answers (docs/registry.md; decisions 0027, 0028)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from loopwise.wire.registry import NAME, AliasMoveOut, Strict


class RunGate(Strict):
    """Run a gate suite on the version against ``champion`` (a version or an alias) over the events logged
    in [start, end) (times without a zone are UTC). ``suite``: YAML text or an object as docs/checks.md
    writes it; none: the ``challenger_gate`` preset."""

    suite: str | dict[str, Any] | None = None
    champion: str = Field("champion", pattern=NAME)
    start: dt.datetime
    end: dt.datetime


class GateOut(BaseModel):
    """A stored gate result: ``status`` pass, fail or inconclusive; ``inputs`` (window, versions, paired
    and labelled events, the evaluation read); ``checks`` (every check's outcome); ``comparisons`` (the
    tested differences with their intervals)."""

    id: int
    model: str
    version: str
    champion: str
    status: Literal["pass", "fail", "inconclusive"]
    verdict: str
    needed: int | None
    inputs: dict[str, Any]
    checks: dict[str, Any]
    comparisons: list[dict[str, Any]]
    suite: dict[str, Any]
    actor: str
    created_at: dt.datetime


class GateList(BaseModel):
    gates: list[GateOut]


class Promote(Strict):
    """Promote the version to ``alias`` as the model's promotion policy allows."""

    alias: str = Field("champion", pattern=NAME)


class Force(Strict):
    """An admin's promotion without the gate or an approval; ``reason`` is required and recorded."""

    alias: str = Field("champion", pattern=NAME)
    reason: str = Field(min_length=1, max_length=2000)


class Approve(Strict):
    """Approve a pending promotion; ``comment`` is recorded with the approval."""

    comment: str | None = Field(None, max_length=2000)


class Rollback(Strict):
    """Move ``alias`` back to the version that held it before its last move."""

    alias: str = Field("champion", pattern=NAME)
    reason: str | None = Field(None, max_length=2000)


class PromotionOut(BaseModel):
    """A promotion: ``pending`` (waiting for another maintainer's or admin's approval), ``promoted`` (the
    gate allowed it), ``approved``, ``forced`` or ``superseded`` (closed unapproved when another promotion
    moved the alias; ``reason`` names it); ``moves``: the alias moves it made; ``superseded``: the pending
    requests for the alias it closed."""

    id: int
    model: str
    version: str
    alias: str
    status: Literal["pending", "promoted", "approved", "forced", "superseded"]
    gate_result: int | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    moves: list[AliasMoveOut]
    superseded: list[int] = []


class PromotionList(BaseModel):
    promotions: list[PromotionOut]


class PolicyBody(Strict):
    """What a promotion needs: ``gate`` (a passing gate result), ``gate+approval`` (and an approval), or
    ``approval`` (an approval alone)."""

    mode: Literal["gate", "gate+approval", "approval"]


class HistoryOut(BaseModel):
    """What held ``alias`` at ``at``; who moved it there (``move``, ``promoted_by``); the promotion and gate
    result that allowed it; the events served around then (``served`` per version, the last ``events``)."""

    model: str
    alias: str
    at: dt.datetime
    version: str | None
    promoted_by: str | None
    move: AliasMoveOut | None
    promotion: dict[str, Any] | None
    gate_result: dict[str, Any] | None
    served: dict[str, int]
    served_version: str | None
    events: list[dict[str, Any]]


class AuditEntryOut(BaseModel):
    """One audit entry with its place in the model's hash chain (``seq``, ``prev_hash``, ``hash``)."""

    id: int
    at: str
    actor: str
    action: str
    model: str | None
    model_id: int | None
    detail: dict[str, Any]
    chain: str | None
    seq: int | None
    prev_hash: str | None
    hash: str | None


class AuditList(BaseModel):
    entries: list[AuditEntryOut]


class VerificationOut(BaseModel):
    """Whether the chain is intact; when not, the first entry that breaks it (``problem.text`` says how)."""

    ok: bool
    chains: int
    entries: int
    #: Each chain's last entry: ``{"seq": n, "hash": h}`` (the hash to keep elsewhere).
    heads: dict[str, dict[str, Any]] = {}
    problem: dict[str, Any] | None
