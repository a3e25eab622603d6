"""The request bodies' schemas, added to the document FastAPI generates.

The server reads request bodies itself (a size limit while reading, strict JSON, Arrow and Parquet), so
FastAPI never sees them as parameters and would leave them out; each route declares its body with
``json_body``/``binary_body`` (a ``$ref`` to a component), and this adds the components.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from loopwise.wire.events import FeedbackBatch, PredictionBatch
from loopwise.wire.gate import Approve, Force, PolicyBody, Promote, Rollback, RunGate
from loopwise.wire.models import RegisterModel
from loopwise.wire.monitoring import PinReference, RunChecks
from loopwise.wire.monitors import MonitorBody, RunMonitors
from loopwise.wire.registry import EvaluateVersion, RegisterVersion, SetAlias, ShadowOutputs
from loopwise.wire.review import (
    AddGold,
    Adjudicate,
    ClaimTask,
    Login,
    ResumeReviewer,
    ReviewFillBody,
    ReviewPolicySpec,
    ReviewStreamBody,
    SignOut,
    SkipTask,
    SubmitReview,
)
from loopwise.wire.serving import PredictRows
from loopwise.wire.users import NewUser, NoBody, UserModels, UserRole

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    RegisterModel,
    PredictionBatch,
    FeedbackBatch,
    PinReference,
    RunChecks,
    RegisterVersion,
    SetAlias,
    RunGate,
    Promote,
    Force,
    Rollback,
    PolicyBody,
    Approve,
    EvaluateVersion,
    ShadowOutputs,
    PredictRows,
    ReviewPolicySpec,
    ReviewFillBody,
    ReviewStreamBody,
    SubmitReview,
    Adjudicate,
    AddGold,
    ResumeReviewer,
    Login,
    ClaimTask,
    SkipTask,
    SignOut,
    MonitorBody,
    RunMonitors,
    NewUser,
    UserModels,
    UserRole,
    NoBody,
)


def with_request_bodies(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the schemas of ``REQUEST_MODELS`` (and the models they use) among its components."""
    _, top = models_json_schema(
        [(m, "validation") for m in REQUEST_MODELS], ref_template="#/components/schemas/{model}"
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    return doc
