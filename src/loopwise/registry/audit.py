"""The tamper-evident audit log: every registry event appended to a hash chain, one chain per model
(decision 0028).

Each chained entry carries its number in the chain (``seq``, from 1), the previous entry's hash and its own:
the SHA-256 of the entry's canonical JSON (sorted keys, no spaces, times as UTC ISO 8601 with microseconds),
which includes the previous hash. Editing an entry changes its hash; deleting one breaks the next entry's
link, or, at the end of a chain, its head (``audit_heads``). ``verify`` names the first entry that breaks.

Appending locks the chain's head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a
time already), so two appends to one chain take turns and never both link to the same entry; a unique key on
(chain, seq) refuses a fork even if a writer got past the lock. Chains of different models never wait on
each other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.ingest import get_model
from loopwise.store import insert_ignore
from loopwise.store.tables import AuditEntry, AuditHead, Model
from loopwise.store.types import utcnow

#: The hash a chain's first entry links to.
GENESIS = "0" * 64


def chain_of(model_id: int | None) -> str:
    """The chain a model's entries join (``model:<id>``); entries of no model join ``global``."""
    return "global" if model_id is None else f"model:{model_id}"


def canonical_json(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, no NaN, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(
    chain: str,
    seq: int,
    prev: str,
    at: dt.datetime,
    actor: str,
    action: str,
    model_id: int | None,
    detail: dict[str, Any],
) -> str:
    """The SHA-256 (hex) of an entry's canonical JSON, its previous entry's hash included."""
    doc = {
        "chain": chain,
        "seq": seq,
        "prev": prev,
        "at": _time(at),
        "actor": actor,
        "action": action,
        "model_id": model_id,
        "detail": detail,
    }
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def append(
    s: Session,
    model_id: int | None,
    actor: str,
    action: str,
    detail: dict[str, Any],
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append an entry to the model's chain, in the caller's write transaction (it commits with the change
    it records, or not at all). ``detail`` is JSON; evidence is named by ids in it (``gate_result``,
    ``promotion``, ``alias_event``)."""
    at = (at or utcnow()).astimezone(dt.UTC)
    # The stored text and the hashed text must be one: the detail as JSON reads it back.
    detail = json.loads(canonical_json(detail))
    chain = chain_of(model_id)
    insert_ignore(s, AuditHead.__table__, {"chain": chain, "seq": 0, "hash": GENESIS})
    locked = select(AuditHead).where(AuditHead.chain == chain).with_for_update()
    head = s.execute(locked.execution_options(populate_existing=True)).scalar_one()
    seq = head.seq + 1
    digest = entry_hash(chain, seq, head.hash, at, actor, action, model_id, detail)
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        model_id=model_id,
        detail=detail,
        chain=chain,
        seq=seq,
        prev_hash=head.hash,
        hash=digest,
    )
    s.add(entry)
    head.seq, head.hash = seq, digest
    s.flush()
    return entry


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
    history of what served when is read from those rows), a gate result's content (by its digest)."""
    from loopwise.store.tables import AliasEvent, GateResult

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
    return None


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
