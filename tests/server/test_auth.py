"""Every route declares a policy; a role x route x model matrix over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.routing import APIRoute
from tests._fixtures import Running
from tests._fixtures.http import client, register

from loopwise.server import Settings, create_app
from loopwise.server.auth import POLICIES, ROLES
from loopwise.server.deps import policy_of


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, those of included routers too: FastAPI 0.165 keeps an included router as one
    ``_IncludedRouter`` entry of ``app.routes`` (its routes in ``original_router``), so a flat walk saw only
    /health and /metrics."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def _routes() -> list[tuple[str, str, str]]:
    app = create_app(Settings(database_url="sqlite://"))  # migrates the in-memory database
    out = []
    for route in _api_routes(app.routes):
        policy = policy_of([d.call for d in route.dependant.dependencies])
        assert policy is not None, f"route {route.path} declares no policy"
        for method in route.methods:
            out.append((method, route.path, policy))
    return out


def test_every_route_has_a_policy() -> None:
    routes = _routes()
    assert {p for _, _, p in routes} <= set(POLICIES) | {"public"}
    assert ("GET", "/health", "public") in routes
    assert len(routes) >= 30, routes  # the included routers' routes are walked too
    # Serving (decision 0029): predicting logs, as ingesting does; a background evaluation manages, as the
    # synchronous one; reading an alias or a job, a viewer's. The matrix below tries each with every role.
    assert {
        ("POST", "/v1/models/{model}/predict", "ingest"),
        ("GET", "/v1/models/{model}/aliases/{alias}", "read"),
        ("POST", "/v1/models/{model}/versions/{version}/evaluations", "manage"),
        ("GET", "/v1/models/{model}/jobs/{job}", "read"),
        # The review export names reviewers and holds gold answers: maintainers and admins only.
        ("GET", "/v1/models/{model}/review/export", "manage"),
        # Filling a stream's due increments now, as filling a window (decision 0042).
        ("POST", "/v1/models/{model}/review/stream", "manage"),
        # Reading the streamed day, as the statistics (which selector chose what: maintainers only).
        ("GET", "/v1/models/{model}/review/stream", "read"),
    } <= set(routes)
    # Users (decision 0042): managed by admins only (and by an admin not limited to a model:
    # tests/server/test_users_api.py); the matrix below tries each with every role.
    assert {
        ("GET", "/v1/users", "admin"),
        ("POST", "/v1/users", "admin"),
        ("GET", "/v1/users/{name}", "admin"),
        ("POST", "/v1/users/{name}/grant", "admin"),
        ("POST", "/v1/users/{name}/revoke", "admin"),
        ("PUT", "/v1/users/{name}/role", "admin"),
        ("POST", "/v1/users/{name}/disable", "admin"),
        ("POST", "/v1/users/{name}/enable", "admin"),
    } <= set(routes)
    # Monitors (decision 0035): declaring, changing, deleting and running them is a maintainer's; reading
    # them, their runs, series, incidents and deliveries a viewer's.
    assert {
        ("POST", "/v1/models/{model}/monitors", "manage"),
        ("PUT", "/v1/models/{model}/monitors/{name}", "manage"),
        ("DELETE", "/v1/models/{model}/monitors/{name}", "manage"),
        ("POST", "/v1/models/{model}/monitors/{name}/run", "manage"),
        ("GET", "/v1/models/{model}/monitors", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}/runs", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}/runs/{run_id}", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}/series", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}/incidents", "read"),
        ("GET", "/v1/models/{model}/monitors/{name}/deliveries", "read"),
    } <= set(routes)


def test_every_refusable_route_names_its_action_in_words() -> None:
    """A refusal says what was asked in words ("may not set the promotion policy"), not the function's name
    ("may not put policy", the trial)."""
    from loopwise.server.deps import ACTIONS

    refusable = {(m, p) for m, p, policy in _routes() if policy != "public" and m != "HEAD"}
    assert refusable - set(ACTIONS) == set(), "routes without words in deps.ACTIONS"
    assert set(ACTIONS) - refusable == set(), "words for routes that do not exist"
    assert all(words == words.strip() and "_" not in words for words in ACTIONS.values())


def test_role_by_route_matrix(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    register(admin, "other")
    keys = {role: server.key(role) for role in ROLES}
    scoped = server.key("admin", model="other")
    failures = []
    for method, path, policy in _routes():
        url = path.replace("{model}", "credit")
        anon = httpx.request(method, server.url + url, content=b"{}", timeout=30)
        if policy == "public":
            if anon.status_code in (401, 403):
                failures.append(f"{method} {path}: public, but anonymous got {anon.status_code}")
            continue
        if anon.status_code != 401:
            failures.append(f"{method} {path}: anonymous got {anon.status_code}, expected 401")
        for role, key in keys.items():
            r = httpx.request(
                method,
                server.url + url,
                content=b"{}",
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
            )
            allowed = role in POLICIES[policy]
            if allowed and r.status_code in (401, 403):
                failures.append(f"{method} {path}: {role} refused ({r.status_code})")
            if not allowed and r.status_code != 403:
                failures.append(f"{method} {path}: {role} got {r.status_code}, expected 403")
        if "{model}" in path:
            r = httpx.request(
                method,
                server.url + url,
                content=b"{}",
                timeout=30,
                headers={"Authorization": f"Bearer {scoped}"},
            )
            if r.status_code != 404:
                failures.append(f"{method} {path}: a key for another model got {r.status_code}, expected 404")
    bad = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer lw_nope_nope"})
    assert bad.status_code == 401
    listed = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {scoped}"}).json()
    assert [m["name"] for m in listed["models"]] == ["other"]
    assert not failures, "\n".join(failures)
