"""The review queue through either client (decision 0036): the same methods over HTTP and in process.

Over HTTP the reviewer is whoever the API key names; in process, the local client's actor.
"""

from __future__ import annotations

from typing import Any, Protocol

from loopwise.client.paths import model_url, seg


class _Sender(Protocol):
    def _send(self, method: str, path: str, **kw: Any) -> Any: ...


class HttpReview:
    """``/v1/models/{model}/review/...`` requests."""

    def set_review_policy(self: _Sender, model: str, spec: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("PUT", f"{model_url(model)}/review/policy", json=spec)
        return out

    def review_policy(self: _Sender, model: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/review/policy")
        return out

    def fill_review(self: _Sender, model: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"{model_url(model)}/review/fill", json=body)
        return out

    def stream_review(self: _Sender, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("POST", f"{model_url(model)}/review/stream", json=body)[
            "fills"
        ]
        return out

    def next_review_task(self: _Sender, model: str) -> dict[str, Any] | None:
        out: dict[str, Any] | None = self._send("POST", f"{model_url(model)}/review/tasks/next")["task"]
        return out

    def submit_review(self: _Sender, model: str, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send(
            "POST", f"{model_url(model)}/review/tasks/{seg(task_id, 'task_id')}/submit", json=body
        )
        return out

    def skip_review(self: _Sender, model: str, task_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send(
            "POST", f"{model_url(model)}/review/tasks/{seg(task_id, 'task_id')}/skip"
        )
        return out

    def adjudicate_review(self: _Sender, model: str, task_id: str, label: Any) -> dict[str, Any]:
        path = f"{model_url(model)}/review/tasks/{seg(task_id, 'task_id')}/adjudicate"
        out: dict[str, Any] = self._send("POST", path, json={"label": label})
        return out

    def add_gold(self: _Sender, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", f"{model_url(model)}/review/gold", json={"items": items})
        return out

    def review_tasks(self: _Sender, model: str, state: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        out: list[dict[str, Any]] = self._send("GET", f"{model_url(model)}/review/tasks", params=params)[
            "tasks"
        ]
        return out

    def resume_reviewer(self: _Sender, model: str, reviewer: str, clear: bool) -> dict[str, Any]:
        path = f"{model_url(model)}/review/reviewers/{seg(reviewer, 'reviewer')}/resume"
        out: dict[str, Any] = self._send("POST", path, json={"clear": clear})
        return out

    def stream_day(self: _Sender, model: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/review/stream")
        return out

    def review_stats(self: _Sender, model: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", f"{model_url(model)}/review/stats")
        return out

    def review_export(self: _Sender, model: str) -> bytes:
        r = self._request("GET", f"{model_url(model)}/review/export")  # type: ignore[attr-defined]
        return bytes(r.content)


class _Local(Protocol):
    actor: str

    @property
    def sessions(self) -> Any: ...

    @property
    def read_sessions(self) -> Any: ...


class LocalReview:
    """The same, on the local database."""

    def set_review_policy(self: _Local, model: str, spec: dict[str, Any]) -> dict[str, Any]:
        from loopwise.review import set_policy
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return set_policy(s, model, spec, self.actor)

    def review_policy(self: _Local, model: str) -> dict[str, Any]:
        from loopwise.review import get_policy

        with self.read_sessions() as s:
            out: dict[str, Any] = get_policy(s, model)
            return out

    def fill_review(self: _Local, model: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.client.local import _time
        from loopwise.review import fill
        from loopwise.store import transaction

        start, end = _time(body["start"]), _time(body["end"])
        assert start is not None and end is not None
        with transaction(self.sessions) as s:
            return fill(s, model, start, end, self.actor, seed=body.get("seed"))

    def stream_review(self: _Local, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        from loopwise.client.local import _time
        from loopwise.review import stream_model

        return stream_model(self.sessions, model, until=_time(body.get("until")))

    def next_review_task(self: _Local, model: str) -> dict[str, Any] | None:
        from loopwise.review import next_task
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return next_task(s, model, self.actor)

    def submit_review(self: _Local, model: str, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.review import submit
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return submit(
                s, model, self.actor, task_id, body["label"], self.actor, comment=body.get("comment")
            )

    def skip_review(self: _Local, model: str, task_id: str) -> dict[str, Any]:
        from loopwise.review import skip
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return skip(s, model, self.actor, task_id, self.actor)

    def adjudicate_review(self: _Local, model: str, task_id: str, label: Any) -> dict[str, Any]:
        from loopwise.review import adjudicate
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return adjudicate(s, model, task_id, label, self.actor)

    def add_gold(self: _Local, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        from loopwise.review import add_gold
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return dict(add_gold(s, model, items, self.actor))

    def review_tasks(self: _Local, model: str, state: str | None, limit: int) -> list[dict[str, Any]]:
        from loopwise.review import list_tasks

        with self.read_sessions() as s:
            return list_tasks(s, model, state, limit)

    def resume_reviewer(self: _Local, model: str, reviewer: str, clear: bool) -> dict[str, Any]:
        from loopwise.ingest import get_model
        from loopwise.review import resume
        from loopwise.store import transaction

        with transaction(self.sessions) as s:
            return resume(s, get_model(s, model), reviewer, clear, self.actor)

    def stream_day(self: _Local, model: str) -> dict[str, Any]:
        from loopwise.review import stream_day
        from loopwise.wire.review import StreamDay

        with self.read_sessions() as s:
            day = stream_day(s, model)
        return StreamDay.model_validate({"model": model, **(day or {})}).model_dump()

    def review_stats(self: _Local, model: str) -> dict[str, Any]:
        from loopwise.review import review_stats

        with self.read_sessions() as s:
            return review_stats(s, model)

    def review_export(self: _Local, model: str) -> bytes:
        from loopwise.review import export_review

        with self.read_sessions() as s:
            return export_review(s, model)
