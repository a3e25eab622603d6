"""/v1/models: a model's registration and description."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ColumnSpec(BaseModel):
    """A column's role and kind (the Schema validates the values and names those allowed)."""

    model_config = ConfigDict(extra="allow")

    role: str | None = Field(
        None,
        description="id, timestamp, feature, prediction, score, target, segment, weight, latency or ignore",
    )
    kind: str | None = Field(
        None, description="numeric, categorical, boolean, text or datetime; left out: inferred, then fixed"
    )


class SchemaSpec(BaseModel):
    """A model's Schema as ``Schema.to_dict`` writes it (docs/schema.md): its columns, optionally its task."""

    model_config = ConfigDict(extra="allow")

    columns: dict[str, ColumnSpec | None]
    task: str | None = Field(None, description="binary, multiclass or regression; inferred when left out")
    positive: Any = Field(None, description="the positive class of a binary task")


class RegisterModel(BaseModel):
    """POST /v1/models: a name and the model's schema (one id and one timestamp column at least)."""

    name: str = Field(description="1-200 letters, digits, '-', '_' or '.'", examples=["credit"])
    schema_: SchemaSpec = Field(alias="schema")


class ModelInfo(BaseModel):
    """A registered model: its schema as stored (kinds inferred since registration included) and how many
    predictions it holds."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    schema_: SchemaSpec = Field(alias="schema")
    created_at: str = Field(description="ISO 8601, UTC")
    predictions: int


class ModelList(BaseModel):
    """GET /v1/models: the models the key may see, by name."""

    models: list[ModelInfo]
