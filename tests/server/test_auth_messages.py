"""A missing API key and a refused one say different things, both 401 (decision 0047, second round); a
refused key says the same however it failed, so the answer never tells whether a prefix exists. Real
HTTP on loopback, SQLite and PostgreSQL; the CLI in a fresh process."""

from __future__ import annotations

import httpx
from tests._fixtures import Running, run_cli

from loopwise.server.auth import revoke_key
from loopwise.store import make_engine, session_factory, transaction

MISSING = (
    "an API key is required (header X-API-Key or Authorization: Bearer lw_...; "
    "LOOPWISE_API_KEY for the SDK and CLI)"
)
REFUSED = "API key refused: unknown or revoked"


def _get(server: Running, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/models", headers=headers, timeout=30)


def test_missing_and_refused_keys_are_told_apart(server: Running) -> None:
    missing = _get(server, {})
    assert missing.status_code == 401 and MISSING in missing.text
    good = server.key("viewer")
    assert _get(server, {"X-API-Key": good}).status_code == 200
    prefix = good.split("_")[1]
    revoked = server.key("viewer")
    engine = make_engine(server.db_url)
    with transaction(session_factory(engine)) as s:
        revoke_key(s, revoked.split("_")[1])
    engine.dispose()
    bodies = []
    for bad in (
        f"lw_{prefix}_wrongsecret",  # a prefix that exists, the wrong secret
        "lw_nosuchprefix_secret",  # a prefix that does not exist
        "not-a-key",  # not even the shape of one
        revoked,  # revoked before this server ever saw it
    ):
        for headers in ({"X-API-Key": bad}, {"Authorization": f"Bearer {bad}"}):
            r = _get(server, headers)
            assert r.status_code == 401 and REFUSED in r.text, (bad, r.text)
            bodies.append(r.json())
    # Nothing in the answer differs between an existing prefix and an unknown one.
    assert all(b == bodies[0] for b in bodies)


def test_the_cli_prints_the_refusal_in_one_line(server: Running) -> None:
    r = run_cli("models", "list", "--url", server.url, "--api-key", "lw_nosuchprefix_secret")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: {REFUSED}"], r.stderr
