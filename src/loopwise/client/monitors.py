"""Monitors through either client: the local transport calls the services in-process, the HTTP transport
the routes of /v1/models/{model}/monitors (the same answers, the same errors)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwise.client.paths import model_url, seg
from loopwise.errors import NotFoundError, ParameterError, SchemaError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class LocalMonitors:
    """Monitors on a local database: whoever opens the file acts as its maintainer (decision 0025)."""

    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    actor: str

    def _alerts(self) -> Any:
        from loopwise.alerts import AlertSettings

        return AlertSettings.from_env()

    def put_monitor(self, model: str, spec: dict[str, Any], replace: bool) -> dict[str, Any]:
        from loopwise.alerts import check_targets
        from loopwise.monitors import MonitorSpec, put_monitor
        from loopwise.store import transaction

        parsed = MonitorSpec.from_dict(spec)
        check_targets([dict(c) for c in parsed.channels], self._alerts())
        with transaction(self.sessions) as s:
            return put_monitor(s, model, parsed, actor=self.actor, replace=replace).to_dict()

    def monitors(self, model: str) -> list[dict[str, Any]]:
        from loopwise.monitors import list_monitors

        with self.read_sessions() as s:
            return [m.to_dict() for m in list_monitors(s, model)]

    def delete_monitor(self, model: str, name: str) -> None:
        from loopwise.monitors import delete_monitor
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            delete_monitor(s, model, name)

    def run_monitor(self, model: str, name: str, deliver: bool) -> dict[str, Any]:
        from loopwise.loop import run_pass
        from loopwise.monitors import monitor_row

        with self.read_sessions() as s:
            mid = monitor_row(s, model, name).id
        out = run_pass(self.sessions, self.read_sessions, self._alerts(), monitor_ids=[mid], deliver=deliver)
        runs = [{k: v for k, v in r.items() if k != "monitor_id"} for r in out.runs]
        return {"offered": out.offered, "runs": runs, "deliveries": out.deliveries}

    def monitor_get(self, model: str, name: str, what: str, params: dict[str, Any]) -> dict[str, Any]:
        from loopwise.alerts import deliveries, incidents
        from loopwise.monitors import check_series, get_run, monitor_row, runs

        with self.read_sessions() as s:
            if what == "runs":
                before = params.get("before")
                until = None if before is None else dt.datetime.fromisoformat(before)
                found = runs(s, model, name, params["limit"], before=until)
                return {"model": model, "monitor": name, "runs": found}
            if what.startswith("runs/"):
                return get_run(s, model, name, int(what.split("/", 1)[1]))
            if what == "series":
                return check_series(s, model, name)
            mid = monitor_row(s, model, name).id
            if what == "incidents":
                return {"incidents": incidents(s, mid, params.get("state"))}
            if what == "deliveries":
                return {"deliveries": deliveries(s, mid)}
        raise NotFoundError(f"no monitor answer {what!r}")


class HTTPMonitors:
    """Monitors on a server."""

    def _send(self, method: str, path: str, **kw: Any) -> Any:  # the HTTP transport's
        raise NotImplementedError

    def _request(self, method: str, path: str, **kw: Any) -> Any:  # the HTTP transport's
        raise NotImplementedError

    @staticmethod
    def _base(model: str, name: str | None = None) -> str:
        base = f"{model_url(model)}/monitors"
        return base if name is None else f"{base}/{seg(name, 'name')}"

    def put_monitor(self, model: str, spec: dict[str, Any], replace: bool) -> dict[str, Any]:
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in spec.items()}
        if replace:
            out: dict[str, Any] = self._send("PUT", self._base(model, str(spec.get("name"))), json=body)
        else:
            out = self._send("POST", self._base(model), json=body)
        return out

    def monitors(self, model: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", self._base(model))["monitors"]
        return out

    def delete_monitor(self, model: str, name: str) -> None:
        self._request("DELETE", self._base(model, name))

    def run_monitor(self, model: str, name: str, deliver: bool) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"{self._base(model, name)}/run", json={"deliver": deliver})
        return out

    def monitor_get(self, model: str, name: str, what: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{self._base(model, name)}/{what}", params=params or None)
        return out


class MonitorMethods:
    """A model's monitors (docs/monitors.md), on the model handle of either client."""

    name: str
    transport: Any

    def add_monitor(
        self, spec: dict[str, Any] | str | Path | None = None, *, replace: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """Declare a monitor from a mapping, YAML text or a YAML file, or from keywords (``name``,
        ``suite``, ``window``, ``step``, ``reference``, ``segments``, ``channels``, ``renotify``, ``anchor``);
        ``replace=True`` changes an existing one. Returns the stored monitor."""
        from loopwise.checks import Suite
        from loopwise.schema.yamlfile import load_yaml

        doc: Any = dict(fields)
        if spec is not None:
            if fields:
                raise ParameterError("fields", sorted(fields), "none when a spec is given (one or the other)")
            doc = dict(spec) if isinstance(spec, dict) else load_yaml(spec, "monitor")
        if not isinstance(doc, dict):
            raise SchemaError(f"a monitor must be a mapping; got {type(doc).__name__}")
        if isinstance(doc.get("suite"), Suite):
            doc["suite"] = doc["suite"].to_dict()
        for key in ("segments", "channels"):
            if isinstance(doc.get(key), tuple):
                doc[key] = list(doc[key])
        out: dict[str, Any] = self.transport.put_monitor(self.name, doc, replace)
        return out

    def monitors(self) -> list[dict[str, Any]]:
        """The model's monitors."""
        out: list[dict[str, Any]] = self.transport.monitors(self.name)
        return out

    def delete_monitor(self, name: str) -> None:
        self.transport.delete_monitor(self.name, name)

    def run_monitors(self, name: str | None = None, *, deliver: bool = True) -> list[dict[str, Any]]:
        """Run the due windows of one monitor (or of all the model's) now; the runs this call ran."""
        runs: list[dict[str, Any]] = self.run_monitors_report(name, deliver=deliver)["runs"]
        return runs

    def run_monitors_report(self, name: str | None = None, *, deliver: bool = True) -> dict[str, Any]:
        """``run_monitors``, with what the alerts that were due came to: ``{"runs": [...], "deliveries":
        {"sent": n, "retrying": n, "failed": n}}`` (with ``deliver``, the pass sends every alert due)."""
        names = [name] if name is not None else [m["name"] for m in self.monitors()]
        runs: list[dict[str, Any]] = []
        deliveries = {"sent": 0, "retrying": 0, "failed": 0}
        for n in names:
            got = self.transport.run_monitor(self.name, n, deliver)
            runs.extend({"monitor": n, **r} for r in got["runs"])
            for k, v in (got.get("deliveries") or {}).items():
                deliveries[k] = deliveries.get(k, 0) + int(v)
        return {"runs": runs, "deliveries": deliveries}

    def monitor_history(
        self, name: str, limit: int = 100, *, before: dt.datetime | str | None = None
    ) -> list[dict[str, Any]]:
        """The monitor's runs, newest window first; with ``before``, those of windows ending before then
        (the next page: the last one's ``window_end``)."""
        from loopwise.client.base import _iso

        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = _iso(before, "before")
        runs: list[dict[str, Any]] = self.transport.monitor_get(self.name, name, "runs", params)["runs"]
        return runs

    def monitor_run(self, name: str, run_id: int) -> dict[str, Any]:
        """One run with every check's result (whole and per segment)."""
        out: dict[str, Any] = self.transport.monitor_get(self.name, name, f"runs/{int(run_id)}", {})
        return out

    def monitor_series(self, name: str) -> dict[str, Any]:
        """Each check's value, threshold and status per window."""
        out: dict[str, Any] = self.transport.monitor_get(self.name, name, "series", {})
        return out

    def incidents(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        found: list[dict[str, Any]] = self.transport.monitor_get(self.name, name, "incidents", params)[
            "incidents"
        ]
        return found

    def deliveries(self, name: str) -> list[dict[str, Any]]:
        """The monitor's delivery log (every alert, its attempts and outcome), newest first."""
        found: list[dict[str, Any]] = self.transport.monitor_get(self.name, name, "deliveries", {})[
            "deliveries"
        ]
        return found
