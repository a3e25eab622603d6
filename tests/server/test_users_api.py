"""Managing users over HTTP (decision 0042), on a real server on loopback (SQLite and PostgreSQL): an admin
adds, lists, grants, revokes, changes roles and disables through the SDK; each change reaches a user's live
session at its next request; a key limited to one model may not manage users; both clients answer alike."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests._fixtures import Running
from tests._fixtures.http import client, register, sdk

import loopwise as lw
from loopwise.errors import ConflictError, ForbiddenError, NotFoundError, ParameterError
from loopwise.store import make_engine, session_factory
from loopwise.store.tables import AuditEntry

PASSWORD = "correct horse battery"


def _sign_in(server: Running, name: str) -> httpx.Client:
    r = httpx.post(server.url + "/v1/auth/login", json={"name": name, "password": PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    c = httpx.Client(base_url=server.url, cookies=r.cookies, timeout=60)
    server.clients.append(c)
    return c


def test_an_admin_manages_users_and_sessions_follow(server: Running) -> None:
    http = client(server)
    register(http, "credit")
    register(http, "fraud")
    admin = sdk(server)
    ana = admin.add_user("ana", PASSWORD, role="reviewer", models=["credit"])
    assert ana == {"name": "ana", "role": "reviewer", "disabled": False, "models": ["credit"]}
    session = _sign_in(server, "ana")
    assert session.get("/v1/auth/me").json()["models"] == ["credit"]
    assert session.get("/v1/models/fraud/review/stats").status_code == 404  # not granted: not there

    assert admin.grant_models("ana", ["fraud", "fraud"])["models"] == ["credit", "fraud"]
    assert session.get("/v1/auth/me").json()["models"] == ["credit", "fraud"]  # the same session
    assert session.get("/v1/models/fraud/review/stats").status_code == 200
    assert session.get("/v1/models/credit/review/tasks").status_code == 403  # a maintainer's
    assert admin.set_role("ana", "maintainer")["role"] == "maintainer"
    assert session.get("/v1/models/credit/review/tasks").status_code == 200
    assert admin.revoke_models("ana", ["fraud"])["models"] == ["credit"]
    assert session.get("/v1/models/fraud/review/stats").status_code == 404

    listed = admin.users()
    assert [u["name"] for u in listed] == ["ana"]
    assert set(listed[0]) == {"name", "role", "disabled", "models"}  # never a password or its hash
    assert admin.user("ana")["role"] == "maintainer"

    assert admin.disable_user("ana")["disabled"] is True
    assert session.get("/v1/auth/me").status_code == 401  # the session ended
    refused = httpx.post(server.url + "/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    assert refused.status_code == 401
    assert admin.enable_user("ana")["disabled"] is False
    assert _sign_in(server, "ana").get("/v1/auth/me").json()["user"] == "ana"

    # Mistakes answer with the error tree's classes, naming what is wrong.
    with pytest.raises(ConflictError, match="already exists"):
        admin.add_user("ana", PASSWORD, role="viewer")
    with pytest.raises(ParameterError, match="at least one model"):
        admin.add_user("ben", PASSWORD, role="reviewer")
    with pytest.raises(ParameterError, match="at least 10 characters"):
        admin.add_user("ben", "short", role="viewer")
    with pytest.raises(ParameterError, match="role"):
        admin.add_user("ben", PASSWORD, role="superuser")
    with pytest.raises(ParameterError, match="without ':' or '/'"):
        admin.add_user("ops/ben", PASSWORD, role="viewer")  # could never be reached at /v1/users/{name}
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        admin.grant_models("ana", ["nope"])
    with pytest.raises(NotFoundError, match="no user named 'nobody'"):
        admin.set_role("nobody", "viewer")
    with pytest.raises(ParameterError, match="parameter 'name' must be free of NUL characters"):
        admin.user("an\x00a")  # not a 503 from PostgreSQL, which refuses a NUL in text (decision 0046)
    with pytest.raises(NotFoundError, match="no model named"):
        admin.grant_models("ana", ["cre\x00dit"])
    admin.add_user("cy", PASSWORD, role="reviewer", models=["credit"])
    with pytest.raises(ParameterError, match="at least one"):
        admin.revoke_models("cy", ["credit"])  # a reviewer keeps a model

    engine = make_engine(server.db_url)
    with session_factory(engine)() as s:
        actions = [
            (a.action, a.actor)
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.action.like("user.%")).order_by(AuditEntry.id)
            )
        ]
    engine.dispose()
    assert [a for a, _ in actions] == [
        "user.create",
        "user.grant",
        "user.role",
        "user.revoke",
        "user.disable",
        "user.enable",
        "user.create",
    ]
    assert all(who.startswith("key:") and who.endswith(":test-admin") for _, who in actions)


def test_only_an_unlimited_admin_manages_users(server: Running) -> None:
    http = client(server)
    register(http, "credit")
    for role in ("maintainer", "reviewer", "viewer", "ingest"):
        with pytest.raises(ForbiddenError, match="needs the role admin"):
            sdk(server, server.key(role)).users()
    limited = sdk(server, server.key("admin", model="credit"))
    with pytest.raises(ForbiddenError, match="limited to some models may not manage users"):
        limited.add_user("eve", PASSWORD, role="admin")
    # A signed-in admin limited to a model is refused too; one who is not may manage users by cookie, with
    # the session's CSRF token.
    admin = sdk(server)
    admin.add_user("lim", PASSWORD, role="admin", models=["credit"])
    admin.add_user("root", PASSWORD, role="admin")
    assert _sign_in(server, "lim").get("/v1/users").status_code == 403
    root = _sign_in(server, "root")
    assert root.get("/v1/users").status_code == 200
    body = {"name": "dee", "password": PASSWORD, "role": "viewer"}
    assert root.post("/v1/users", json=body).status_code == 403  # no CSRF token
    csrf = root.get("/v1/auth/me").json()["csrf_token"]
    made = root.post("/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["models"] == []


def test_the_local_client_manages_users_as_the_server_does(server: Running, tmp_path: Path) -> None:
    local = lw.Client.local(tmp_path / "local.db")
    try:
        for c in (sdk(server), local):
            c.register("credit", {"columns": {"id": {"role": "id"}, "ts": {"role": "timestamp"}, "x": {}}})
            assert c.add_user("ana", PASSWORD, role="reviewer", models=["credit"])["models"] == ["credit"]
            assert c.set_role("ana", "viewer")["role"] == "viewer"
            assert c.revoke_models("ana", ["credit"])["models"] == []
            assert c.disable_user("ana")["disabled"] is True
            assert c.users() == [{"name": "ana", "role": "viewer", "disabled": True, "models": []}]
            with pytest.raises(ParameterError, match="a reviewer needs a model granted first"):
                c.set_role("ana", "reviewer")
    finally:
        local.close()
