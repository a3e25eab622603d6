"""/v1/users: the people who sign in with a password, managed over HTTP (docs/review.md; decision 0042).

Every route needs the admin role, and an admin not limited to some models: a key (or a signed-in admin)
limited to one model could otherwise grant itself, or anyone, every other model. The answers never hold a
password or its hash. Each change is in the audit log under the caller (``user.create``, ``user.grant``,
``user.revoke``, ``user.role``, ``user.disable``, ``user.enable``); a change of role, grants or a disabling
applies to the user's sessions from their next request (disabling ends them).

Every route is one line over ``_read`` or ``_change`` (decision 0046): the check of the caller, the body,
the transaction and the answer are written once; each route keeps its own ``who: Admin`` (its policy in the
route matrix) and its words in ``deps.ACTIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loopwise.errors import ForbiddenError
from loopwise.server.auth import Principal
from loopwise.server.bodies import read_model
from loopwise.server.deps import Admin, in_write, read_factory
from loopwise.store.users import (
    StoredUser,
    create_user,
    get_user,
    grant,
    list_users,
    revoke,
    set_disabled,
    set_role,
)
from loopwise.wire.common import errors, json_body
from loopwise.wire.users import NewUser, NoBody, UserList, UserModels, UserOut, UserRole

router = APIRouter(prefix="/v1/users", tags=["users"])

B = TypeVar("B", bound=BaseModel)
T = TypeVar("T")

#: What a route that changes a user may answer besides 200/201.
CHANGE_ERRORS = errors(400, 403, 404, 413, 422)


def _out(u: StoredUser) -> UserOut:
    return UserOut(name=u.name, role=u.role, disabled=u.disabled, models=list(u.models))


def _unlimited(who: Principal) -> None:
    if who.model_id is not None or who.model_ids is not None:
        raise ForbiddenError(
            "an admin limited to some models may not manage users (it could grant any model): use an admin "
            "key or account that is not limited"
        )


async def _read(request: Request, who: Principal, look: Callable[[Session], T]) -> T:
    """``look(session)`` on a read session, for an admin not limited to some models."""
    _unlimited(who)

    def run() -> T:
        with read_factory(request)() as s:
            return look(s)

    return await run_in_threadpool(run)


async def _change(
    request: Request, who: Principal, body: type[B], change: Callable[[Session, B], StoredUser]
) -> UserOut:
    """Load: check the caller, read ``body`` (``NoBody`` may be left out); change: ``change(session,
    body)`` in one write transaction; answer: the user as changed."""
    _unlimited(who)
    got = await read_model(request, body, empty=body is NoBody)
    return await in_write(request, lambda s: _out(change(s, got)))


@router.get("", response_model=UserList, responses=errors(403))
async def users(request: Request, who: Admin) -> UserList:
    """Every user, with their role, models and whether they are disabled."""
    return await _read(request, who, lambda s: UserList(users=[_out(u) for u in list_users(s)]))


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(NewUser),
)
async def add(request: Request, who: Admin) -> UserOut:
    """Create a user (the password is hashed with argon2id and never stored or answered)."""
    return await _change(
        request,
        who,
        NewUser,
        lambda s, b: create_user(s, b.name, b.password, b.role, list(b.models), actor=who.actor),
    )


@router.get("/{name}", response_model=UserOut, responses=errors(403, 404))
async def user(name: str, request: Request, who: Admin) -> UserOut:
    return await _read(request, who, lambda s: _out(get_user(s, name)))


@router.post(
    "/{name}/grant", response_model=UserOut, responses=CHANGE_ERRORS, openapi_extra=json_body(UserModels)
)
async def grant_models(name: str, request: Request, who: Admin) -> UserOut:
    """Let the user work on more models."""
    return await _change(
        request, who, UserModels, lambda s, b: grant(s, name, list(b.models), actor=who.actor)
    )


@router.post(
    "/{name}/revoke", response_model=UserOut, responses=CHANGE_ERRORS, openapi_extra=json_body(UserModels)
)
async def revoke_models(name: str, request: Request, who: Admin) -> UserOut:
    """Take models back from the user (a reviewer keeps at least one)."""
    return await _change(
        request, who, UserModels, lambda s, b: revoke(s, name, list(b.models), actor=who.actor)
    )


@router.put(
    "/{name}/role", response_model=UserOut, responses=CHANGE_ERRORS, openapi_extra=json_body(UserRole)
)
async def change_role(name: str, request: Request, who: Admin) -> UserOut:
    """Give the user another role (admin, maintainer, reviewer, viewer)."""
    return await _change(request, who, UserRole, lambda s, b: set_role(s, name, b.role, actor=who.actor))


@router.post(
    "/{name}/disable", response_model=UserOut, responses=CHANGE_ERRORS, openapi_extra=json_body(NoBody)
)
async def disable(name: str, request: Request, who: Admin) -> UserOut:
    """Stop the user signing in and end their sessions."""
    return await _change(request, who, NoBody, lambda s, _: set_disabled(s, name, True, actor=who.actor))


@router.post(
    "/{name}/enable", response_model=UserOut, responses=CHANGE_ERRORS, openapi_extra=json_body(NoBody)
)
async def enable(name: str, request: Request, who: Admin) -> UserOut:
    """Let a disabled user sign in again."""
    return await _change(request, who, NoBody, lambda s, _: set_disabled(s, name, False, actor=who.actor))
