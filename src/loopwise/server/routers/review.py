"""/v1/models/{model}/review/...: the review queue over HTTP (docs/review.md; decision 0036).

Setting the policy, filling the queue (over a window, or a stream's due increments now; decision 0042),
listing tasks with their labels, exporting them (Parquet), adding gold items, adjudicating and resuming a
paused reviewer need the maintainer or admin role (the list and the export name each reviewer and hold gold
answers, which a reviewer must not see); taking, answering and
skipping tasks, the reviewer role (or higher); reading the policy and the statistics, a viewer's. A
reviewer is who the request authenticates as: a signed-in user (``user:NAME``) or an API key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loopwise.ingest import get_model
from loopwise.review import (
    add_gold,
    adjudicate,
    export_review,
    fill,
    get_policy,
    list_tasks,
    next_task,
    resume,
    review_stats,
    set_policy,
    skip,
    stream_day,
    stream_model,
    submit,
)
from loopwise.server.bodies import read_model
from loopwise.server.deps import Manager, Reader, Reviewer, factory, in_write, read_factory
from loopwise.server.routers.registry import as_utc
from loopwise.wire.common import errors, json_body
from loopwise.wire.review import (
    AddGold,
    Adjudicate,
    ClaimTask,
    GoldAdded,
    NextReviewTask,
    ResumeReviewer,
    ReviewDone,
    ReviewerResumed,
    ReviewFillBody,
    ReviewFillOut,
    ReviewPolicySpec,
    ReviewStats,
    ReviewStreamBody,
    ReviewStreamed,
    ReviewTaskList,
    ReviewTaskOut,
    SkipTask,
    StreamDay,
    SubmitReview,
)

router = APIRouter(prefix="/v1/models/{model}/review", tags=["review"])


@router.get("/policy", response_model=ReviewPolicySpec, responses=errors(403, 404))
def read_policy(model: str, request: Request, who: Reader) -> Any:
    with read_factory(request)() as s:
        return get_policy(s, model)


@router.put(
    "/policy",
    response_model=ReviewPolicySpec,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(ReviewPolicySpec),
)
async def put_policy(model: str, request: Request, who: Manager) -> Any:
    """Set the model's review policy (checked by building it: selectors, shares, the random slice)."""
    body = await read_model(request, ReviewPolicySpec)
    spec = body.model_dump(exclude_none=True)

    return await in_write(request, lambda s: set_policy(s, model, spec, who.actor))


@router.post(
    "/fill",
    response_model=ReviewFillOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(ReviewFillBody),
)
async def fill_queue(model: str, request: Request, who: Manager) -> Any:
    """Run the policy over a window's logged events and queue the tasks it draws."""
    body = await read_model(request, ReviewFillBody)

    return await in_write(
        request, lambda s: fill(s, model, as_utc(body.start), as_utc(body.end), who.actor, seed=body.seed)
    )


@router.get("/stream", response_model=StreamDay, responses=errors(403, 404))
def read_stream(model: str, request: Request, who: Reader) -> StreamDay:
    """The streamed day the workspace shows (decision 0046): its increments with events, the budget spent and
    left; which selector chose how many only for maintainers and admins (review stays blind)."""
    with read_factory(request)() as s:
        day = stream_day(s, model, selectors=who.role in ("admin", "maintainer"))
    return StreamDay.model_validate({"model": model, **(day or {})})


@router.post(
    "/stream",
    response_model=ReviewStreamed,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(ReviewStreamBody),
)
async def stream_now(model: str, request: Request, who: Manager) -> ReviewStreamed:
    """Fill the streaming policy's due increments now (the server also does every few seconds)."""
    body = await read_model(request, ReviewStreamBody, empty=True)
    until = as_utc(body.until) if body.until is not None else None

    def work() -> ReviewStreamed:
        return ReviewStreamed(fills=stream_model(factory(request), model, until=until))

    return await run_in_threadpool(work)


