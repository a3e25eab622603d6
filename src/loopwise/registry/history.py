"""What served at a time, and on what evidence: the auditor's one query (decision 0027).

``history_at(model, T)`` reads the alias's moves (the version that held ``champion`` at T, who moved it
there, with which evidence), follows the evidence to the promotion and the gate result that allowed it, and
reads the events logged around T with the versions they carry: what was meant to serve and what did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import NotFoundError, ParameterError
from loopwise.ingest import get_model
from loopwise.registry.aliases import AliasMove, last_move
from loopwise.registry.gate import gate_result
from loopwise.registry.promotion import promotion
from loopwise.registry.served import served
from loopwise.store.tables import Event

#: Events listed around the time asked (the last ones at or before it).
EVENTS = 5


@dataclass(frozen=True)
class History:
    """The version ``alias`` pointed at, at ``at``; the move that put it there (who, when, evidence); the
    promotion and gate result that allowed it (None when it was moved by hand); the events served around
    ``at``: counts per version in [at - around, at + around), and the last few at or before ``at``."""

    model: str
    alias: str
    at: dt.datetime
    version: str | None
    move: AliasMove | None
    promotion: dict[str, Any] | None
    gate_result: dict[str, Any] | None
    served: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def promoted_by(self) -> str | None:
        return None if self.move is None else self.move.actor

    @property
    def served_version(self) -> str | None:
        """The version the last event at or before ``at`` carries (what actually served then)."""
        return self.events[0]["version"] if self.events else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "at": self.at.isoformat(),
            "version": self.version,
            "promoted_by": self.promoted_by,
            "move": None if self.move is None else self.move.to_dict(),
            "promotion": self.promotion,
            "gate_result": self.gate_result,
            "served": self.served,
            "served_version": self.served_version,
            "events": self.events,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        move = d.get("move")
        return cls(
            model=d["model"],
            alias=d["alias"],
            at=dt.datetime.fromisoformat(d["at"]) if isinstance(d["at"], str) else d["at"],
            version=d.get("version"),
            move=None if move is None else AliasMove.from_dict(move),
            promotion=d.get("promotion"),
            gate_result=d.get("gate_result"),
            served=dict(d.get("served") or {}),
            events=list(d.get("events") or []),
        )


def history_at(
    s: Session,
    model_name: str,
    at: dt.datetime,
    alias: str = "champion",
    around: dt.timedelta = dt.timedelta(hours=1),
) -> History:
    """What held ``alias`` at ``at``, who put it there on what evidence, and what the events say served."""
    if at.tzinfo is None:
        raise ParameterError("at", at, "a timezone-aware datetime")
    if around <= dt.timedelta(0):
        raise ParameterError("around", around, "a positive time span")
    try:
        lo, hi = at - around, at + around
    except OverflowError:
        raise ParameterError("at", at.isoformat(), "a time at least `around` inside years 1-9999") from None
    model = get_model(s, model_name)
    last = last_move(s, model.id, alias, at)
    move = None
    if last is not None and last.to_version is not None:
        move = AliasMove(
            last.id,
            last.alias,
            last.from_version,
            last.to_version,
            last.actor,
            last.at,
            dict(last.evidence or {}),
        )
    found_promotion = found_gate = None
    if move is not None:
        evidence = move.evidence
        if isinstance(evidence.get("promotion"), int):
            try:
                found_promotion = promotion(s, model_name, evidence["promotion"]).to_dict()
            except NotFoundError:
                found_promotion = {"id": evidence["promotion"], "missing": True}
        if isinstance(evidence.get("gate_result"), int):
            try:
                g = gate_result(s, model_name, evidence["gate_result"]).to_dict()
                found_gate = {
                    k: g[k]
                    for k in (
                        "id",
                        "version",
                        "champion",
                        "status",
                        "verdict",
                        "inputs",
                        "comparisons",
                        "created_at",
                        "actor",
                    )
                }
            except NotFoundError:
                found_gate = {"id": evidence["gate_result"], "missing": True}
    recent = s.execute(
        select(Event.event_id, Event.ts, Event.version)
        .where(
            Event.model_id == model.id,
            Event.bucket >= lo.replace(minute=0, second=0, microsecond=0),
            Event.bucket <= at,
            Event.ts <= at,
            Event.ts > lo,
        )
        .order_by(Event.ts.desc(), Event.event_id.desc())
        .limit(EVENTS)
    ).all()
    return History(
        model=model_name,
        alias=alias,
        at=at,
        version=None if move is None else move.to_version,
        move=move,
        promotion=found_promotion,
        gate_result=found_gate,
        served=served(s, model_name, lo, hi),
        events=[{"event_id": e, "ts": t.isoformat(), "version": v} for e, t, v in recent],
    )
