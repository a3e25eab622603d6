"""The workspace's pages. They are ``public`` in the API's role matrix (no API key is asked for): each
page checks the session cookie itself and sends a visitor without one to the sign-in page; every form
carries a CSRF token (the session's, or for the sign-in form a double-submit cookie), and a form without
the right one is refused (400) before anything is done."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from loopwise.errors import ForbiddenError, LoopwiseError, NotFoundError, RateLimitError
from loopwise.ingest import get_model, model_schema, registered
from loopwise.review import next_task, progress, skip, stream_day, submit
from loopwise.schema import Kind, Role
from loopwise.server.auth import Principal
from loopwise.server.deps import Public
from loopwise.server.sessions import SESSION_COOKIE, session_principal, set_cookie, sign_in
from loopwise.store import transaction
from loopwise.store.users import close_session
from loopwise.ui.insight import Insights

router = APIRouter(prefix="/ui", include_in_schema=False)
LOGIN_CSRF = "lw_login_csrf"
MAX_FORM = 64 * 1024

_env = Environment(
    loader=PackageLoader("loopwise.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**values)
    resp = HTMLResponse(html, status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'"
    )
    return resp


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form, each field's last non-empty value (bounded in size)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: next((v for v in reversed(vs) if v), "") for k, vs in fields.items()}


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def refused() -> HTMLResponse:
    return render(
        "message.html",
        400,
        heading="Form refused",
        message="The form's token is missing or wrong; reload it.",
    )


def to_login(request: Request | None = None) -> RedirectResponse:
    """To the sign-in page; for a page read with GET, back to that page once signed in."""
    if request is not None and request.method == "GET":
        raw = request.scope.get("raw_path") or quote(request.url.path).encode()
        here = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
        if _local(here) and here != "/ui/":  # the home page is where sign-in goes anyway
            return RedirectResponse(f"/ui/login?next={quote(here, safe='')}", status_code=303)
    return RedirectResponse("/ui/login", status_code=303)


def _local(path: str | None) -> bool:
    """Whether ``path`` is a workspace page of this server, safe to send a browser to after sign-in (not
    another host: no ``//`` or backslash, nothing outside /ui/, no control character)."""
    if not path or len(path) > 2000:
        return False
    return path.startswith("/ui/") and "//" not in path and "\\" not in path and path.isprintable()


def _kind(request: Request, model: str) -> Kind | None:
    """The label's kind: the target's, or while no label has fixed it, the prediction's."""
    with request.app.state.read_sessions() as s:
        schema = model_schema(get_model(s, model))
    for role in (Role.TARGET, Role.PREDICTION):
        cols = schema.by_role(role)
        if cols and cols[0].kind is not None:
            return cols[0].kind
    return None


def _label(request: Request, model: str, text: str) -> Any:
    """The form's label text as the label's kind wants it (a boolean, a number, or text)."""
    kind = _kind(request, model)
    if kind == Kind.BOOLEAN and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == Kind.NUMERIC:
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text
    return text


def _choices(request: Request, model: str) -> list[str]:
    return ["true", "false"] if _kind(request, model) == Kind.BOOLEAN else []


def insights(request: Request) -> Insights:
    """The application's explanation caches (one per app; the loaded versions shared with serving)."""
    state = request.app.state
    found: Insights | None = getattr(state, "insights", None)
    if found is None:
        from loopwise.registry.predictors import PredictorCache
        from loopwise.server.routers.registry import registry_settings

        if getattr(state, "predictors", None) is None:
            state.predictors = PredictorCache()
        registry, store = registry_settings(request)
        found = state.insights = Insights(registry, store, state.predictors)
    return found


def visible(request: Request, who: Principal, model: str) -> bool:
    """Whether the model exists and the user may see it (any role: reading its monitors)."""
    with request.app.state.read_sessions() as s:
        try:
            mid = registered(s, model)[0]
        except NotFoundError:
            return False
    return who.may_see(mid)


def _model_ok(request: Request, who: Principal, model: str) -> bool:
    """Whether the user may review the model: sees it, with a role that reviews."""
    return who.role in ("admin", "maintainer", "reviewer") and visible(request, who, model)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, _: Public, next: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    after = next if _local(next) else ""
    resp = render("login.html", login_csrf=token, name="", message="", after=after)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/ui/login")
    return resp


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, _: Public) -> Response:
    f = await form(request)
    if not _same(f.get("csrf"), request.cookies.get(LOGIN_CSRF)):
        return refused()
    name, password = f.get("name", "")[:200], f.get("password", "")[:1000]
    after = f.get("next", "") if _local(f.get("next")) else ""
    try:
        found = await run_in_threadpool(sign_in, request, name, password) if name and password else None
    except RateLimitError as e:
        return _login_again(name, str(e), 429, after)
    if found is None:
        return _login_again(name, "Wrong name or password.", 401, after)
    token = found[1]
    resp = RedirectResponse(after or "/ui/", status_code=303)
    set_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF, path="/ui/login")
    return resp


