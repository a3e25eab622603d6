"""The HTTP client (httpx): retries with backoff on connection errors and 5xx/503, never on 4xx."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import httpx
import pyarrow as pa

from loopwise.errors import LoopwiseError, SchemaValidationError, ServerError, UnreachableError, from_http
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
    raise exc


class HTTPTransport:
    def __init__(self, url: str, api_key: str, timeout: float = 60.0, registry: Any = None) -> None:
        #: The trust rules for artifacts this client loads (``load_version``): its own, not the server's.
        self.registry = registry
        self.http = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kw: Any) -> Any:
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
                    return r.json()
                if attempt == RETRIES - 1:
                    raise ServerError(r.status_code, _json(r))
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", "/v1/models", json={"name": name, "schema": schema})
        return out

    def models(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", "/v1/models")["models"]
        return out

    def describe(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"/v1/models/{name}")
        return out

    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        params = {"version": version} if version else None
        out: dict[str, Any] = self._send(
            "POST",
            f"/v1/models/{model}/predictions",
            content=sink.getvalue(),
            params=params,
            headers={"Content-Type": "application/vnd.apache.arrow.stream", "Idempotency-Key": key},
        )
        return out

    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"/v1/models/{model}/feedback", json={"records": records})
        return out

    def metrics(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"/v1/models/{model}/metrics", params=params)
        return out

    def check(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"/v1/models/{model}/checks/run", json=body)
        return out

    def reference(self, model: str, profile_bytes: bytes, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send(
            "POST",
            f"/v1/models/{model}/references",
            params={"name": name},
            content=profile_bytes,
            headers={"Content-Type": "application/octet-stream"},
        )
        return out

    # The registry (docs/registry.md).

    def register_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        source = body["artifact"]
        data = source if source is None or isinstance(source, bytes) else source.read()
        lineage = body.get("lineage")
        spec = lineage.to_dict() if lineage is not None else {}
        if lineage is not None and lineage.reference is not None:
            spec["reference"] = base64.b64encode(lineage.reference.to_bytes()).decode()
        sample = body.get("sample")
        doc = {
            "name": version,
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
        out: dict[str, Any] = self._send("POST", f"/v1/models/{model}/versions", json=doc)
        return out

    def versions(self, model: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", f"/v1/models/{model}/versions")["versions"]
        return out

    def set_alias(
        self, model: str, alias: str, version: str | None, evidence: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if version is None:
            moves = self._send("DELETE", f"/v1/models/{model}/aliases/{alias}")
        else:
            body = {"version": version, "evidence": evidence}
            moves = self._send("PUT", f"/v1/models/{model}/aliases/{alias}", json=body)
        out: list[dict[str, Any]] = moves["moves"]
        return out

    def alias_history(self, model: str, alias: str | None) -> list[dict[str, Any]]:
        params = {"alias": alias} if alias is not None else None
        out: list[dict[str, Any]] = self._send("GET", f"/v1/models/{model}/aliases/history", params=params)[
            "moves"
        ]
        return out

    def version_at(self, model: str, alias: str, when: str) -> str | None:
        found = self._send("GET", f"/v1/models/{model}/aliases/{alias}/at", params={"time": when})
        return None if found["version"] is None else str(found["version"])

    def served(self, model: str, start: str, end: str) -> dict[str, int]:
        found = self._send("GET", f"/v1/models/{model}/served", params={"start": start, "end": end})
        return {str(k): int(v) for k, v in found["versions"].items()}

    def evaluate_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in body.items() if v is not None}
        out: dict[str, Any] = self._send("POST", f"/v1/models/{model}/versions/{version}/evaluate", json=doc)
        return out

    def compare_versions(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        out: dict[str, Any] = self._send("GET", f"/v1/models/{model}/compare", params=query)
        return out

    def log_shadow(self, model: str, version: str, body: dict[str, Any]) -> dict[str, int]:
        out: dict[str, int] = self._send("POST", f"/v1/models/{model}/versions/{version}/shadow", json=body)
        return out

    def load_version(self, model: str, version: str) -> Any:
        """Download the artifact and load it here, under this client's own trust settings."""
        import tempfile
        from pathlib import Path

        from loopwise.registry import RegistrySettings
        from loopwise.registry.flavors import load
        from loopwise.schema import Role, Schema

        info = self._send("GET", f"/v1/models/{model}/versions/{version}")
        if info["flavor"] == "external":
            from loopwise.errors import DataError

            raise DataError(f"version {version!r} is external ({info['uri']}): loopwise never loads it")
        r = self.http.get(f"/v1/models/{model}/versions/{version}/artifact")
        if r.status_code >= 400:
            raise_for(r.status_code, _json(r))
        schema = Schema.from_dict(self.describe(model)["schema"])
        features = [c.name for c in schema.by_role(Role.FEATURE)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "artifact"
            path.write_bytes(r.content)
            settings = self.registry or RegistrySettings()
            return load(path, info["format"], info["flavor"], version, features, settings)


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
