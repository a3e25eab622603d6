"""The embedded client: the same services in-process on a local database, no server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from loopwise.ingest import (
    body_digest,
    get_reference,
    log_feedback,
    log_predictions,
    metrics,
    put_reference,
    register_model,
    window,
)
from loopwise.ingest.buckets import compact_pending
from loopwise.ingest.models import get_model
from loopwise.store import open_database, session_factory, transaction
from loopwise.store.tables import Model


def _time(v: str | None) -> dt.datetime | None:
    """An ISO 8601 time as the server reads it: without a zone, UTC."""
    if not v:
        return None
    out = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return out if out.tzinfo else out.replace(tzinfo=dt.UTC)


class LocalTransport:
    def __init__(self, database_url: str, *, create: bool = True) -> None:
        self.engine = open_database(database_url, create=create)
        self.sessions = session_factory(self.engine)
        self.read_sessions = session_factory(self.engine, readonly=True)

    def close(self) -> None:
        self.engine.dispose()

    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        with transaction(self.sessions) as s:
            m = register_model(s, name, schema, "local")
            return {"name": m.name, "schema": m.schema_json}

    def models(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        with self.read_sessions() as s:
            return [
                {"name": m.name, "schema": m.schema_json}
                for m in s.scalars(select(Model).order_by(Model.name))
            ]

    def describe(self, name: str) -> dict[str, Any]:
        with self.read_sessions() as s:
            m = get_model(s, name)
            return {"name": m.name, "schema": m.schema_json}

    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]:
        digest = body_digest(key.encode())
        with transaction(self.sessions) as s:
            out = log_predictions(s, model, table, version=version, idempotency_key=key, body_hash=digest)
        # No background job in-process: fold the new parts now, so the file stays compact between runs.
        compact_pending(self.sessions, self.read_sessions)
        return out

    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        with transaction(self.sessions) as s:
            return log_feedback(s, model, records, "local")

    def metrics(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.read_sessions() as s:
            return metrics(
                s,
                model,
                _time(params.get("start")),
                _time(params.get("end")),
                params.get("version"),
                params.get("reference", "default"),
                params.get("segment"),
            )

    def check(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.checks import Suite
        from loopwise.schema.yamlfile import load_yaml_text

        suite = (
            Suite.from_dict(body["suite"])
            if isinstance(body["suite"], dict)
            else Suite.from_dict(load_yaml_text(body["suite"], "suite"))
        )
        with self.read_sessions() as s:
            cur = window(s, model, _time(body.get("start")), _time(body.get("end")))
            ref = get_reference(s, model, body["reference"]) if body.get("reference") else None
        return suite.run(cur, ref).to_dict()

    def reference(self, model: str, profile_bytes: bytes, name: str) -> dict[str, Any]:
        from loopwise.profiles import Profile

        prof = Profile.from_bytes(profile_bytes)
        with transaction(self.sessions) as s:
            put_reference(s, model, prof, name, {"source": "upload", "rows": prof.n})
        return {"name": name, "rows": prof.n}
