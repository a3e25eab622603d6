"""Reading and verifying the tamper-evident audit log (decision 0028); entries are appended through
``loopwise.store.audit`` (``append``, re-exported here), which describes the chain.

``verify`` recomputes every entry's hash and link and checks each chain's head, and, for the entries that
stand for a stored record (an alias move, a gate result, a promotion), that the record still says what the
entry says; then that the model's current state is the one its chain records: each version row holds what
its ``version.register`` entry says (name, flavor, sha256), and each alias row points where the alias's
last recorded move put it (decision 0060). Given the head hash an operator kept elsewhere (``head``), it
checks that the chain still holds it: a chain stored beside its head cannot show that its last entries
were deleted together with the head's row. ``entries`` is what ``loopwise audit export`` writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loopwise.errors import ParameterError
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
    #: What the problem is about when it is a stored record, not an entry (``alias 'champion'``).
    subject: str | None = None

    def __str__(self) -> str:
        if self.subject is not None:
            return f"{self.subject} (chain {self.chain}): {self.problem}"
        where = f"entry {self.entry_id}" if self.entry_id is not None else "an entry"
        return f"{where} (#{self.seq} of chain {self.chain}): {self.problem}"


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the chains and entries checked, and the first problem (None: intact)."""

    chains: int
    entries: int
    problem: Problem | None = None
    #: Each chain's last entry as read (its number and hash): what an operator keeps elsewhere.
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        p = self.problem
        return {
            "ok": self.ok,
            "chains": self.chains,
            "entries": self.entries,
            "heads": {c: {"seq": n, "hash": h} for c, (n, h) in self.heads.items()},
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


def verify(s: Session, model_name: str | None = None, head: str | None = None) -> Verification:
    """Recompute every chained entry's hash and link (of one model's chain, or of all chains) and check each
    chain's head; the first entry that does not match is named. Then each model's version and alias rows
    are checked against the entries that recorded them. ``head``: a head hash kept elsewhere (from an
    earlier ``verify`` or the last line of ``audit export``), which the chain must still hold."""
    if head is not None:
        head = head.strip().lower()
        if len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
            raise ParameterError("head", head, "an entry's hash: 64 hexadecimal digits")
    chains = _chains(s, model_name)
    entries = 0
    heads: dict[str, tuple[int, str]] = {}
    head_seen = False

    def broken(problem: Problem) -> Verification:
        return Verification(len(chains), entries, problem, heads)

    for chain in chains:
        stored_head = s.get(AuditHead, chain)
        prev, expected, last_id = GENESIS, 1, None
        recorded = _Recorded()
        for e in s.scalars(select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)):
            entries += 1
            assert e.seq is not None
            if e.seq != expected:
                missing = f"#{expected}" if e.seq == expected + 1 else f"#{expected} to #{e.seq - 1}"
                return broken(
                    Problem(
                        chain,
                        expected,
                        None,
                        f"{missing} deleted (the chain goes from entry {last_id} to entry {e.id}, #{e.seq})",
                    )
                )
            if e.prev_hash != prev:
                return broken(
                    Problem(
                        chain,
                        e.seq - 1,
                        last_id,
                        f"edited or replaced: entry {e.id} (#{e.seq}) links to another hash than it has now",
                    )
                )
            digest = entry_hash(chain, e.seq, prev, e.at, e.actor, e.action, e.model_id, dict(e.detail or {}))
            if digest != e.hash:
                return broken(
                    Problem(
                        chain,
                        e.seq,
                        e.id,
                        f"edited: its content ({e.action} by {e.actor} at "
                        f"{_time(e.at)}) does not match its hash",
                    )
                )
            evidence = _evidence_problem(s, e)
            if evidence is not None:
                return broken(Problem(chain, e.seq, e.id, evidence))
            recorded.add(e)
            head_seen = head_seen or digest == head
            prev, expected, last_id = digest, expected + 1, e.id
        if expected > 1:
            heads[chain] = (expected - 1, prev)
        if stored_head is not None and (stored_head.seq != expected - 1 or stored_head.hash != prev):
            if stored_head.seq >= expected:
                gone = f"#{expected}" if stored_head.seq == expected else f"#{expected} to #{stored_head.seq}"
                text = f"{gone} deleted from the end of the chain (its head says #{stored_head.seq})"
                return broken(Problem(chain, expected, None, text))
            return broken(
                Problem(chain, expected - 1, last_id, "edited: the chain's head records another hash for it")
            )
        if chain.startswith("model:"):
            found = _records_problem(s, chain, int(chain.removeprefix("model:")), recorded)
            if found is not None:
                return broken(found)
    if head is not None and not head_seen:
        chain = chains[0] if len(chains) == 1 else "of any model"
        at = heads.get(chain, (0, GENESIS))
        return broken(
            Problem(
                chain,
                at[0],
                None,
                f"the head hash given ({head}) is not in the chain, whose last entry is #{at[0]} "
                f"({at[1]}): the entries from it on were deleted together with the chain's head row, "
                "or the hash is another chain's",
                subject="the chain",
            )
        )
    return Verification(len(chains), entries, None, heads)


