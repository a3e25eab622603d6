"""The gate, promotion, rollback, history and the audit trail over HTTP (docs/registry.md; decisions 0027,
0028).

Running a gate, promoting, approving and rolling back need the maintainer or admin role (an approval also
another key than the request's); forcing a promotion and setting the promotion policy, an admin's; reading
gate results, promotions, history and the audit trail, a viewer's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from loopwise.registry import (
    approve,
    force,
    gate_result,
    gate_results,
    history_at,
    policy,
    promote,
    promotions,
    rollback,
    run_gate,
    set_policy,
    verify,
)
from loopwise.registry.audit import entries
from loopwise.server.bodies import read_model
from loopwise.server.deps import Admin, Manager, Reader, RowId, factory, read_factory
from loopwise.server.routers.registry import as_utc, moves_out
from loopwise.store import transaction
from loopwise.wire.common import errors, json_body
from loopwise.wire.gate import (
    Approve,
    AuditEntryOut,
    AuditList,
    Force,
    GateList,
    GateOut,
    HistoryOut,
    PolicyBody,
    Promote,
    PromotionList,
    PromotionOut,
    Rollback,
    RunGate,
    VerificationOut,
)
from loopwise.wire.registry import AliasMoves

router = APIRouter(prefix="/v1/models/{model}", tags=["gate"])


def _out(model: type[BaseModel], value: Any) -> Any:
    return model.model_validate(value.to_dict())


@router.post(
    "/versions/{version}/gate",
    response_model=GateOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(RunGate),
)
async def run(model: str, version: str, request: Request, who: Manager) -> GateOut:
    """Run a gate suite on the version against the champion over a window's paired events; the result is
    stored (its id is the evidence a promotion cites) and appended to the audit trail."""
    body = await read_model(request, RunGate, empty=True)

    def work() -> GateOut:
        found = run_gate(
            factory(request),
            read_factory(request),
            model,
            version,
            body.suite,
            as_utc(body.start),
            as_utc(body.end),
            champion=body.champion,
            actor=who.actor,
        )
        out: GateOut = _out(GateOut, found)
        return out

    return await run_in_threadpool(work)


@router.get("/gates", response_model=GateList, responses=errors(403, 404))
def list_gates(model: str, request: Request, who: Reader, version: str | None = None) -> GateList:
    """The model's gate results (of one version), newest first."""
    with read_factory(request)() as s:
        return GateList(gates=[_out(GateOut, g) for g in gate_results(s, model, version)])


@router.get("/gates/{gate_id}", response_model=GateOut, responses=errors(403, 404))
def one_gate(model: str, gate_id: RowId, request: Request, who: Reader) -> GateOut:
    with read_factory(request)() as s:
        out: GateOut = _out(GateOut, gate_result(s, model, gate_id))
        return out


@router.post(
    "/versions/{version}/promote",
    response_model=PromotionOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(Promote),
)
async def promote_version(model: str, version: str, request: Request, who: Manager) -> PromotionOut:
    """Promote the version as the model's policy allows: moved now when its latest gate result passed, or
    a pending request another maintainer or admin approves."""
    body = await read_model(request, Promote, empty=True)

    def work() -> PromotionOut:
        with transaction(factory(request)) as s:
            out: PromotionOut = _out(PromotionOut, promote(s, model, version, body.alias, actor=who.actor))
            return out

    return await run_in_threadpool(work)


@router.post(
    "/versions/{version}/force",
    response_model=PromotionOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(Force),
)
async def force_version(model: str, version: str, request: Request, who: Admin) -> PromotionOut:
    """An admin's promotion without the gate or an approval; the reason is required and recorded."""
    body = await read_model(request, Force, empty=True)

    def work() -> PromotionOut:
        with transaction(factory(request)) as s:
            found = force(s, model, version, body.alias, reason=body.reason, actor=who.actor)
            out: PromotionOut = _out(PromotionOut, found)
            return out

    return await run_in_threadpool(work)