def _login_again(name: str, message: str, status: int, after: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render("login.html", status, login_csrf=token, name=name, message=message, after=after)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/ui/login")
    return resp


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request, _: Public) -> Response:
    who = await run_in_threadpool(session_principal, request)
    if who is None:
        return to_login()
    if not _same((await form(request)).get("csrf"), who.csrf):
        return refused()
    token = request.cookies.get(SESSION_COOKIE, "")

    def work() -> None:
        with transaction(request.app.state.sessions) as s:
            close_session(s, token)

    await run_in_threadpool(work)
    resp = to_login()
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request, _: Public) -> Response:
    who = session_principal(request)
    if who is None:
        return to_login(request)
    from loopwise.monitors import list_monitors
    from loopwise.store.catalog import model_summaries

    with request.app.state.read_sessions() as s:
        names = [m.name for m in model_summaries(s)]
        models, monitors = [], []
        for name in names:
            if _model_ok(request, who, name):
                p = progress(s, name, who.actor)
                streamed = p["fill"] is not None and p["fill"]["mode"] == "stream"
                models.append({"name": name, "progress": p, "stream": streamed})
            if who.may_see(registered(s, name)[0]):
                monitors += [(name, m.spec.name, m.runs) for m in list_monitors(s, name)]
    return render("home.html", user=who.user, csrf=who.csrf, models=models, monitors=monitors)


@router.get("/models/{model}/task", response_class=HTMLResponse)
def task_page(model: str, request: Request, _: Public) -> Response:
    who = session_principal(request)
    if who is None:
        return to_login(request)
    if not _model_ok(request, who, model):
        return _not_found(who, model)
    try:
        with transaction(request.app.state.sessions) as s:
            task = next_task(s, model, who.actor)
            done = progress(s, model, who.actor)
    except ForbiddenError as e:
        return render("message.html", 403, user=who.user, csrf=who.csrf, heading="Paused", message=str(e))
    if task is None:
        return render(
            "message.html",
            user=who.user,
            csrf=who.csrf,
            heading="All done",
            message="The queue has no task for you right now.",
            progress=done,
        )
    with request.app.state.read_sessions() as s:
        insight = insights(request).of(s, model, task["event_id"], task["features"])
    return render(
        "task.html",
        user=who.user,
        csrf=who.csrf,
        model=model,
        task=task,
        choices=_choices(request, model),
        progress=done,
        insight=insight,
        bars=_bars(insight),
    )


@router.get("/models/{model}/stream", response_class=HTMLResponse)
def stream_page(model: str, request: Request, _: Public) -> Response:
    """A streamed day's increments (decision 0046): when each was filled, its events, budget and tasks, the
    day's budget spent and left. Which selector chose how many is shown to maintainers and admins only: a
    reviewer could match an increment of one task to the task in front of them, and review is blind."""
    who = session_principal(request)
    if who is None:
        return to_login(request)
    if not _model_ok(request, who, model):
        return _not_found(who, model)
    with request.app.state.read_sessions() as s:
        day = stream_day(s, model)
    if day is None:
        return render(
            "message.html",
            user=who.user,
            csrf=who.csrf,
            heading="No stream",
            message=f"Model {model!r} is reviewed over windows asked for, not as events arrive.",
        )
    return render(
        "stream.html",
        user=who.user,
        csrf=who.csrf,
        model=model,
        day=day,
        selectors=who.role in ("admin", "maintainer"),
    )


def _not_found(who: Any, model: str) -> Response:
    """A model the user may not work on answers as one that does not exist (no hint that it does)."""
    return render(
        "message.html",
        404,
        user=who.user,
        csrf=who.csrf,
        heading="Not found",
        message=f"No model named {model!r}.",
    )


def _bars(insight: Any) -> list[dict[str, Any]]:
    """The explanation's bars: each contribution's width and side as shares of the largest (an SVG drawn
    by the template; no script, nothing from outside)."""
    if insight.shap is not None:
        items = [(c["feature"], float(c["value"])) for c in insight.shap["contributions"]]
    else:
        items = [(p["feature"], float(p["unusual"])) for p in insight.furthest]
    top = max((abs(v) for _, v in items), default=0.0) or 1.0
    return [{"feature": f, "value": v, "width": round(100 * abs(v) / top, 1), "up": v >= 0} for f, v in items]


@router.post("/models/{model}/tasks/{task}", response_class=HTMLResponse)
async def answer(model: str, task: str, request: Request, _: Public) -> Response:
    who = await run_in_threadpool(session_principal, request)
    if who is None:
        return to_login()
    f = await form(request)
    if not _same(f.get("csrf"), who.csrf):
        return refused()
    if not await run_in_threadpool(_model_ok, request, who, model):
        return _not_found(who, model)

    def work() -> None:
        with transaction(request.app.state.sessions) as s:
            if f.get("action") == "skip":
                skip(s, model, who.actor, task, who.actor)
            else:
                label = _label(request, model, f.get("label", ""))
                submit(s, model, who.actor, task, label, who.actor, comment=f.get("comment") or None)

    try:
        await run_in_threadpool(work)
    except LoopwiseError as e:
        status = e.http_status if 400 <= e.http_status < 500 else 500
        return render(
            "message.html",
            status,
            user=who.user,
            csrf=who.csrf,
            heading="Not saved",
            message=e.args[0] if e.args else str(e),
        )
    return RedirectResponse(f"/ui/models/{quote(model, safe='')}/task", status_code=303)


def is_page(path: str) -> bool:
    """Whether ``path`` is in the workspace (/ui), where a browser is answered with pages, not JSON."""
    return path == "/ui" or path.startswith("/ui/")


async def page_not_found(request: Request) -> Response:
    """A path under /ui that is no page (``/ui/models/credit``, a mistyped link): an HTML 404 in the
    signed-in layout, the path shown as text; a visitor not signed in is sent to sign in first, as by
    every page (nothing says which paths exist). The API under /v1 keeps its JSON 404."""

    def work() -> Response:
        who = session_principal(request)
        if who is None:
            return to_login(request if request.method == "GET" else None)
        message = f"There is no page at {request.url.path}."
        return render("message.html", 404, user=who.user, csrf=who.csrf, heading="Not found", message=message)

    return await run_in_threadpool(work)
