"""Reading and verifying the tamper-evident audit log (decision 0028); entries are appended through
``loopwise.store.audit`` (``append``, re-exported here), which describes the chain.

``verify`` recomputes every entry's hash and link and checks each chain's head, and, for the entries that
stand for a stored record (an alias move, a gate result, a promotion), that the record still says what the
entry says. ``entries`` is what ``loopwise audit export`` writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest import get_model
from loopwise.store.audit import GENESIS, append, append_many, canonical_json, chain_of, entry_hash
from loopwise.store.audit import utc_text as _time
from loopwise.store.tables import AuditEntry, AuditHead, Model

__all__ = ["GENESIS", "append", "append_many", "chain_of", "entries", "entry_hash", "verify"]


@dataclass(frozen=True)
class Problem:
    """The first break found in a chain: which entry (its id and number), and what is wrong."""

    chain: str
    seq: int
    entry_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"entry {self.entry_id}" if self.entry_id is not None else "an entry"
        return f"{where} (#{self.seq} of chain {self.chain}): {self.problem}"


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the chains and entries checked, and the first problem (None: intact)."""

    chains: int
    entries: int
    problem: Problem | None = None
    heads: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        p = self.problem
        return {
            "ok": self.ok,
            "chains": self.chains,
            "entries": self.entries,
            "problem": None
            if p is None
            else {
                "chain": p.chain,
                "seq": p.seq,
                "entry_id": p.entry_id,
                "problem": p.problem,
                "text": str(p),
            },
        }


def _chains(s: Session, model_name: str | None) -> list[str]:
    if model_name is not None:
        return [chain_of(get_model(s, model_name).id)]
    heads = set(s.scalars(select(AuditHead.chain)))
    logged = set(s.scalars(select(AuditEntry.chain).where(AuditEntry.chain.is_not(None)).distinct()))
    return sorted(c for c in heads | logged if c is not None)


def verify(s: Session, model_name: str | None = None) -> Verification:
    """Recompute every chained entry's hash and link (of one model's chain, or of all chains) and check each
    chain's head; the first entry that does not match is named."""
    chains = _chains(s, model_name)
    entries = 0
    for chain in chains:
        head = s.get(AuditHead, chain)
        prev, expected, last_id = GENESIS, 1, None
        for e in s.scalars(select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)):
            entries += 1
            assert e.seq is not None
            if e.seq != expected:
                missing = f"#{expected}" if e.seq == expected + 1 else f"#{expected} to #{e.seq - 1}"
                return Verification(
                    len(chains),
                    entries,
                    Problem(
                        chain,
                        expected,
                        None,
                        f"{missing} deleted (the chain goes from entry {last_id} to entry {e.id}, #{e.seq})",
                    ),
                )
            if e.prev_hash != prev:
                return Verification(
                    len(chains),
                    entries,
                    Problem(
                        chain,
                        e.seq - 1,
                        last_id,
                        f"edited or replaced: entry {e.id} (#{e.seq}) links to another hash than it has now",
                    ),
                )
            digest = entry_hash(chain, e.seq, prev, e.at, e.actor, e.action, e.model_id, dict(e.detail or {}))
            if digest != e.hash:
                return Verification(
                    len(chains),
                    entries,
                    Problem(
                        chain,
                        e.seq,
                        e.id,
                        f"edited: its content ({e.action} by {e.actor} at "
                        f"{_time(e.at)}) does not match its hash",
                    ),
                )
            evidence = _evidence_problem(s, e)
            if evidence is not None:
                return Verification(len(chains), entries, Problem(chain, e.seq, e.id, evidence))
            prev, expected, last_id = digest, expected + 1, e.id
        if head is not None and (head.seq != expected - 1 or head.hash != prev):
            if head.seq >= expected:
                gone = f"#{expected}" if head.seq == expected else f"#{expected} to #{head.seq}"
                text = f"{gone} deleted from the end of the chain (its head says #{head.seq})"
                return Verification(len(chains), entries, Problem(chain, expected, None, text))
            return Verification(
                len(chains),
                entries,
                Problem(chain, expected - 1, last_id, "edited: the chain's head records another hash for it"),
            )
    return Verification(len(chains), entries)


