"""The Schema: a model's columns with their roles and kinds, inferred or declared."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from loopwise.errors import SchemaError
from loopwise.schema.columns import Column, Kind, Role
from loopwise.schema.frames import DataLike, to_table
from loopwise.schema.yamlfile import load_yaml

_ID_NAMES = {"id", "event_id", "request_id", "uuid", "row_id"}
_TIME_NAMES = {"ts", "timestamp", "time", "event_time", "created_at", "datetime"}
_PRED_NAMES = {"prediction", "pred", "y_pred", "predicted", "predicted_label", "yhat"}
_SCORE_NAMES = {"score", "proba", "probability", "y_score", "y_proba"}
_TARGET_NAMES = {"target", "label", "y", "y_true", "ground_truth", "actual"}
_TOP_KEYS = ("version", "columns")

#: Strings with at least this share of distinct values and this mean length are text, not categories.
TEXT_DISTINCT_SHARE = 0.5
TEXT_MEAN_LENGTH = 20.0


@dataclass(frozen=True)
class Schema:
    """The columns of a model's data, in order, each with a role and a kind.

    Example:
        >>> import pandas as pd
        >>> s = Schema.infer(pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Rome"]}))
        >>> [(c.name, c.kind.value) for c in s]
        [('age', 'numeric'), ('city', 'categorical')]
    """

    columns: tuple[Column, ...]
    # Membership is asked per column of every ingested batch; a scan of 44 columns each time showed up.
    _names: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for col in self.columns:
            if col.name in seen:
                raise SchemaError(f"column {col.name!r} is declared twice")
            seen.add(col.name)
        object.__setattr__(self, "_names", frozenset(seen))

    # -- access -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __getitem__(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def _repr_html_(self) -> str:
        from loopwise._display import block, table

        rows = [
            (c.name, c.role.value, c.kind.value if c.kind is not None else "(from the data)", _extra(c))
            for c in self.columns
        ]
        return block("Schema", table(["column", "role", "kind", ""], rows), subtitle=f"{len(self)} columns")

    def by_role(self, *roles: Role) -> list[Column]:
        """The columns that have one of ``roles``, in schema order."""
        return [c for c in self.columns if c.role in roles]

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_columns(cls, columns: Iterable[Column]) -> Schema:
        return cls(tuple(columns))

    @classmethod
    def infer(cls, data: DataLike, segments: Iterable[str] = ()) -> Schema:
        """Infer kinds from the data's types and roles from common column names.

        Rules (documented in docs/schema.md): booleans are ``boolean``; integers
        and floats ``numeric``; dates and timestamps ``datetime``; strings
        ``categorical``, or ``text`` when most values are distinct and long.
        Roles come from names (``id``/``*_id`` with unique values, ``ts``,
        ``prediction``, ``score``/``p_*``, ``target``/``label``); protected
        attributes cannot be guessed, so ``segments`` names them.
        """
        table = to_table(data)
        segment_set = set(segments)
        missing = segment_set - set(table.column_names)
        if missing:
            raise SchemaError(f"segment column(s) not in the data: {', '.join(sorted(missing))}")
        cols = []
        for name in table.column_names:
            arr = table.column(name)
            kind = infer_kind(arr)
            role = Role.SEGMENT if name in segment_set else _infer_role(name, kind, arr)
            if role is Role.SEGMENT and kind is Kind.NUMERIC:
                kind = Kind.CATEGORICAL
            cols.append(Column(name=name, role=role, kind=kind))
        return cls(tuple(cols))

    def resolve(self, table: pa.Table) -> Schema:
        """Fill in kinds the schema left open (prediction, target, segment) from the data."""
        if all(c.kind is not None for c in self.columns):
            return self
        cols = []
        for col in self.columns:
            if col.kind is None:
                kind = infer_kind(table.column(col.name)) if col.name in table.column_names else None
                if kind is Kind.NUMERIC and col.role is Role.SEGMENT:
                    kind = Kind.CATEGORICAL
                col = replace(col, kind=kind or Kind.CATEGORICAL)
            cols.append(col)
        return Schema(tuple(cols))

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"columns": {c.name: c.to_dict() for c in self.columns}}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Schema:
        if not isinstance(spec, Mapping):
            raise SchemaError(f"a schema must be a mapping with a 'columns' key; got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(_TOP_KEYS))
        if unknown:
            raise SchemaError(
                f"unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys: {', '.join(_TOP_KEYS)}"
            )
        columns = spec.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise SchemaError("a schema needs a non-empty 'columns' mapping of name -> {role, kind}")
        return cls(tuple(Column.from_dict(str(name), body) for name, body in columns.items()))

    def to_yaml(self) -> str:
        """The schema as a YAML file a person would write: one line per column."""
        width = max(len(c.name) for c in self.columns) + 1
        lines = ["columns:"]
        for col in self.columns:
            body = yaml.safe_dump(col.to_dict(), default_flow_style=True, width=10_000).strip()
            key = yaml.safe_dump(col.name, default_style=None).strip().removesuffix("...").strip()
            lines.append(f"  {(key + ':').ljust(width)} {body}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Schema:
        """Read a schema from YAML text or a .yaml file path."""
        spec = load_yaml(text_or_path, "schema")
        return cls.from_dict(spec)


def _extra(c: Column) -> str:
    """What else a column declares, in a few words (for the notebook display)."""
    parts = []
    if c.label is not None:
        parts.append(f"label {c.label}")
    if c.values is not None:
        parts.append("values " + ", ".join(c.values[:5]) + (", ..." if len(c.values) > 5 else ""))
    if not c.nullable:
        parts.append("not null")
    if c.allow_infinite:
        parts.append("infinite allowed")
    if c.description:
        parts.append(c.description)
    return "; ".join(parts)


def infer_kind(arr: pa.ChunkedArray | pa.Array) -> Kind:
    """The kind of one Arrow column, from its type (and, for strings, its values)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return Kind.BOOLEAN
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return Kind.NUMERIC
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return Kind.DATETIME
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return Kind.TEXT if _looks_like_text(arr) else Kind.CATEGORICAL
    return Kind.CATEGORICAL


def _looks_like_text(arr: pa.ChunkedArray | pa.Array) -> bool:
    sample = arr.slice(0, 10_000)
    valid = sample.drop_null() if hasattr(sample, "drop_null") else sample
    if len(valid) < 50:
        return False
    distinct = len(pc.unique(valid))
    mean_len = pc.mean(pc.utf8_length(valid)).as_py() or 0.0
    return distinct >= TEXT_DISTINCT_SHARE * len(valid) and mean_len >= TEXT_MEAN_LENGTH


def _infer_role(name: str, kind: Kind, arr: pa.ChunkedArray) -> Role:
    low = name.lower()
    if (low in _ID_NAMES or low.endswith("_id")) and kind in (
        Kind.CATEGORICAL,
        Kind.NUMERIC,
        Kind.TEXT,
    ):
        n_valid = len(arr) - arr.null_count
        if n_valid and len(pc.unique(arr)) == len(arr):
            return Role.ID
    if kind is Kind.DATETIME and low in _TIME_NAMES:
        return Role.TIMESTAMP
    if low in _PRED_NAMES:
        return Role.PREDICTION
    if low in _SCORE_NAMES or low.startswith(("p_", "proba_", "score_")):
        return Role.SCORE
    if low in _TARGET_NAMES:
        return Role.TARGET
    return Role.FEATURE
