"""Users who sign in with a password, managed through either client (docs/review.md; decision 0042): over
HTTP with an admin key not limited to a model, or in process on the local database (as ``loopwise users``)."""

from __future__ import annotations

from typing import Any, Protocol

from loopwise.client.paths import seg


class _Sender(Protocol):
    def _send(self, method: str, path: str, **kw: Any) -> Any: ...


def _path(name: str, what: str = "") -> str:
    return f"/v1/users/{seg(name, 'name')}{what}"


class HttpUsers:
    """``/v1/users`` requests."""

    def users(self: _Sender) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._send("GET", "/v1/users")["users"]
        return out

    def user(self: _Sender, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("GET", _path(name))
        return out

    def add_user(self: _Sender, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", "/v1/users", json=body)
        return out

    def grant_user(self: _Sender, name: str, models: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", _path(name, "/grant"), json={"models": models})
        return out

    def revoke_user(self: _Sender, name: str, models: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", _path(name, "/revoke"), json={"models": models})
        return out

    def set_user_role(self: _Sender, name: str, role: str) -> dict[str, Any]:
        out: dict[str, Any] = self._send("PUT", _path(name, "/role"), json={"role": role})
        return out

    def disable_user(self: _Sender, name: str, disabled: bool) -> dict[str, Any]:
        out: dict[str, Any] = self._send("POST", _path(name, "/disable" if disabled else "/enable"))
        return out


class _Local(Protocol):
    actor: str

    @property
    def sessions(self) -> Any: ...

    @property
    def read_sessions(self) -> Any: ...


def _dict(u: Any) -> dict[str, Any]:
    return {"name": u.name, "role": u.role, "disabled": u.disabled, "models": list(u.models)}


class LocalUsers:
    """The same, on the local database."""

    def users(self: _Local) -> list[dict[str, Any]]:
        from loopwise.store.users import list_users

        with self.read_sessions() as s:
            return [_dict(u) for u in list_users(s)]

    def user(self: _Local, name: str) -> dict[str, Any]:
        from loopwise.store.users import get_user

        with self.read_sessions() as s:
            return _dict(get_user(s, name))

    def add_user(self: _Local, body: dict[str, Any]) -> dict[str, Any]:
        from loopwise.store import transaction
        from loopwise.store.users import create_user

        with transaction(self.sessions) as s:
            u = create_user(
                s, body["name"], body["password"], body["role"], list(body["models"]), actor=self.actor
            )
            return _dict(u)

    def grant_user(self: _Local, name: str, models: list[str]) -> dict[str, Any]:
        from loopwise.store import transaction
        from loopwise.store.users import grant

        with transaction(self.sessions) as s:
            return _dict(grant(s, name, models, actor=self.actor))

    def revoke_user(self: _Local, name: str, models: list[str]) -> dict[str, Any]:
        from loopwise.store import transaction
        from loopwise.store.users import revoke

        with transaction(self.sessions) as s:
            return _dict(revoke(s, name, models, actor=self.actor))

    def set_user_role(self: _Local, name: str, role: str) -> dict[str, Any]:
        from loopwise.store import transaction
        from loopwise.store.users import set_role

        with transaction(self.sessions) as s:
            return _dict(set_role(s, name, role, actor=self.actor))

    def disable_user(self: _Local, name: str, disabled: bool) -> dict[str, Any]:
        from loopwise.store import transaction
        from loopwise.store.users import set_disabled

        with transaction(self.sessions) as s:
            return _dict(set_disabled(s, name, disabled, actor=self.actor))
