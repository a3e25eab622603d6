"""/v1/users: the people who sign in with a password, managed over HTTP (docs/review.md; decision 0042).

Every route needs the admin role, and an admin not limited to some models: a key (or a signed-in admin)
limited to one model could otherwise grant itself, or anyone, every other model. The answers never hold a
password or its hash. Each change is in the audit log under the caller (``user.create``, ``user.grant``,
``user.revoke``, ``user.role``, ``user.disable``, ``user.enable``); a change of role, grants or a disabling
applies to the user's sessions from their next request (disabling ends them).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

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


def _out(u: StoredUser) -> UserOut:
    return UserOut(name=u.name, role=u.role, disabled=u.disabled, models=list(u.models))


def _unlimited(who: Principal) -> None:
    if who.model_id is not None or who.model_ids is not None:
        raise ForbiddenError(
            "an admin limited to some models may not manage users (it could grant any model): use an admin "
            "key or account that is not limited"
        )


@router.get("", response_model=UserList, responses=errors(403))
def users(request: Request, who: Admin) -> UserList:
    """Every user, with their role, models and whether they are disabled."""
    _unlimited(who)
    with read_factory(request)() as s:
        return UserList(users=[_out(u) for u in list_users(s)])


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(NewUser),
)
async def add(request: Request, who: Admin) -> UserOut:
    """Create a user (the password is hashed with argon2id and never stored or answered)."""
    _unlimited(who)
    body = await read_model(request, NewUser)
    return await in_write(
        request,
        lambda s: _out(
            create_user(s, body.name, body.password, body.role, list(body.models), actor=who.actor)
        ),
    )


@router.get("/{name}", response_model=UserOut, responses=errors(403, 404))
def user(name: str, request: Request, who: Admin) -> UserOut:
    _unlimited(who)
    with read_factory(request)() as s:
        return _out(get_user(s, name))


@router.post(
    "/{name}/grant",
    response_model=UserOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(UserModels),
)
async def grant_models(name: str, request: Request, who: Admin) -> UserOut:
    """Let the user work on more models."""
    _unlimited(who)
    body = await read_model(request, UserModels)
    return await in_write(request, lambda s: _out(grant(s, name, list(body.models), actor=who.actor)))


@router.post(
    "/{name}/revoke",
    response_model=UserOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(UserModels),
)
async def revoke_models(name: str, request: Request, who: Admin) -> UserOut:
    """Take models back from the user (a reviewer keeps at least one)."""
    _unlimited(who)
    body = await read_model(request, UserModels)
    return await in_write(request, lambda s: _out(revoke(s, name, list(body.models), actor=who.actor)))


@router.put(
    "/{name}/role",
    response_model=UserOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(UserRole),
)
async def change_role(name: str, request: Request, who: Admin) -> UserOut:
    """Give the user another role (admin, maintainer, reviewer, viewer)."""
    _unlimited(who)
    body = await read_model(request, UserRole)
    return await in_write(request, lambda s: _out(set_role(s, name, body.role, actor=who.actor)))


@router.post(
    "/{name}/disable",
    response_model=UserOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(NoBody),
)
async def disable(name: str, request: Request, who: Admin) -> UserOut:
    """Stop the user signing in and end their sessions."""
    _unlimited(who)
    await read_model(request, NoBody, empty=True)
    return await in_write(request, lambda s: _out(set_disabled(s, name, True, actor=who.actor)))


@router.post(
    "/{name}/enable",
    response_model=UserOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(NoBody),
)
async def enable(name: str, request: Request, who: Admin) -> UserOut:
    """Let a disabled user sign in again."""
    _unlimited(who)
    await read_model(request, NoBody, empty=True)
    return await in_write(request, lambda s: _out(set_disabled(s, name, False, actor=who.actor)))
