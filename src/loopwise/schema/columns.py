"""Column roles and kinds: what a column is for, and what kind of values it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loopwise.errors import SchemaError


class Role(StrEnum):
    """What a column is for in a model's traffic."""

    ID = "id"
    TIMESTAMP = "timestamp"
    FEATURE = "feature"
    PREDICTION = "prediction"
    SCORE = "score"
    TARGET = "target"
    SEGMENT = "segment"


class Kind(StrEnum):
    """What kind of values a column holds; decides how it is profiled and compared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    TEXT = "text"
    DATETIME = "datetime"


class Task(StrEnum):
    """What the model predicts; decides which performance metrics apply and what F1 averages."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


#: Roles whose columns are compared for drift (ids and timestamps change by design).
DRIFT_ROLES = frozenset({Role.FEATURE, Role.PREDICTION, Role.SCORE, Role.TARGET, Role.SEGMENT})

_KEYS = ("role", "kind", "nullable", "allow_infinite", "values", "label", "unit", "description")
#: Units an epoch-number timestamp column may declare (see loopwise.schema.timestamps).
UNITS = ("s", "ms", "us", "ns")


@dataclass(frozen=True)
class Column:
    """One column of a Schema.

    ``nullable`` allows missing values (null, and NaN in numeric columns);
    ``allow_infinite`` allows +/-inf in numeric columns; ``values`` fixes the
    domain of a categorical column, so an unseen category is a violation.
    """

    name: str
    role: Role = Role.FEATURE
    kind: Kind | None = None
    nullable: bool = True
    allow_infinite: bool = False
    values: tuple[str, ...] | None = None
    #: For a score column: the class whose probability it holds.
    label: str | None = None
    #: For a timestamp given as epoch numbers: their unit (s, ms, us, ns); else inferred from magnitude.
    unit: str | None = None
    description: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"a column name must be a non-empty string; got {self.name!r}")
        if self.values is not None and self.kind not in (Kind.CATEGORICAL, Kind.BOOLEAN, None):
            raise SchemaError(
                f"column {self.name!r}: 'values' fixes a categorical domain, "
                f"but the column's kind is {self.kind!s}"
            )
        if self.unit is not None and self.unit not in UNITS:
            raise SchemaError(
                f"column {self.name!r}: unit must be one of {', '.join(UNITS)}; got {self.unit!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The column as written in a schema file, leaving out defaults."""
        out: dict[str, Any] = {}
        if self.role is not Role.FEATURE:
            out["role"] = self.role.value
        if self.kind is not None:
            out["kind"] = self.kind.value
        if not self.nullable:
            out["nullable"] = False
        if self.allow_infinite:
            out["allow_infinite"] = True
        if self.values is not None:
            out["values"] = list(self.values)
        if self.label is not None:
            out["label"] = self.label
        if self.unit is not None:
            out["unit"] = self.unit
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, name: str, spec: dict[str, Any] | None) -> Column:
        """Read one column entry of a schema file; unknown keys are errors that list the valid ones."""
        spec = dict(spec or {})
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise SchemaError(
                f"column {name!r}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys: {', '.join(_KEYS)}"
            )
        role = _enum(Role, spec.get("role", Role.FEATURE.value), name, "role")
        kind_raw = spec.get("kind")
        # A missing kind for prediction, target or segment is resolved from the data.
        kind = default_kind(role) if kind_raw is None else _enum(Kind, kind_raw, name, "kind")
        values = spec.get("values")
        if values is not None:
            if not isinstance(values, list):
                raise SchemaError(f"column {name!r}: 'values' must be a list; got {values!r}")
            values = tuple(str(v) for v in values)
        return cls(
            name=name,
            role=role,
            kind=kind,
            nullable=_bool(spec.get("nullable", True), name, "nullable"),
            allow_infinite=_bool(spec.get("allow_infinite", False), name, "allow_infinite"),
            values=values,
            label=None if spec.get("label") is None else canonical_label(spec["label"]),
            unit=spec.get("unit"),
            description=spec.get("description"),
        )


def canonical_label(value: Any) -> str:
    # Same canonical form as profiles use, so label: 1 and label: "1" name one class.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default_kind(role: Role) -> Kind | None:
    """The kind a role implies when a schema file leaves it out (None: inferred from data)."""
    return {
        Role.ID: Kind.CATEGORICAL,
        Role.TIMESTAMP: Kind.DATETIME,
        Role.SCORE: Kind.NUMERIC,
        Role.FEATURE: Kind.NUMERIC,
    }.get(role)


def _enum(enum: type[Role] | type[Kind], value: Any, column: str, key: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(m.value for m in enum)
        raise SchemaError(f"column {column!r}: {key} must be one of {valid}; got {value!r}") from None


def _bool(value: Any, column: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise SchemaError(f"column {column!r}: {key} must be true or false; got {value!r}")
    return value
