"""The embedded client: the same services in-process on a local database, no server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from loopwise.client.monitors import LocalMonitors
from loopwise.client.review import LocalReview
from loopwise.client.users import LocalUsers
from loopwise.ingest import (
    body_digest,
    compact_pending,
    get_reference,
    log_feedback,
    log_predictions,
    metrics,
    put_reference,
    register_model,
    window,
)
from loopwise.registry import ArtifactStore, RegistrySettings
from loopwise.store import open_database, session_factory, transaction
from loopwise.store.catalog import ModelSummary, model_summaries, model_summary


def _info(m: ModelSummary) -> dict[str, Any]:
    """A model as the server describes it (``loopwise.wire.ModelInfo``)."""
    return {
        "name": m.name,
        "schema": m.schema,
        "created_at": m.created_at.isoformat(),
        "predictions": m.predictions,
    }


def _time(v: str | None) -> dt.datetime | None:
    """An ISO 8601 time as the server reads it: without a zone, UTC."""
    if not v:
        return None
    out = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return out if out.tzinfo else out.replace(tzinfo=dt.UTC)


class LocalTransport(LocalReview, LocalMonitors, LocalUsers):
    def __init__(
        self,
        database_url: str,
        *,
        create: bool = True,
        max_rows: int = 100_000,
        registry: RegistrySettings | None = None,
        actor: str | None = None,
    ) -> None:
        self.max_rows = max_rows
        #: Who this client is in the audit trail and the registry's records (``local`` by default).
        self.actor = actor or LOCAL_ACTOR
        self.engine = open_database(database_url, create=create)
        self.sessions = session_factory(self.engine)
        self.read_sessions = session_factory(self.engine, readonly=True)
        # As the server: the operator's settings from the environment unless given (decision 0038).
        self.registry = registry if registry is not None else RegistrySettings.from_env()
        self.artifacts = ArtifactStore(
            self.registry.directory_for(database_url), self.registry.max_artifact_bytes
        )
        #: Versions loaded by ``predict`` (decision 0029) and ``evaluate_version`` (0044), made on first use.
        self.predictors: Any = None

    def close(self) -> None:
        self.engine.dispose()

    def _predictors(self) -> Any:
        from loopwise.registry.predictors import PredictorCache

        if self.predictors is None:
            self.predictors = PredictorCache()
        return self.predictors

    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        with transaction(self.sessions) as s:
            register_model(s, name, schema, "local")
            return _info(model_summary(s, name))

    def models(self) -> list[dict[str, Any]]:
        with self.read_sessions() as s:
            return [_info(m) for m in model_summaries(s)]

    def describe(self, name: str) -> dict[str, Any]:
        with self.read_sessions() as s:
            return _info(model_summary(s, name))

    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]:
        digest = body_digest(key.encode())
        with transaction(self.sessions) as s:
            out = log_predictions(
                s,
                model,
                table,
                version=version,
                idempotency_key=key,
                body_hash=digest,
                max_rows=self.max_rows,
            )
        # No background job in-process: fold the new parts now, so the file stays compact between runs.
        compact_pending(self.sessions, self.read_sessions)
        return out

    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        with transaction(self.sessions) as s:
            return log_feedback(s, model, records, "local", max_rows=self.max_rows)

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

    # The registry. Whoever opens the database file directly owns it: they act as an admin (decision 0025).

    def register_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry import register_version

        out = register_version(
            self.sessions,
            self.read_sessions,
            self.registry,
            self.artifacts,
            model,
            version,
            flavor=body["flavor"],
            artifact=body["artifact"],
            uri=body.get("uri"),
            sha256=body.get("sha256"),
            lineage=body.get("lineage"),
            sample=body.get("sample"),
            actor=self.actor,
            admin=True,
        )
        return out.to_dict()

    def versions(self, model: str) -> list[dict[str, Any]]:
        from loopwise.registry import list_versions

        with self.read_sessions() as s:
            return [v.to_dict() for v in list_versions(s, model)]

    def set_alias(
        self, model: str, alias: str, version: str | None, evidence: dict[str, Any]
    ) -> list[dict[str, Any]]:
        from loopwise.registry import set_alias

        with transaction(self.sessions) as s:
            moves = set_alias(s, model, alias, version, actor=self.actor, evidence=evidence)
        return [m.to_dict() for m in moves]

    def alias_history(self, model: str, alias: str | None) -> list[dict[str, Any]]:
        from loopwise.registry import alias_history

        with self.read_sessions() as s:
            return [m.to_dict() for m in alias_history(s, model, alias)]

    def version_at(self, model: str, alias: str, when: str) -> str | None:
        from loopwise.registry import version_at

        at = _time(when)
        assert at is not None
        with self.read_sessions() as s:
            return version_at(s, model, alias, at)

    def load_version(self, model: str, version: str) -> Any:
        # Through the client's cache of loaded versions: an evaluation after it finds the version loaded
        # (it loaded the artifact again, 0.3-0.5 s of a 1,000,000-event replay).
        with self.read_sessions() as s:
            return self._predictors().get(s, self.registry, self.artifacts, model, version)

    def served(self, model: str, start: str, end: str) -> dict[str, int]:
        from loopwise.registry import served

        a, b = _time(start), _time(end)
        assert a is not None and b is not None
        with self.read_sessions() as s:
            return served(s, model, a, b)

    def evaluate_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry import evaluate

        a, b = _time(body["start"]), _time(body["end"])
        assert a is not None and b is not None
        extra = {"batch_rows": body["batch_rows"]} if body.get("batch_rows") is not None else {}
        found = evaluate(
            self.sessions,
            self.read_sessions,
            self.registry,
            self.artifacts,
            model,
            version,
            a,
            b,
            actor=self.actor,
            predictors=self._predictors(),
            **extra,
        )
        return found.to_dict()

    def compare_versions(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry import compare_versions

        a, b = _time(params["start"]), _time(params["end"])
        assert a is not None and b is not None
        with self.read_sessions() as s:
            found = compare_versions(
                s,
                model,
                params["champion"],
                params["challenger"],
                a,
                b,
                metrics=params.get("metrics"),
                margin=params.get("margin"),
                alpha=params.get("alpha", 0.05),
                min_effect=params.get("min_effect"),
            )
        return found.to_dict()

    def log_shadow(self, model: str, version: str, body: dict[str, Any]) -> dict[str, int]:
        from loopwise.registry import log_shadow

        with transaction(self.sessions) as s:
            return log_shadow(s, model, version, body["event_ids"], body["predictions"], body.get("scores"))

    # The gate, promotion and the audit trail (decisions 0027, 0028); the local client is an admin.

    def gate(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry import run_gate

        a, b = _time(body["start"]), _time(body["end"])
        assert a is not None and b is not None
        found = run_gate(
            self.sessions,
            self.read_sessions,
            model,
            version,
            body.get("suite"),
            a,
            b,
            champion=body.get("champion", "champion"),
            actor=self.actor,
        )
        return found.to_dict()

    def gate_results(self, model: str, version: str | None) -> list[dict[str, Any]]:
        from loopwise.registry import gate_results

        with self.read_sessions() as s:
            return [g.to_dict() for g in gate_results(s, model, version)]

    def promote(self, model: str, version: str, alias: str) -> dict[str, Any]:
        from loopwise.registry import promote

        with transaction(self.sessions) as s:
            return promote(s, model, version, alias, actor=self.actor).to_dict()

    def force(self, model: str, version: str, alias: str, reason: str) -> dict[str, Any]:
        from loopwise.registry import force

        with transaction(self.sessions) as s:
            return force(s, model, version, alias, reason=reason, actor=self.actor).to_dict()

    def approve(self, model: str, request_id: int, comment: str | None) -> dict[str, Any]:
        from loopwise.registry import approve

        with transaction(self.sessions) as s:
            return approve(s, model, request_id, actor=self.actor, comment=comment).to_dict()

    def promotions(self, model: str, status: str | None) -> list[dict[str, Any]]:
        from loopwise.registry import promotions

        with self.read_sessions() as s:
            return [p.to_dict() for p in promotions(s, model, status)]

    def rollback(self, model: str, alias: str, reason: str | None) -> list[dict[str, Any]]:
        from loopwise.registry import rollback

        with transaction(self.sessions) as s:
            return [m.to_dict() for m in rollback(s, model, alias, actor=self.actor, reason=reason)]

    def promotion_policy(self, model: str, mode: str | None) -> str:
        from loopwise.registry import policy, set_policy

        if mode is None:
            with self.read_sessions() as s:
                return policy(s, model)
        with transaction(self.sessions) as s:
            return set_policy(s, model, mode, actor=self.actor)

    def history(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry import history_at

        at = _time(params["at"])
        assert at is not None
        around = dt.timedelta(minutes=float(params.get("around_minutes", 60.0)))
        with self.read_sessions() as s:
            return history_at(s, model, at, params.get("alias", "champion"), around).to_dict()

    def audit(self, model: str) -> list[dict[str, Any]]:
        from loopwise.registry.audit import entries

        with self.read_sessions() as s:
            return list(entries(s, model))

    def verify_audit(self, model: str, head: str | None = None) -> dict[str, Any]:
        from loopwise.registry import verify

        with self.read_sessions() as s:
            return verify(s, model, head).to_dict()

    # Serving (decision 0029): in-process, so the alias is read directly and jobs run in a thread here.

    def alias_version(self, model: str, alias: str, etag: str | None) -> tuple[str | None, str] | None:
        from loopwise.registry import aliases

        with self.read_sessions() as s:
            version = aliases(s, model).get(alias)
        tag = version or "-"
        return None if tag == etag else (version, tag)

    def predict(self, model: str, table: pa.Table) -> dict[str, Any]:
        from loopwise.registry.serving import predict, shadow

        served, logged = predict(
            self.sessions,
            self.read_sessions,
            self.registry,
            self.artifacts,
            self._predictors(),
            model,
            table,
            max_rows=self.max_rows,
        )
        compact_pending(self.sessions, self.read_sessions)
        if served.shadow is not None and served.accepted:
            # No response to send first in-process: the shadow answers before the call returns.
            shadow(
                self.sessions,
                self.read_sessions,
                self.registry,
                self.artifacts,
                self.predictors,
                model,
                served.shadow,
                served.event_ids,
                logged,
            )
        return served.to_dict()

    def start_evaluation(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.registry.jobs import describe_job, run_evaluation, run_in_thread, start_evaluation

        a, b = _time(body["start"]), _time(body["end"])
        assert a is not None and b is not None
        with transaction(self.sessions) as s:
            job_id = start_evaluation(
                s, model, version, a, b, actor=LOCAL_ACTOR, batch_rows=body.get("batch_rows")
            )
        run_in_thread(
            run_evaluation,
            self.sessions,
            self.read_sessions,
            self.registry,
            self.artifacts,
            model,
            job_id,
            self._predictors(),
        )
        with self.read_sessions() as s:
            return describe_job(s, model, job_id).to_dict()

    def job(self, model: str, job_id: str) -> dict[str, Any]:
        from loopwise.registry.jobs import describe_job

        with self.read_sessions() as s:
            return describe_job(s, model, job_id).to_dict()


#: Who the local client is in the audit log and the alias history.
LOCAL_ACTOR = "local"
