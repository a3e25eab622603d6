"""A replay's features read blob by blob into one array of rows that the replay keeps from batch to batch
(decision 0065).

The general read (``replay.read_stored``, then Arrow's ``to_pandas``) holds a batch's blobs together and
builds a new frame for each batch: every blob and every frame is memory the process maps afresh and faults
in page by page, 0.3-0.4 s of a first evaluation of 1,000,000 events of 40 features (352 MB of blobs, 320 MB
of frames) on this machine, a fifth of the model's own time. Here each blob is read, its rows copied into
the array and the blob released before the next arrives (``blobs.each_blob``), so that one blob's memory
serves the next and the array's is faulted in once per evaluation.

For features that are all float64 in every blob (numeric features logged as floats): the array then holds
exactly what ``to_pandas`` would (a null as NaN), laid out as it would (each feature's values contiguous).
Any other type, or a feature missing from a blob, and ``read`` says so (None): the replay reads that batch,
and the rest, the general way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from loopwise._lazy import lazy
from loopwise.registry.blobs import Blob, each_blob, not_stored
from loopwise.registry.outputs import unpack
from loopwise.registry.window import event_keys

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")

#: Blobs asked for per query (as ``read_stored``).
BLOBS_PER_QUERY = 100


class FeatureRows:
    """An evaluation's reader of float64 features: ``read`` fills one array, kept from one call to the next
    (grown when a batch has more rows), and returns a frame over it, valid until the next call.

    ``id_column``: also return the events' ids, read from the same blobs (None: the caller has them)."""

    def __init__(self, features: Sequence[str], id_column: str | None = None) -> None:
        self.features = list(features)
        self.id_column = id_column
        #: False once a blob held a feature that is not float64, or lacked one: this reader reads no more.
        self.usable = True
        self._array: np.ndarray | None = None
        #: The last blob schema looked at, and the features' positions in it (None: not all float64).
        self._schema: pa.Schema | None = None
        self._at: list[int] | None = None

    def _positions(self, schema: pa.Schema) -> list[int] | None:
        """Each feature's column in a blob of this schema; None when one is missing or not float64."""
        at = [schema.get_field_index(f) for f in self.features]
        if any(i < 0 or schema.field(i).type != pa.float64() for i in at):
            return None
        if self.id_column is not None and schema.get_field_index(self.id_column) < 0:
            return None
        return at

    def read(
        self, s: Session, batch_ids: np.ndarray, rows: np.ndarray
    ) -> tuple[pd.DataFrame, pa.Array | None] | None:
        """The features of the logged rows in ``batch_ids[i]`` at ``rows[i]`` (sorted by batch, then row), in
        that order, and their event ids (or None: no ``id_column``); None when they are not all float64."""
        if not self.usable:
            return None
        n = len(batch_ids)
        if self._array is None or self._array.shape[1] < n:
            self._array = None  # the old one released before the new one is made
            self._array = np.empty((len(self.features), n), np.float64)
        out = self._array[:, :n]
        starts = np.flatnonzero(np.r_[True, batch_ids[1:] != batch_ids[:-1]]) if n else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], n].astype(np.int64)
        bounds = zip(starts.tolist(), ends.tolist(), strict=True)
        where = {int(batch_ids[a]): (a, z) for a, z in bounds}
        ids: dict[int, pa.Array] = {}

        def copy_out(batch: int, blob: Blob) -> None:
            if not self.usable:
                return  # the rest of the query's blobs pass unread
            a, z = where.pop(batch)
            # Every column: the features are most of a blob, and Arrow reads an uncompressed one in place,
            # where selecting fields costs a second parse (0.1 ms a blob).
            table = unpack(blob)
            if self._schema is None or not table.schema.equals(self._schema):
                self._schema, self._at = table.schema, self._positions(table.schema)
            if self._at is None:
                self.usable = False
                return
            picked = rows[a:z]
            first, last = int(picked[0]), int(picked[-1])
            # Rows are sorted and distinct: a run of consecutive rows is a slice, a view (no gather).
            take: slice | np.ndarray = slice(first, last + 1) if last - first == z - a - 1 else picked
            columns = table.columns
            for j, i in enumerate(self._at):
                out[j, a:z] = columns[i].to_numpy()[take]
            if self.id_column is not None:
                # Copied: a slice would keep the whole blob alive until the batch is done (a slice's copy by
                # concatenation is a sixteenth of a take's time).
                keys = event_keys(table.column(self.id_column))
                if isinstance(take, slice):
                    ids[a] = pa.concat_arrays([keys.slice(first, z - a)])
                else:
                    ids[a] = keys.take(pa.array(picked))

        wanted = list(where)
        for i in range(0, len(wanted), BLOBS_PER_QUERY):
            each_blob(s, wanted[i : i + BLOBS_PER_QUERY], copy_out)
            if not self.usable:
                return None
        if where:
            raise not_stored(next(iter(where)))
        frame = pd.DataFrame(out.T, columns=self.features, copy=False)
        if self.id_column is None:
            return frame, None
        keys = pa.concat_arrays([ids[a] for a in sorted(ids)]) if ids else pa.array([], pa.string())
        return frame, keys
