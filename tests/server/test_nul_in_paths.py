"""A NUL character (``%00``) in a path or query parameter (decision 0046). PostgreSQL refuses a NUL in a
text parameter, so a lookup of ``cre\\x00dit`` failed in the driver and answered 503 "the database refused
the request"; no name can hold one, so every route now refuses it as a 422 that names the parameter, on
both databases, before anything is looked up. The test walks every route of the application (API and
workspace), over real HTTP on loopback, with the model's name, then each other path parameter, holding one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
from fastapi.routing import APIRoute
from tests._fixtures import Running
from tests._fixtures.http import client, register

from loopwise.server import Settings, create_app

NUL = "cre\x00dit"


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"))
    app.state.writer.stop()
    app.state.engine.dispose()
    return sorted((m, r.path) for r in _api_routes(app.routes) for m in r.methods if "{" in r.path)


ROUTES = _routes()
#: A harmless value of each other path parameter: the model's own routes exist with these.
PLAIN = {"model": "credit", "gate_id": "1", "run_id": "1", "request_id": "1"}


def _path(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: quote(values.get(m[1], "x"), safe=""), template)


def _refused(r: httpx.Response, param: str) -> None:
    assert r.status_code == 422, (r.request.method, r.request.url, r.status_code, r.text)
    body = r.json()
    assert body["type"] == "ParameterError"
    assert body["error"].startswith(f"parameter {param!r} must be free of NUL characters"), body


def test_the_walk_covers_the_model_routes() -> None:
    with_model = [p for _, p in ROUTES if "{model}" in p]
    assert len(with_model) >= 60, with_model  # every route of a model, API and workspace
    assert ("GET", "/ui/models/{model}/task") in ROUTES and ("GET", "/v1/users/{name}") in ROUTES


def test_every_route_refuses_a_nul_in_a_path_parameter(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    for method, template in ROUTES:
        for param in re.findall(r"\{(\w+)", template):
            values = {**PLAIN, param: NUL}
            r = admin.request(method, _path(template, values), json={})
            _refused(r, param)
    # Nothing broke: the server answers, the model is as it was.
    assert admin.get("/v1/models/credit").status_code == 200


def test_a_nul_in_a_query_parameter(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    r = admin.get("/v1/models/credit/metrics", params={"reference": NUL})
    _refused(r, "reference")
