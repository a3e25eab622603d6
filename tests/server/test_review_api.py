"""The review queue over real HTTP on loopback: reviewers sign in with a password (argon2), get a session
cookie (HttpOnly, SameSite=Lax) and a CSRF token, work blind through the queue with both clients; sign-in
is rate-limited and a reviewer sees only the models granted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests._fixtures import Running
from tests._fixtures.http import client, records, register, sdk, traffic

from loopwise.errors import ForbiddenError
from loopwise.store import make_engine, session_factory, transaction
from loopwise.store.users import create_user

POLICY: dict[str, Any] = {
    "tasks": 20,
    "selectors": [{"kind": "uncertainty", "share": 0.5}, {"kind": "random", "share": 0.5}],
    "overlap": {"share": 0.3, "k": 2},
}


def _user(server: Running, name: str, role: str, models: list[str]) -> None:
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        create_user(s, name, "correct horse battery", role, models, actor="test")
    engine.dispose()


def _setup(server: Running) -> httpx.Client:
    admin = client(server)
    register(admin, "credit")
    register(admin, "other")
    df = traffic(600, seed=3)
    r = admin.post("/v1/models/credit/predictions", json=records(df))
    assert r.status_code == 200, r.text
    assert admin.put("/v1/models/credit/review/policy", json=POLICY).status_code == 200
    r = admin.post(
        "/v1/models/credit/review/fill",
        json={"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "seed": 1},
    )
    assert r.status_code == 200, r.text
    return admin


def _login(server: Running, name: str, password: str = "correct horse battery") -> httpx.Response:
    return httpx.post(server.url + "/v1/auth/login", json={"name": name, "password": password}, timeout=30)


def test_a_reviewer_signs_in_and_works_with_the_cookie_and_its_csrf_token(server: Running) -> None:
    admin = _setup(server)
    _user(server, "ana", "reviewer", ["credit"])
    r = _login(server, "ana")
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    csrf = r.json()["csrf_token"]
    ana = httpx.Client(base_url=server.url, cookies=r.cookies, timeout=30)
    server.clients.append(ana)
    assert ana.get("/v1/auth/me").json()["models"] == ["credit"]  # the models granted
    assert ana.post("/v1/models/credit/review/tasks/next").status_code == 403  # no CSRF token
    task = ana.post("/v1/models/credit/review/tasks/next", headers={"X-CSRF-Token": csrf}).json()["task"]
    assert set(task) == {"task_id", "model", "event_id", "features", "prediction", "scores"}
    bad = ana.post(
        f"/v1/models/credit/review/tasks/{task['task_id']}/submit",
        json={"label": True},
        headers={"X-CSRF-Token": "forged"},
    )
    assert bad.status_code == 403
    ok = ana.post(
        f"/v1/models/credit/review/tasks/{task['task_id']}/submit",
        json={"label": True, "comment": "looks fine"},
        headers={"X-CSRF-Token": csrf},
    )
    assert ok.json() == {"task_id": task["task_id"], "status": "submitted"}
    # Not granted "other": its queue is a 404, as if it did not exist; maintainers-only routes are 403.
    assert ana.get("/v1/models/other/review/stats").status_code == 404
    assert ana.get("/v1/models/credit/review/tasks").status_code == 403
    listed = admin.get("/v1/models/credit/review/tasks").json()["tasks"]
    mine = next(t for t in listed if t["task_id"] == task["task_id"])
    assert mine["labels"][0]["reviewer"] == "user:ana" and mine["labels"][0]["label"] is True
    audit = admin.get("/v1/models/credit/audit").json()["entries"]
    assert any(e["action"] == "review.submit" and e["actor"] == "user:ana" for e in audit)
    out = httpx.post(server.url + "/v1/auth/logout", cookies=r.cookies)
    assert out.json() == {"signed_out": True} and 'lw_session=""' in out.headers["set-cookie"]
    assert httpx.get(server.url + "/v1/auth/me", cookies=r.cookies).status_code == 401


def test_sign_in_is_rate_limited_and_names_nobody(server: Running) -> None:
    admin = client(server)
    register(admin, "credit")
    _user(server, "ben", "reviewer", ["credit"])
    assert _login(server, "nobody").status_code == 401
    for _ in range(5):
        assert _login(server, "ben", "wrong password!").status_code == 401
    blocked = _login(server, "ben")  # the right password, after five failures for the name
    assert blocked.status_code == 429
    assert blocked.json()["type"] == "RateLimitError" and blocked.json()["retry_after"] > 0


def test_both_clients_work_the_queue_blind(server: Running) -> None:
    _setup(server)
    a, b = sdk(server, server.key("reviewer")), sdk(server, server.key("reviewer"))
    m, n = a.model("credit"), b.model("credit")
    seen = 0
    for _ in range(100):
        t, u = m.next_review(), n.next_review()
        if t is None and u is None:
            break
        if t is not None:
            m.submit_review(t["task_id"], t["prediction"])
            seen += 1
        if u is not None:
            n.submit_review(u["task_id"], not u["prediction"])
            seen += 1
    stats = sdk(server).model("credit").review_stats()
    assert stats["throughput"]["last_day"] == seen
    assert stats["backlog"]["open"] == 0
    pair = stats["agreement"]["pairs"][0]
    assert pair["tasks"] >= 1  # the overlap tasks both got, answered oppositely
    assert stats["backlog"]["adjudication"] == pair["tasks"]
    assert stats["estimate"]["combined"]["n"] == stats["resolved"]
    with pytest.raises(ForbiddenError):
        sdk(server, server.key("viewer")).model("credit").next_review()
