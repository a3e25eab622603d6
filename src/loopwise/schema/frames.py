"""Convert any accepted input to one Arrow table, once, at the edge.

Accepted: a pandas DataFrame, a Polars DataFrame, a PyArrow Table or
RecordBatch, or a path to a Parquet or CSV file (or a directory of them).
Everything downstream works on Arrow buffers and NumPy views of them.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loopwise.errors import DataError

DataLike = Any  # pandas / Polars DataFrame, pyarrow Table / RecordBatch, str or os.PathLike

_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".csv.gz", ".tsv")


def to_table(data: DataLike) -> pa.Table:
    """Return ``data`` as a ``pyarrow.Table`` without copying where Arrow allows it."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, (str, os.PathLike)):
        return read_path(Path(data))
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return _from_pandas(data)
    if module == "polars":
        if type(data).__name__ == "LazyFrame":
            # A profile needs every row: collecting is what the user would do next, so do it for them.
            data = data.collect()
        table = data.to_arrow()
        return table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
    raise DataError(
        "expected a pandas or Polars DataFrame, a pyarrow Table or RecordBatch, or a path "
        f"to a Parquet or CSV file; got {type(data).__module__}.{type(data).__name__}"
    )


def read_path(path: Path) -> pa.Table:
    """Read a Parquet or CSV file, or every such file of one type in a directory."""
    if not path.exists():
        raise DataError(f"no such file or directory: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _file_type(p) is not None)
        if not files:
            raise DataError(f"directory {path} holds no Parquet or CSV files")
        types = {_file_type(p) for p in files}
        if len(types) > 1:
            raise DataError(f"directory {path} mixes Parquet and CSV files; keep one format")
        tables = [_read_file(p) for p in files]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowInvalid as exc:
            raise DataError(f"files in {path} have incompatible columns: {exc}") from None
    return _read_file(path)


def _file_type(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    return None


def _read_file(path: Path) -> pa.Table:
    kind = _file_type(path)
    if kind is None:
        # Sniff the magic bytes, so a Parquet file without the suffix still works.
        with path.open("rb") as fh:
            head = fh.read(4)
        kind = "parquet" if head == b"PAR1" else None
    try:
        if kind == "parquet":
            return _without_pandas_index(pq.read_table(path))
        if kind == "csv":
            opts = pacsv.ParseOptions(delimiter="\t" if path.name.lower().endswith(".tsv") else ",")
            return pacsv.read_csv(path, parse_options=opts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read {path} as {kind}: {exc}") from None
    raise DataError(
        f"{path} is not a Parquet or CSV file (expected a name ending {', '.join(_PARQUET + _CSV)})"
    )


def _without_pandas_index(table: pa.Table) -> pa.Table:
    """``table`` without the columns pandas stored its index in (``df.to_parquet()`` of a filtered or
    sampled frame keeps the index as ``__index_level_0__``): pandas reads them back as the index, not as
    data, and so does loopwise, rather than refuse a column the schema never named."""
    meta = table.schema.pandas_metadata or {}
    stored = [c for c in meta.get("index_columns", []) if isinstance(c, str) and c in table.column_names]
    return table.drop_columns(stored) if stored else table


def _from_pandas(df: Any) -> pa.Table:
    if df.columns.duplicated().any():
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"duplicate column names: {', '.join(dupes)}")
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    # Find the culprit, so the error names the column and the first row that differs.
    for name in df.columns:
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise DataError(_mixed_types_message(str(name), df[name])) from None
    raise DataError("cannot convert the DataFrame to Arrow")  # pragma: no cover - defensive


def _mixed_types_message(name: str, series: Any) -> str:
    values = series.dropna()
    types = Counter(type(v).__name__ for v in values)
    common = types.most_common(1)[0][0] if types else "?"
    for position, value in enumerate(series):
        if value is not None and type(value).__name__ != common:
            try:
                if value != value:  # NaN
                    continue
            except Exception:
                pass
            return (
                f"column {name!r} has mixed types ({', '.join(sorted(types))}): "
                f"row {position} holds {type(value).__name__} {value!r} "
                f"where most rows hold {common}"
            )
    return f"column {name!r} has values Arrow cannot hold in one column ({', '.join(sorted(types))})"
