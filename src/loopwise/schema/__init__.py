"""Column roles and kinds, the Schema, and validation of incoming data."""

from loopwise.schema.columns import DRIFT_ROLES, Column, Kind, Role, Task
from loopwise.schema.frames import DataLike, read_path, to_table
from loopwise.schema.inference import infer_kind
from loopwise.schema.schema import Schema
from loopwise.schema.validate import ValidationIssue, check, validate

__all__ = [
    "DRIFT_ROLES",
    "Column",
    "DataLike",
    "Kind",
    "Role",
    "Schema",
    "Task",
    "ValidationIssue",
    "check",
    "infer_kind",
    "read_path",
    "to_table",
    "validate",
]
