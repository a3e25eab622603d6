"""/v1/auth: signing in with a password for a session cookie, signing out, and who is signed in."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from loopwise.errors import AuthenticationError
from loopwise.ingest import model_names
from loopwise.server.bodies import read_model
from loopwise.server.deps import Public, Reader, factory, read_factory
from loopwise.server.sessions import SESSION_COOKIE, set_cookie, sign_in
from loopwise.store import transaction
from loopwise.store.users import close_session
from loopwise.wire.common import errors, json_body
from loopwise.wire.review import Login, SignedIn, SignedOut, SignOut

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/login", response_model=SignedIn, responses=errors(401, 413, 422, 429), openapi_extra=json_body(Login)
)
async def login(request: Request, response: Response, _: Public) -> SignedIn:
    """Sign in: sets the HttpOnly session cookie and answers the session's CSRF token. Failed attempts are
    limited per name and per address (429 past the limit)."""
    body = await read_model(request, Login)
    found = await run_in_threadpool(sign_in, request, body.name, body.password)
    if found is None:
        raise AuthenticationError("wrong name or password")
    user, token, csrf = found
    set_cookie(request, response, token)
    return SignedIn(user=user.name, role=user.role, models=list(user.models), csrf_token=csrf)


@router.post(
    "/logout", response_model=SignedOut, responses=errors(400, 413, 422), openapi_extra=json_body(SignOut)
)
async def logout(request: Request, response: Response, _: Public) -> SignedOut:
    """End the session of the cookie sent (if any) and clear the cookie."""
    await read_model(request, SignOut, empty=True)
    token = request.cookies.get(SESSION_COOKIE)
    if token:

        def work() -> None:
            with transaction(factory(request)) as s:
                close_session(s, token)

        await run_in_threadpool(work)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return SignedOut(signed_out=bool(token))


@router.get("/me", response_model=SignedIn, responses=errors(401, 403))
def me(request: Request, who: Reader) -> SignedIn:
    """The signed-in user (or the API key), the models it may work on (every model's name when it is not
    limited to some) and, for a session, its CSRF token."""
    ids = who.model_ids if who.user is not None else (None if who.model_id is None else {who.model_id})
    with read_factory(request)() as s:
        models = model_names(s, ids)
    return SignedIn(user=who.user or who.actor, role=who.role, models=models, csrf_token=who.csrf or "")
