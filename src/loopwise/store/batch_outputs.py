"""A logged batch's narrow columns, stored beside its whole blob (``batch_outputs``, decision 0062).

A paired comparison reads, of each logged event, its id, the served prediction and score(s) and its
segments: four or five columns of the forty-odd a batch holds. Read out of the whole blobs, that was 365 MB
copied out of the database for 1,000,000 events of 40 features (bench/gate.py); out of these, 11 MB.
Every batch stored since migration 0020 has one, written with the batch in the same transaction; older
batches have none and are read from their whole blob.

The blob: an Arrow IPC stream of the batch's columns that have one of ``ROLES`` in the model's schema, in
the batch's own column order, as the whole blob holds them (same types, same values), compressed by the
same rules (``ingest.buckets.to_ipc``); its schema's metadata is the whole blob's, plus ``LEFT_OUT``: the
JSON list of the whole blob's other columns. A reader asking for a column in that list reads the whole blob
instead; a column in neither is in neither blob.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import pyarrow as pa

from loopwise.schema import Role, Schema

#: The roles whose columns a batch's narrow blob holds.
ROLES = (Role.ID, Role.PREDICTION, Role.SCORE, Role.SEGMENT)
#: The schema metadata key naming the whole blob's columns the narrow one leaves out (JSON list).
LEFT_OUT = b"loopwise.left_out"


def narrow_table(schema: Schema, table: pa.Table) -> pa.Table:
    """The narrow columns of a batch's table (no copy: a selection of its columns), with ``LEFT_OUT``."""
    kept, left_out = _plan(tuple(c.name for c in schema.by_role(*ROLES)), tuple(table.schema.names))
    meta = {**table.schema.metadata, LEFT_OUT: left_out} if table.schema.metadata else {LEFT_OUT: left_out}
    return table.select(kept).replace_schema_metadata(meta)


@lru_cache(maxsize=256)
def _plan(narrow: tuple[str, ...], names: tuple[str, ...]) -> tuple[list[int], bytes]:
    """The positions of the narrow columns among ``names`` and the ``LEFT_OUT`` value: the same for every
    batch of a model's usual shape (building them cost 40 us a batch, more than writing a small blob)."""
    kept = set(narrow)
    return [i for i, n in enumerate(names) if n in kept], json.dumps(
        [n for n in names if n not in kept]
    ).encode()


def serves(arrow_schema: pa.Schema, columns: Sequence[str]) -> bool:
    """Whether a narrow blob of this schema answers for ``columns`` what its batch's whole blob would: none
    of them is one it left out, and it holds one of them at least (a read of none of a blob's columns reads
    them all, as Arrow takes an empty selection for every field)."""
    left_out = (arrow_schema.metadata or {}).get(LEFT_OUT)
    if left_out is None:  # not a narrow blob: never taken for one
        return False
    names = set(arrow_schema.names)
    return any(c in names for c in columns) and not set(columns) & set(json.loads(left_out))


def as_whole(table: pa.Table) -> pa.Table:
    """A table read from a narrow blob, with the whole blob's schema metadata (``LEFT_OUT`` dropped)."""
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != LEFT_OUT}
    return table.replace_schema_metadata(meta or None)
