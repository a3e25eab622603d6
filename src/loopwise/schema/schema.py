"""The Schema: a model's columns with their roles and kinds, inferred or declared."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from loopwise.errors import SchemaError
from loopwise.schema.columns import Column, Kind, Role, Task, canonical_label
from loopwise.schema.frames import DataLike, to_table
from loopwise.schema.inference import (
    infer_kind,
    infer_role,
    infer_task,
    looks_like_time,
    output_classes,
    score_labels,
)
from loopwise.schema.timestamps import to_utc_us
from loopwise.schema.yamlfile import load_yaml

_TOP_KEYS = ("version", "task", "positive", "columns", "inferred")


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
    #: binary, multiclass or regression; None: decided from the kinds (docs/schema.md, "The task").
    task: Task | None = None
    #: For a binary task: the positive class (canonical form, as labels are compared).
    positive: str | None = None
    #: What was inferred rather than declared, and when: name -> {"kind"/"task": ..., "at": ..., "from": ...}.
    inferred: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    # Membership is asked per column of every ingested batch; a scan of 44 columns each time showed up.
    _names: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for col in self.columns:
            if col.name in seen:
                raise SchemaError(f"column {col.name!r} is declared twice")
            seen.add(col.name)
        object.__setattr__(self, "_names", frozenset(seen))
        if self.task is not None and not isinstance(self.task, Task):
            object.__setattr__(self, "task", _task(self.task))
        if self.positive is not None:
            if self.task not in (Task.BINARY, None):
                raise SchemaError(
                    f"'positive' names the positive class of a binary task; the task is {self.task}"
                )
            object.__setattr__(self, "positive", canonical_label(self.positive))

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

    def with_columns(self, columns: Iterable[Column]) -> Schema:
        """The same schema (task, positive class, record of inference) with other columns."""
        return replace(self, columns=tuple(columns))

    @property
    def open_kinds(self) -> list[str]:
        """Columns whose kind is left open for the data to decide."""
        return [c.name for c in self.columns if c.kind is None]

    @classmethod
    def infer(cls, data: DataLike, segments: Iterable[str] = ()) -> Schema:
        """Infer kinds from the data's types and roles from common column names.

        Rules (documented in docs/schema.md): booleans are ``boolean``; integers
        and floats ``numeric``; dates and timestamps ``datetime``; strings
        ``categorical``, or ``text`` when most values are distinct and long.
        Roles come from names (``id``/``*_id`` with unique values, ``ts``,
        ``prediction``, ``score``/``p_*``/``*_proba``, ``target``/``label``; the
        full lists are in docs/schema.md); protected attributes cannot be
        guessed, so ``segments`` names them. The task (binary, multiclass or
        regression) is inferred from the prediction and target values.
        """
        table = to_table(data)
        segment_set = set(segments)
        missing = segment_set - set(table.column_names)
        if missing:
            raise SchemaError(f"segment column(s) not in the data: {', '.join(sorted(missing))}")
        cols: list[Column] = []
        for name in table.column_names:
            arr = table.column(name)
            kind = infer_kind(arr)
            if kind is not Kind.DATETIME and name not in segment_set and looks_like_time(name, arr):
                kind = Kind.DATETIME
            role = Role.SEGMENT if name in segment_set else infer_role(name, kind, arr)
            if role is Role.TIMESTAMP and any(c.role is Role.TIMESTAMP for c in cols):
                role = Role.FEATURE  # one event time; other times are datetime features
            if role is Role.SEGMENT and kind is Kind.NUMERIC:
                kind = Kind.CATEGORICAL
            cols.append(Column(name=name, role=role, kind=kind))
        cols = score_labels(cols, output_classes(table, cols))
        return cls(tuple(cols)).with_task(table)

    def with_task(self, table: pa.Table) -> Schema:
        """The schema with its task inferred from ``table`` when it declares none (else itself)."""
        if self.task is not None:
            return self
        task, positive, reason = infer_task(table, list(self.columns))
        if task is None:
            return self
        if task is Task.BINARY and self.positive is not None:
            positive = self.positive  # declared: the data's guess (true or 1, else none) does not replace it
        record = {**self.inferred, "task": {"task": task.value, "from": reason}}
        return replace(self, task=task, positive=positive, inferred=record)

    def score_classes(self) -> dict[str, str | None]:
        """The class each score column is the probability of: its ``label``; for a lone score column
        without one, the declared positive class (None: the class the labels imply, ``true`` or ``1``)."""
        scores = self.by_role(Role.SCORE)
        lone = self.positive if len(scores) == 1 else None
        return {c.name: c.label if c.label is not None else lone for c in scores}

    @property
    def task_source(self) -> str:
        """Why the task is what it is: declared, inferred (with the reason), or decided by the kinds."""
        if self.task is None:
            return "not declared; decided by the kinds of the prediction, target and score columns"
        record = self.inferred.get("task")
        return f"inferred: {record['from']}" if record else "declared"

    def resolve(self, table: pa.Table) -> Schema:
        """Fill in kinds the schema left open (prediction, target, segment) and the task from the data."""
        if all(c.kind is not None for c in self.columns):
            return self.with_task(table)
        cols = []
        for col in self.columns:
            if col.kind is None:
                kind = infer_kind(table.column(col.name)) if col.name in table.column_names else None
                if kind is Kind.NUMERIC and col.role is Role.SEGMENT:
                    kind = Kind.CATEGORICAL
                col = replace(col, kind=kind or Kind.CATEGORICAL)
            cols.append(col)
        return self.with_columns(cols).with_task(table)

    def conform(self, table: pa.Table) -> pa.Table:
        """``table`` with the times of its timestamp and datetime columns as UTC microseconds, converted
        from strings or epoch numbers by the one rule (``loopwise.schema.timestamps``); else unchanged."""
        for col in self.columns:
            if (col.role is Role.TIMESTAMP or col.kind is Kind.DATETIME) and col.name in table.column_names:
                t = table.column(col.name).type
                if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
                    converted = to_utc_us(table.column(col.name), col.name, col.unit)
                    table = table.set_column(table.column_names.index(col.name), col.name, converted)
        return table

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.task is not None:
            out["task"] = self.task.value
        if self.positive is not None:
            out["positive"] = self.positive
        out["columns"] = {c.name: c.to_dict() for c in self.columns}
        if self.inferred:
            out["inferred"] = {k: dict(v) for k, v in self.inferred.items()}
        return out

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
        inferred = spec.get("inferred") or {}
        if not isinstance(inferred, Mapping):
            raise SchemaError(f"'inferred' must be a mapping; got {type(inferred).__name__}")
        cols = [Column.from_dict(str(name), body) for name, body in columns.items()]
        # Several score columns without 'label:' name their classes (proba_<class>, <class>_proba, ...).
        return cls(
            tuple(score_labels(cols, set())),
            task=None if spec.get("task") is None else _task(spec["task"]),
            positive=None if spec.get("positive") is None else canonical_label(spec["positive"]),
            inferred=dict(inferred),
        )

    def __str__(self) -> str:
        """What ``print(schema)`` shows: its YAML, a column a line (the repr lists every field of every
        column on one line)."""
        return self.to_yaml().rstrip("\n")

    def to_yaml(self) -> str:
        """The schema as a YAML file a person would write: one line per column."""
        width = max(len(c.name) for c in self.columns) + 1
        lines = []
        if self.task is not None:
            how = self.inferred.get("task")
            lines.append(f"task: {self.task.value}" + (f"  # inferred: {how['from']}" if how else ""))
        if self.positive is not None:
            lines.append(f"positive: {yaml.safe_dump(self.positive).strip().removesuffix('...').strip()}")
        lines.append("columns:")
        for col in self.columns:
            body = yaml.safe_dump(col.to_dict(), default_flow_style=True, width=10_000).strip()
            key = yaml.safe_dump(col.name, default_style=None).strip().removesuffix("...").strip()
            line = f"  {(key + ':').ljust(width)} {body}"
            how = self.inferred.get(col.name)
            if (
                how
            ):  # a served model fixed this kind from its first data (docs/schema.md): say when, from what
                line += f"  # inferred {how.get('at', '')} from {how.get('from', 'the data')}".replace(
                    "  from", " from"
                )
            lines.append(line)
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


def _task(value: Any) -> Task:
    try:
        return Task(value)
    except ValueError:
        raise SchemaError(f"task must be one of {', '.join(t.value for t in Task)}; got {value!r}") from None