@router.post(
    "/tasks/next",
    response_model=NextReviewTask,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(ClaimTask),
)
async def claim(model: str, request: Request, who: Reviewer) -> NextReviewTask:
    """The caller's next task (the one they hold, if any); blind to every other label."""
    await read_model(request, ClaimTask, empty=True)

    return await in_write(
        request, lambda s: NextReviewTask.model_validate({"task": next_task(s, model, who.actor)})
    )


@router.post(
    "/tasks/{task}/submit",
    response_model=ReviewDone,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(SubmitReview),
)
async def submit_task(model: str, task: str, request: Request, who: Reviewer) -> ReviewDone:
    """Answer a task the caller holds; the label becomes Feedback once the task resolves."""
    body = await read_model(request, SubmitReview)

    def work(s: Session) -> ReviewDone:
        out = submit(s, model, who.actor, task, body.label, who.actor, comment=body.comment)
        return ReviewDone.model_validate(out)

    return await in_write(request, work)


@router.post(
    "/tasks/{task}/skip",
    response_model=ReviewDone,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(SkipTask),
)
async def skip_task(model: str, task: str, request: Request, who: Reviewer) -> ReviewDone:
    """Give a held task back: another reviewer gets it, the caller never again."""
    body = await read_model(request, SkipTask, empty=True)

    return await in_write(
        request,
        lambda s: ReviewDone.model_validate(skip(s, model, who.actor, task, who.actor, reason=body.reason)),
    )


@router.post(
    "/tasks/{task}/adjudicate",
    response_model=ReviewTaskOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(Adjudicate),
)
async def adjudicate_task(model: str, task: str, request: Request, who: Manager) -> ReviewTaskOut:
    """Decide a tied or suspect task."""
    body = await read_model(request, Adjudicate)

    return await in_write(
        request, lambda s: ReviewTaskOut.model_validate(adjudicate(s, model, task, body.label, who.actor))
    )


@router.get("/tasks", response_model=ReviewTaskList, responses=errors(403, 404))
def tasks(
    model: str, request: Request, who: Manager, state: str | None = None, limit: int = 100
) -> ReviewTaskList:
    """The queue's tasks with every reviewer's label (maintainers only: reviewers work blind)."""
    with read_factory(request)() as s:
        return ReviewTaskList.model_validate({"tasks": list_tasks(s, model, state, limit)})


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "the queue's tasks and labels, one row per task and reviewer, as Parquet",
            "content": {"application/x-parquet": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(403, 404),
    },
)
def export(model: str, request: Request, who: Manager) -> Response:
    """Every task with its selector, inclusion probability and fill window, and every reviewer's label,
    comment and gold outcome (maintainers only: it names reviewers and holds gold answers)."""
    with read_factory(request)() as s:
        data = export_review(s, model)
    name = f"{model}-review.parquet".encode("ascii", "replace").decode("ascii").replace('"', "_")
    return Response(
        data,
        media_type="application/x-parquet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/gold",
    response_model=GoldAdded,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(AddGold),
)
async def gold(model: str, request: Request, who: Manager) -> GoldAdded:
    """Add gold items: logged events with known answers, mixed into reviewers' tasks at the gold rate."""
    body = await read_model(request, AddGold)
    items = [i.model_dump() for i in body.items]

    return await in_write(request, lambda s: GoldAdded.model_validate(add_gold(s, model, items, who.actor)))


@router.post(
    "/reviewers/{reviewer}/resume",
    response_model=ReviewerResumed,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(ResumeReviewer),
)
async def resume_reviewer(model: str, reviewer: str, request: Request, who: Manager) -> ReviewerResumed:
    """Let a paused reviewer work again, clearing (or discarding) their suspect labels."""
    body = await read_model(request, ResumeReviewer, empty=True)

    def work(s: Session) -> ReviewerResumed:
        m = get_model(s, model)
        return ReviewerResumed.model_validate(resume(s, m, reviewer, body.clear, who.actor))

    return await in_write(request, work)


@router.get("/stats", response_model=ReviewStats, responses=errors(403, 404))
def stats(model: str, request: Request, who: Reader) -> ReviewStats:
    with read_factory(request)() as s:
        return ReviewStats.model_validate(review_stats(s, model))
