"""Aliases: named pointers to versions, and the history of their moves (decision 0024).

Each alias points at one version and each version holds at most one of its model's aliases (two unique
keys say so in the database). Moving an alias appends an ``alias_events`` row; "which version held
``champion`` at T" is the last move at or before T, read from those rows alone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loopwise.errors import ConflictError, NotFoundError, ParameterError
from loopwise.ingest import get_model
from loopwise.registry.audit import append
from loopwise.registry.versions import valid_name
from loopwise.store.tables import Alias, AliasEvent, Model
from loopwise.store.tables import ModelVersion as VersionRow
from loopwise.store.types import utcnow

#: The alias that serves: once held, it moves only through promotion, force or rollback.
GUARDED = "champion"


@dataclass(frozen=True)
class AliasMove:
    """One recorded move: ``alias`` went from ``from_version`` to ``to_version`` (None: it was unset)."""

    id: int
    alias: str
    from_version: str | None
    to_version: str | None
    actor: str
    at: dt.datetime
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AliasMove:
        at = d["at"]
        return cls(**{**d, "at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at})


def _move(
    s: Session,
    model_id: int,
    alias: str,
    old: str | None,
    new: str | None,
    actor: str,
    evidence: dict[str, Any],
    at: dt.datetime,
) -> AliasEvent:
    event = AliasEvent(
        model_id=model_id,
        alias=alias,
        from_version=old,
        to_version=new,
        actor=actor,
        at=at,
        evidence=evidence,
    )
    s.add(event)
    s.flush()  # its id is the audit entry's evidence
    append(
        s,
        model_id,
        actor,
        "alias.move",
        {"alias": alias, "from": old, "to": new, "alias_event": event.id, "evidence": evidence},
        at,
    )
    return event


def set_alias(
    s: Session,
    model_name: str,
    alias: str,
    version: str | None,
    *,
    actor: str,
    evidence: dict[str, Any] | None = None,
    promoted: bool = False,
) -> list[AliasMove]:
    """Point ``alias`` at ``version`` (None: unset it) and record the move with its ``evidence`` (JSON).

    A version holds one alias at a time: an alias it held before moves off it, recorded as its own move
    (evidence ``{"displaced_by": alias}``). Returns the moves made, none when the alias already points
    there. ``s`` is a write session.

    Once a version holds ``champion``, only promotion, a forced promotion or a rollback (``promoted=True``)
    moves, unsets or displaces it: a plain move would step around the gate (decision 0027).
    """
    valid_name("alias", alias)
    evidence = dict(evidence or {})
    try:
        json.dumps(evidence, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError("evidence", str(exc), "a JSON object (numbers, strings, lists, dicts)") from None
    model = get_model(s, model_name)
    # Lock the model's row: two moves of one model's aliases take turns (SQLite's writer lock does already).
    s.execute(select(Model.id).where(Model.id == model.id).with_for_update())
    current = s.get(Alias, (model.id, alias))
    old = s.scalar(select(VersionRow.name).where(VersionRow.id == current.version_id)) if current else None
    if old == version:
        return []
    if not promoted and alias == GUARDED and old is not None:
        if version is not None and s.scalar(_version_id(model.id, version)) is None:
            raise NotFoundError(f"model {model_name!r} has no version named {version!r}")
        raise ConflictError(
            f"{GUARDED!r} of model {model_name!r} is held by {old!r}: move it with promote "
            "(through the gate or an approval), force or rollback"
        )
    at = utcnow()
    moves: list[AliasEvent] = []
    if version is None:
        s.delete(current)
        moves.append(_move(s, model.id, alias, old, None, actor, evidence, at))
    else:
        target = s.scalar(
            select(VersionRow).where(VersionRow.model_id == model.id, VersionRow.name == version)
        )
        if target is None:
            raise NotFoundError(f"model {model_name!r} has no version named {version!r}")
        held = s.scalar(select(Alias).where(Alias.model_id == model.id, Alias.version_id == target.id))
        if held is not None and held.name == GUARDED and not promoted:
            raise ConflictError(
                f"version {version!r} holds {GUARDED!r} of model {model_name!r}: giving it {alias!r} would "
                f"take {GUARDED!r} off it; promote another version instead"
            )
        if held is not None:
            moves.append(_move(s, model.id, held.name, version, None, actor, {"displaced_by": alias}, at))
            s.delete(held)
            s.flush()
        if current is None:
            s.add(Alias(model_id=model.id, name=alias, version_id=target.id, updated_at=at))
        else:
            current.version_id, current.updated_at = target.id, at
        moves.append(_move(s, model.id, alias, old, version, actor, evidence, at))
    s.flush()
    return [_public(e) for e in moves]


def _version_id(model_id: int, version: str) -> Select[int]:
    return select(VersionRow.id).where(VersionRow.model_id == model_id, VersionRow.name == version)


def _public(e: AliasEvent) -> AliasMove:
    return AliasMove(e.id, e.alias, e.from_version, e.to_version, e.actor, e.at, dict(e.evidence or {}))


def alias_history(s: Session, model_name: str, alias: str | None = None) -> list[AliasMove]:
    """Every recorded move of ``alias`` (or of all the model's aliases), oldest first."""
    model = get_model(s, model_name)
    q = select(AliasEvent).where(AliasEvent.model_id == model.id)
    if alias is not None:
        q = q.where(AliasEvent.alias == alias)
    return [_public(e) for e in s.scalars(q.order_by(AliasEvent.at, AliasEvent.id))]


def version_at(s: Session, model_name: str, alias: str, when: dt.datetime) -> str | None:
    """The version ``alias`` pointed at, at time ``when`` (None: it pointed nowhere then)."""
    if when.tzinfo is None:
        raise ParameterError("when", when, "a timezone-aware datetime")
    last = last_move(s, get_model(s, model_name).id, alias, when)
    return None if last is None else last.to_version


def last_move(s: Session, model_id: int, alias: str, when: dt.datetime) -> AliasEvent | None:
    """The alias's last recorded move at or before ``when`` (None: it had not moved by then)."""
    return s.scalar(
        select(AliasEvent)
        .where(AliasEvent.model_id == model_id, AliasEvent.alias == alias, AliasEvent.at <= when)
        .order_by(AliasEvent.at.desc(), AliasEvent.id.desc())
        .limit(1)
    )


def aliases(s: Session, model_name: str) -> dict[str, str]:
    """The model's aliases now: alias -> version."""
    model = get_model(s, model_name)
    q = (
        select(Alias.name, VersionRow.name)
        .join(VersionRow, VersionRow.id == Alias.version_id)
        .where(Alias.model_id == model.id)
        .order_by(Alias.name)
    )
    return {str(a): str(v) for a, v in s.execute(q).all()}