def record_digest(record: dict[str, Any]) -> str:
    """The SHA-256 of a stored record's canonical JSON (a gate result's), kept in its audit entry."""
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def _evidence_problem(s: Session, e: AuditEntry) -> str | None:
    """Whether the record an entry stands for still says what the entry says: an alias move's row (the
    history of what served when is read from those rows), a gate result's and a promotion's content (by
    their digests)."""
    from loopwise.store.tables import AliasEvent, GateResult, Promotion

    detail = e.detail or {}
    if e.action == "alias.move" and isinstance(detail.get("alias_event"), int):
        row = s.get(AliasEvent, detail["alias_event"])
        if row is None:
            return f"the record it stands for (alias event {detail['alias_event']}) was deleted"
        seen = (row.alias, row.from_version, row.to_version, row.actor, _time(row.at), row.evidence or {})
        said = (
            detail.get("alias"),
            detail.get("from"),
            detail.get("to"),
            e.actor,
            _time(e.at),
            detail.get("evidence", {}),
        )
        if seen != said:
            return f"the record it stands for (alias event {row.id}) was edited"
    if e.action == "gate.result" and isinstance(detail.get("gate_result"), int) and detail.get("digest"):
        gate = s.get(GateResult, detail["gate_result"])
        if gate is None:
            return f"the record it stands for (gate result {detail['gate_result']}) was deleted"
        if record_digest(gate_record(gate)) != detail["digest"]:
            return f"the record it stands for (gate result {gate.id}) was edited"
    if (
        e.action.startswith("promotion.")
        and isinstance(detail.get("promotion"), int)
        and detail.get("digest")
    ):
        promotion = s.get(Promotion, detail["promotion"])
        if promotion is None:
            return f"the record it stands for (promotion {detail['promotion']}) was deleted"
        if record_digest(promotion_record(promotion, e.action in DECIDED)) != detail["digest"]:
            return f"the record it stands for (promotion {promotion.id}) was edited"
    return None


#: The promotion actions whose entry's digest covers the decision (the request's covers the request).
DECIDED = ("promotion.promote", "promotion.approve", "promotion.force", "promotion.supersede")


def promotion_record(row: Any, decided: bool) -> dict[str, Any]:
    """What a promotion entry's digest covers: the request (what, by whom, when), and once decided the
    decision too (status, by whom, when, the reason, the gate result it rests on). The request's digest
    leaves the gate result out: an approval under ``gate+approval`` records the one it re-checked."""
    record: dict[str, Any] = {
        "model_id": row.model_id,
        "version": row.version,
        "alias": row.alias,
        "requested_by": row.requested_by,
        "requested_at": _time(row.requested_at),
    }
    if decided:
        record |= {
            "status": row.status,
            "decided_by": row.decided_by,
            "decided_at": None if row.decided_at is None else _time(row.decided_at),
            "reason": row.reason,
            "gate_result": row.gate_result_id,
        }
    return record


def gate_record(row: Any) -> dict[str, Any]:
    """What a gate result's digest covers: everything it says, not its id."""
    return {
        "model_id": row.model_id,
        "version": row.version,
        "champion": row.champion,
        "status": row.status,
        "verdict": row.verdict,
        "suite": row.suite,
        "inputs": row.inputs,
        "checks": row.checks,
        "comparisons": row.comparisons,
        "actor": row.actor,
    }


def entries(s: Session, model_name: str | None = None) -> Iterator[dict[str, Any]]:
    """The audit log's entries (one model's, or all), oldest first, as JSON objects with their hashes: what
    ``loopwise audit export`` writes, one per line."""
    q = select(AuditEntry, Model.name).outerjoin(Model, Model.id == AuditEntry.model_id)
    if model_name is not None:
        q = q.where(AuditEntry.model_id == get_model(s, model_name).id)
    for e, name in s.execute(q.order_by(AuditEntry.id)).yield_per(1000):
        yield {
            "id": e.id,
            "at": _time(e.at),
            "actor": e.actor,
            "action": e.action,
            "model": name,
            "model_id": e.model_id,
            "detail": e.detail,
            "chain": e.chain,
            "seq": e.seq,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