@router.post(
    "/promotions/{request_id}/approve",
    response_model=PromotionOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(Approve),
)
async def approve_request(model: str, request_id: RowId, request: Request, who: Manager) -> PromotionOut:
    """Approve a pending promotion (not the requester's own key) and move the alias."""
    body = await read_model(request, Approve, empty=True)

    def work() -> PromotionOut:
        with transaction(factory(request)) as s:
            found = approve(s, model, request_id, actor=who.actor, comment=body.comment)
            out: PromotionOut = _out(PromotionOut, found)
            return out

    return await run_in_threadpool(work)


@router.get("/promotions", response_model=PromotionList, responses=errors(403, 404))
def list_promotions(model: str, request: Request, who: Reader, status: str | None = None) -> PromotionList:
    with read_factory(request)() as s:
        return PromotionList(promotions=[_out(PromotionOut, p) for p in promotions(s, model, status)])


@router.post(
    "/rollback",
    response_model=AliasMoves,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(Rollback),
)
async def rollback_alias(model: str, request: Request, who: Manager) -> AliasMoves:
    """Move the alias (champion by default) back to the version that held it before its last move."""
    body = await read_model(request, Rollback, empty=True)

    def work() -> AliasMoves:
        with transaction(factory(request)) as s:
            return moves_out(rollback(s, model, body.alias, actor=who.actor, reason=body.reason))

    return await run_in_threadpool(work)


@router.get("/promotion-policy", response_model=PolicyBody, responses=errors(403, 404))
def get_policy(model: str, request: Request, who: Reader) -> PolicyBody:
    with read_factory(request)() as s:
        return PolicyBody.model_validate({"mode": policy(s, model)})


@router.put(
    "/promotion-policy",
    response_model=PolicyBody,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(PolicyBody),
)
async def put_policy(model: str, request: Request, who: Admin) -> PolicyBody:
    """Set what a promotion needs (an admin's decision: it can lift the need for an approval)."""
    body = await read_model(request, PolicyBody, empty=True)

    def work() -> PolicyBody:
        with transaction(factory(request)) as s:
            return PolicyBody.model_validate({"mode": set_policy(s, model, body.mode, actor=who.actor)})

    return await run_in_threadpool(work)


@router.get("/history", response_model=HistoryOut, responses=errors(403, 404, 422))
def history(
    model: str,
    request: Request,
    who: Reader,
    at: dt.datetime | None = None,
    alias: str = "champion",
    around_minutes: float = 60.0,
) -> HistoryOut:
    """What held the alias at ``at`` (ISO 8601; no zone: UTC; default now), who promoted it, the gate result
    that allowed it, and the events served around then (``around_minutes`` either side)."""
    from loopwise.errors import ParameterError

    if not 0 < around_minutes <= 60 * 24 * 366:
        raise ParameterError("around_minutes", around_minutes, "a number of minutes above 0, at most a year")
    with read_factory(request)() as s:
        when = dt.datetime.now(dt.UTC) if at is None else as_utc(at)
        found = history_at(s, model, when, alias, dt.timedelta(minutes=around_minutes))
        out: HistoryOut = _out(HistoryOut, found)
        return out


@router.get("/audit", response_model=AuditList, responses=errors(403, 404))
def audit(model: str, request: Request, who: Reader) -> AuditList:
    """The model's audit entries, oldest first, with their hashes (``loopwise audit export``)."""
    with read_factory(request)() as s:
        return AuditList(entries=[AuditEntryOut.model_validate(e) for e in entries(s, model)])


@router.get("/audit/verify", response_model=VerificationOut, responses=errors(403, 404))
def audit_verify(model: str, request: Request, who: Reader, head: str | None = None) -> VerificationOut:
    """Recompute the model's audit chain: whether it is intact, else the first entry that breaks it; ``head``:
    a head hash kept elsewhere, which the chain must still hold."""
    with read_factory(request)() as s:
        return VerificationOut.model_validate(verify(s, model, head).to_dict())
