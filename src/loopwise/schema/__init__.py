"""Column roles and kinds, the Schema, and validation of incoming data."""

from loopwise.schema.columns import DRIFT_ROLES, Column, Kind, Role
from loopwise.schema.frames import DataLike, read_path, to_table
from loopwise.schema.schema import Schema, infer_kind
from loopwise.schema.validate import ValidationIssue, check, validate

__all__ = [
    "DRIFT_ROLES",
    "Column",
    "DataLike",
    "Kind",
    "Role",
    "Schema",
    "ValidationIssue",
    "check",
    "infer_kind",
    "read_path",
    "to_table",
    "validate",
]
