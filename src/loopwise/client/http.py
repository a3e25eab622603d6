"""The HTTP client (httpx): retries with backoff on connection errors and 5xx/503, never on 4xx."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from typing import Any

import httpx
import pyarrow as pa

from loopwise.client.monitors import HTTPMonitors
from loopwise.client.paths import model_url, seg
from loopwise.client.review import HttpReview
from loopwise.client.users import HttpUsers
from loopwise.errors import (
    LoopwiseError,
    SchemaValidationError,
    ServerError,
    UnreachableError,
    from_http,
    violations_text,
)
from loopwise.schema import ValidationIssue

RETRIES = 5
BACKOFF = 0.2


def raise_for(status: int, body: Any) -> None:
    """Raise the class of loopwise.errors the answer stands for: the same one the local client raises."""
    exc: LoopwiseError = from_http(status, body)
    if isinstance(exc, SchemaValidationError) and isinstance(body, dict):
        exc.issues = [
            ValidationIssue(
                i.get("column"),
                str(i.get("problem", "")),
                str(i.get("message", "")),
                tuple(i.get("rows") or ()),
                int(i.get("count") or 0),
            )
            for i in body.get("issues") or []
            if isinstance(i, dict)
        ]
        # Worded as the local client words them: the same count, the same lines.
        violations = body.get("violations")
        total = violations if isinstance(violations, int) else None
        if exc.issues:
            LoopwiseError.__init__(exc, violations_text(exc.issues, total, refused=True))
    raise exc


class HTTPTransport(HttpReview, HTTPMonitors, HttpUsers):
    def __init__(self, url: str, api_key: str, timeout: float = 60.0, registry: Any = None) -> None:
        #: The trust rules for artifacts this client loads (``load_version``): its own, not the server's;
        #: None: ``RegistrySettings.from_env()`` when a version is loaded (``LOOPWISE_TRUSTED_TYPES``,
        #: ``LOOPWISE_TRUST_PICKLE``), as the local client and the server read them.
        self.registry = registry
        self.http = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        return self._request(method, path, **kw).json()

    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", "/v1/models", json={"name": name, "schema": schema})
        return out

    def models(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", "/v1/models")["models"]
        return out

    def describe(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"/v1/models/{seg(name, 'model')}")
        return out

    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        params = {"version": version} if version else None
        out: dict[str, Any] = self._send(
            "POST",
            f"{model_url(model)}/predictions",
            content=sink.getvalue(),
            params=params,
            headers={"Content-Type": "application/vnd.apache.arrow.stream", "Idempotency-Key": key},
        )
        return out

    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"{model_url(model)}/feedback", json={"records": records})
        return out

    def metrics(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/metrics", params=params)
        return out

    def check(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"{model_url(model)}/checks/run", json=body)
        return out

    def reference(self, model: str, profile_bytes: bytes, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send(
            "POST",
            f"{model_url(model)}/references",
            params={"name": name},
            content=profile_bytes,
            headers={"Content-Type": "application/octet-stream"},
        )
        return out

    # The registry (docs/registry.md).

    def register_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        source = body["artifact"]
        lineage = body.get("lineage")
        if (
            source is not None
            and body.get("sample") is None
            and (lineage is None or lineage.reference is None)
        ):
            return self._register_raw(model, version, body, source)
        data = source if source is None or isinstance(source, bytes) else source.read()
        lineage = body.get("lineage")
        spec = lineage.to_dict() if lineage is not None else {}
        if lineage is not None and lineage.reference is not None:
            spec["reference"] = base64.b64encode(lineage.reference.to_bytes()).decode()
        sample = body.get("sample")
        doc = {
            "version": version,
            "flavor": body["flavor"],
            "artifact": None if data is None else base64.b64encode(data).decode(),
            "uri": body.get("uri"),
            "sha256": body.get("sha256"),
            "lineage": spec,
            # Records as JSON writes them (NaN as null, times as ISO text): what the server reads back.
            "sample": None
            if sample is None
            else json.loads(sample.to_json(orient="records", date_format="iso")),
        }
        out: dict[str, Any] = self._send("POST", f"{model_url(model)}/versions", json=doc)
        return out

    def _register_raw(self, model: str, version: str, body: dict[str, Any], source: Any) -> dict[str, Any]:
        """The artifact as the raw body, streamed from its file (no base64, no copy in memory); one attempt,
        since a stream read once cannot be sent again."""
        lineage = body.get("lineage")
        params = {"version": version, "flavor": body["flavor"]}
        if body.get("sha256"):
            params["sha256"] = body["sha256"]
        headers = {"Content-Type": "application/octet-stream"}
        if lineage is not None:
            headers["X-Loopwise-Lineage"] = json.dumps(lineage.to_dict())
        try:
            r = self.http.post(f"{model_url(model)}/versions", params=params, content=source, headers=headers)
        except httpx.TransportError as exc:
            raise UnreachableError(str(self.http.base_url), str(exc) or type(exc).__name__, 1) from None
        if r.status_code >= 500:
            raise ServerError(r.status_code, _json(r))
        if r.status_code >= 400:
            raise_for(r.status_code, _json(r))
        out: dict[str, Any] = r.json()
        return out

    def versions(self, model: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", f"{model_url(model)}/versions")["versions"]
        return out

    def set_alias(
        self, model: str, alias: str, version: str | None, evidence: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if version is None:
            moves = self._send("DELETE", f"{model_url(model)}/aliases/{seg(alias, 'alias')}")
        else:
            body = {"version": version, "evidence": evidence}
            moves = self._send("PUT", f"{model_url(model)}/aliases/{seg(alias, 'alias')}", json=body)
        out: list[dict[str, Any]] = moves["moves"]
        return out

    def alias_history(self, model: str, alias: str | None) -> list[dict[str, Any]]:
        params = {"alias": alias} if alias is not None else None
        out: list[dict[str, Any]] = self._send("GET", f"{model_url(model)}/aliases/history", params=params)[
            "moves"
        ]
        return out

    def version_at(self, model: str, alias: str, when: str) -> str | None:
        found = self._send(
            "GET", f"{model_url(model)}/aliases/{seg(alias, 'alias')}/at", params={"time": when}
        )
        return None if found["version"] is None else str(found["version"])

    def served(self, model: str, start: str, end: str) -> dict[str, int]:
        found = self._send("GET", f"{model_url(model)}/served", params={"start": start, "end": end})
        return {str(k): int(v) for k, v in found["versions"].items()}

    def evaluate_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in body.items() if v is not None}
        out: dict[str, Any] = self._send(
            "POST", f"{model_url(model)}/versions/{seg(version, 'version')}/evaluate", json=doc
        )
        return out

    def compare_versions(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/compare", params=query)
        return out

    def log_shadow(self, model: str, version: str, body: dict[str, Any]) -> dict[str, int]:
        out: dict[str, int] = self._send(
            "POST", f"{model_url(model)}/versions/{seg(version, 'version')}/shadow", json=body
        )
        return out

    # The gate, promotion and the audit trail (decisions 0027, 0028).

    def gate(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send(
            "POST", f"{model_url(model)}/versions/{seg(version, 'version')}/gate", json=body
        )
        return out

    def gate_results(self, model: str, version: str | None) -> list[dict[str, Any]]:
        params = {"version": version} if version is not None else None
        out: list[dict[str, Any]] = self._send("GET", f"{model_url(model)}/gates", params=params)["gates"]
        return out

    def promote(self, model: str, version: str, alias: str) -> dict[str, Any]:
        path = f"{model_url(model)}/versions/{seg(version, 'version')}/promote"
        out: dict[str, Any] = self._send("POST", path, json={"alias": alias})
        return out

    def force(self, model: str, version: str, alias: str, reason: str) -> dict[str, Any]:
        path = f"{model_url(model)}/versions/{seg(version, 'version')}/force"
        out: dict[str, Any] = self._send("POST", path, json={"alias": alias, "reason": reason})
        return out

    def approve(self, model: str, request_id: int, comment: str | None) -> dict[str, Any]:
        path = f"{model_url(model)}/promotions/{seg(request_id, 'request_id')}/approve"
        out: dict[str, Any] = self._send("POST", path, json={"comment": comment})
        return out

    def promotions(self, model: str, status: str | None) -> list[dict[str, Any]]:
        params = {"status": status} if status is not None else None
        found = self._send("GET", f"{model_url(model)}/promotions", params=params)
        out: list[dict[str, Any]] = found["promotions"]
        return out

    def rollback(self, model: str, alias: str, reason: str | None) -> list[dict[str, Any]]:
        body = {"alias": alias, **({"reason": reason} if reason is not None else {})}
        out: list[dict[str, Any]] = self._send("POST", f"{model_url(model)}/rollback", json=body)["moves"]
        return out

    def promotion_policy(self, model: str, mode: str | None) -> str:
        path = f"{model_url(model)}/promotion-policy"
        found = self._send("GET", path) if mode is None else self._send("PUT", path, json={"mode": mode})
        return str(found["mode"])

    def history(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/history", params=params)
        return out

    def audit(self, model: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", f"{model_url(model)}/audit")["entries"]
        return out

    def verify_audit(self, model: str, head: str | None = None) -> dict[str, Any]:
        params = {} if head is None else {"head": head}
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/audit/verify", params=params)
        return out

    def load_version(self, model: str, version: str) -> Any:
        """Download the artifact and load it here, under this client's own trust settings."""
        import tempfile
        from pathlib import Path

        from loopwise.registry import RegistrySettings
        from loopwise.registry.flavors import load
        from loopwise.schema import Role, Schema

        info = self._send("GET", f"{model_url(model)}/versions/{seg(version, 'version')}")
        if info["flavor"] == "external":
            from loopwise.errors import DataError

            raise DataError(f"version {version!r} is external ({info['uri']}): loopwise never loads it")
        r = self.http.get(f"{model_url(model)}/versions/{seg(version, 'version')}/artifact")
        if r.status_code >= 400:
            raise_for(r.status_code, _json(r))
        if hashlib.sha256(r.content).hexdigest() != info["sha256"]:
            from loopwise.errors import DataError

            raise DataError(
                f"the artifact of version {version!r} does not match its recorded sha256 {info['sha256']}: "
                "the server sent other bytes; not loaded"
            )
        schema = Schema.from_dict(self.describe(model)["schema"])
        features = [c.name for c in schema.by_role(Role.FEATURE)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "artifact"
            path.write_bytes(r.content)
            settings = self.registry if self.registry is not None else RegistrySettings.from_env()
            return load(path, info["format"], info["flavor"], version, features, settings)

    # Serving (decision 0029).

    def alias_version(self, model: str, alias: str, etag: str | None) -> tuple[str | None, str] | None:
        """Where the alias points, or None when it has not moved since ``etag`` (the server's 304)."""
        headers = {"If-None-Match": etag} if etag else None
        r = self._request("GET", f"{model_url(model)}/aliases/{seg(alias, 'alias')}", headers=headers)
        if r.status_code == 304:
            return None
        found = r.json()
        return found["version"], r.headers.get("etag", "")

    def predict(self, model: str, table: pa.Table) -> dict[str, Any]:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        out: dict[str, Any] = self._send(
            "POST",
            f"{model_url(model)}/predict",
            content=sink.getvalue(),
            headers={"Content-Type": "application/vnd.apache.arrow.stream"},
        )
        return out

    def start_evaluation(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in body.items() if v is not None}
        out: dict[str, Any] = self._send(
            "POST", f"{model_url(model)}/versions/{seg(version, 'version')}/evaluations", json=doc
        )
        return out

    def job(self, model: str, job_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/jobs/{seg(job_id, 'job_id')}")
        return out

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request with ``_send``'s retries, the response itself (a 304 is an answer, not an error)."""
        delay = BACKOFF
        for attempt in range(RETRIES):
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                if attempt == RETRIES - 1:
                    raise UnreachableError(
                        str(self.http.base_url), str(exc) or type(exc).__name__, RETRIES
                    ) from None
            else:
                if r.status_code < 500 and r.status_code != 429:
                    if r.status_code >= 400:
                        raise_for(r.status_code, _json(r))
                    return r
                if attempt == RETRIES - 1:
                    raise ServerError(r.status_code, _json(r))
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def id_column(schema: dict[str, Any]) -> str | None:
    for name, spec in (schema.get("columns") or {}).items():
        if (spec or {}).get("role") == "id":
            return str(name)
    return None