@dataclass
class _Recorded:
    """What a chain's entries say the model's state is: each version as registered, each alias where its
    last move put it (entry id and number kept to name them)."""

    versions: dict[str, tuple[int, int, dict[str, Any]]] = field(default_factory=dict)
    aliases: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)

    def add(self, e: AuditEntry) -> None:
        detail = dict(e.detail or {})
        assert e.seq is not None
        if e.action == "version.register" and isinstance(detail.get("version"), str):
            self.versions[detail["version"]] = (e.id, e.seq, detail)
        elif e.action == "alias.move" and isinstance(detail.get("alias"), str):
            self.aliases[detail["alias"]] = (e.id, e.seq, detail.get("to"))


def _records_problem(s: Session, chain: str, model_id: int, recorded: _Recorded) -> Problem | None:
    """Whether the model's version and alias rows are what its chain recorded (decision 0060). A row with no
    chained entry at all is named unless the model's log holds entries of that action outside the chain
    (an earlier development build): those cannot be vouched for, and neither can their rows."""
    from loopwise.store.tables import Alias, ModelVersion

    def unchained(action: str) -> bool:
        q = select(AuditEntry.id).where(
            AuditEntry.model_id == model_id, AuditEntry.chain.is_(None), AuditEntry.action == action
        )
        return s.scalar(q.limit(1)) is not None

    names: dict[int, str] = {}
    for v in s.scalars(
        select(ModelVersion).where(ModelVersion.model_id == model_id).order_by(ModelVersion.id)
    ):
        names[v.id] = v.name
        said = recorded.versions.get(v.name)
        subject = f"version {v.name!r}"
        if said is None:
            if unchained("version.register"):
                continue
            return Problem(chain, 0, None, "its row has no recorded registration", subject=subject)
        entry_id, seq, detail = said
        for key, now in (("flavor", v.flavor), ("sha256", v.sha256)):
            if key in detail and detail[key] != now:
                return Problem(
                    chain,
                    seq,
                    entry_id,
                    f"its row says {key} {now}, its registration (entry {entry_id}, #{seq}) says "
                    f"{detail[key]}: the row was changed outside the registry",
                    subject=subject,
                )
    gone = sorted(set(recorded.versions) - set(names.values()))
    if gone:
        entry_id, seq, _ = recorded.versions[gone[0]]
        return Problem(
            chain,
            seq,
            entry_id,
            f"registered (entry {entry_id}, #{seq}) and its row is gone (deleted or renamed)",
            subject=f"version {gone[0]!r}",
        )
    rows = {a.name: a.version_id for a in s.scalars(select(Alias).where(Alias.model_id == model_id))}
    for alias in sorted(set(rows) | set(recorded.aliases)):
        subject = f"alias {alias!r}"
        now = None if alias not in rows else names.get(rows[alias], f"a version of id {rows[alias]}")
        if alias not in recorded.aliases:
            if unchained("alias.move"):
                continue
            return Problem(chain, 0, None, f"points at {now} with no recorded move", subject=subject)
        entry_id, seq, to = recorded.aliases[alias]
        if now != to:
            where = "is unset" if now is None else f"points at {now}"
            return Problem(
                chain,
                seq,
                entry_id,
                f"{where}, but its last recorded move (entry {entry_id}, #{seq}) "
                + ("unset it" if to is None else f"put it at {to}")
                + ": the alias row was changed outside the registry",
                subject=subject,
            )
    return None


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
