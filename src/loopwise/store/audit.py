"""Appending to the tamper-evident audit log: every entry joins a hash chain, one chain per model and one
(``global``) for entries of no model (decision 0028; reading and verifying the chain: ``registry.audit``).

Each chained entry carries its number in the chain (``seq``, from 1), the previous entry's hash and its own:
the SHA-256 of the entry's canonical JSON (sorted keys, no spaces, times as UTC ISO 8601 with microseconds),
which includes the previous hash. Editing an entry changes its hash; deleting one breaks the next entry's
link, or, at the end of a chain, its head (``audit_heads``).

Appending locks the chain's head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a
time already), so two appends to one chain take turns and never both link to the same entry; a unique key on
(chain, seq) refuses a fork even if a writer got past the lock. Chains of different models never wait on
each other. It lives in ``store`` so that every service (ingest, keys, the registry) writes its entries
through it: an entry written beside the chain would be one ``audit verify`` cannot vouch for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loopwise.store.engine import insert_ignore
from loopwise.store.tables import AuditEntry, AuditHead
from loopwise.store.types import utcnow

#: The hash a chain's first entry links to.
GENESIS = "0" * 64


def chain_of(model_id: int | None) -> str:
    """The chain a model's entries join (``model:<id>``); entries of no model join ``global``."""
    return "global" if model_id is None else f"model:{model_id}"


def canonical_json(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, no NaN, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def utc_text(at: dt.datetime) -> str:
    """A time as the chain hashes it: UTC, ISO 8601, microseconds."""
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
        "at": utc_text(at),
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
    chain, head = chain_of(model_id), _locked_head(s, chain_of(model_id))
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


def append_many(
    s: Session,
    model_id: int | None,
    actor: str,
    action: str,
    details: Sequence[dict[str, Any]],
    at: dt.datetime | None = None,
) -> None:
    """Append one entry per detail to the model's chain, in order, with one lock and one insert (a batch of
    feedback that replaces thousands of labels)."""
    if not details:
        return
    at = (at or utcnow()).astimezone(dt.UTC)
    chain, head = chain_of(model_id), _locked_head(s, chain_of(model_id))
    seq, prev, rows = head.seq, head.hash, []
    for d in details:
        detail = json.loads(canonical_json(d))
        seq += 1
        digest = entry_hash(chain, seq, prev, at, actor, action, model_id, detail)
        rows.append(
            {
                "at": at,
                "actor": actor,
                "action": action,
                "model_id": model_id,
                "detail": detail,
                "chain": chain,
                "seq": seq,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    s.execute(insert(AuditEntry), rows)
    head.seq, head.hash = seq, prev
    s.flush()


def _locked_head(s: Session, chain: str) -> AuditHead:
    insert_ignore(s, AuditHead.__table__, {"chain": chain, "seq": 0, "hash": GENESIS})
    locked = select(AuditHead).where(AuditHead.chain == chain).with_for_update()
    head: AuditHead = s.execute(locked.execution_options(populate_existing=True)).scalar_one()
    return head
