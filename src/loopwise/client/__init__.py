"""One client interface, two transports: HTTP (``Client(url, key)``) and embedded (``Client.local(path)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopwise.client.base import BackgroundLogger, ModelHandle
from loopwise.client.http import HTTPTransport, id_column
from loopwise.errors import ForbiddenError, ParameterError, ServerError


class Client:
    """Talk to a loopwise server, or run the same services in-process.

    Example:
        >>> import tempfile, loopwise as lw
        >>> c = lw.Client.local(tempfile.mkdtemp() + "/lw.db")
        >>> c.models()
        []
        >>> c.close()

    ``close()`` (or ``with lw.Client(...) as c:``) releases its connections: the HTTP client's sockets, the
    embedded client's database pool.
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 60.0, registry: Any = None) -> None:
        """``registry``: the trust rules for versions this client loads itself (``load_version``,
        ``load``), a ``loopwise.registry.RegistrySettings``; default: ``RegistrySettings.from_env()``
        (``LOOPWISE_TRUSTED_TYPES``, ``LOOPWISE_TRUST_PICKLE``), read when a version is loaded."""
        self.transport: Any = HTTPTransport(url, api_key, timeout, registry=registry)

    @classmethod
    def local(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        max_rows: int = 100_000,
        registry: Any = None,
        actor: str | None = None,
    ) -> Client:
        """The same services in-process on a SQLite file (or a database URL). With ``create=False`` a
        missing file is a ``DatabaseError`` instead of a new, empty database (the CLI's default).
        ``max_rows`` is the rows a batch may hold, as the server's ``LOOPWISE_MAX_ROWS``; ``registry``:
        a ``loopwise.registry.RegistrySettings`` (artifact directory, size limit, trusted types; default:
        ``RegistrySettings.from_env()``, the variables a server reads); ``actor``: who
        this client is in the audit trail (default ``local``; an approval needs another actor than the
        request's)."""
        from loopwise.client.local import LocalTransport
        from loopwise.store import sqlite_url

        self = cls.__new__(cls)
        target = str(path)
        url = target if "://" in target else sqlite_url(target)
        self.transport = LocalTransport(url, create=create, max_rows=max_rows, registry=registry, actor=actor)
        return self

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, name: str, schema: Any) -> ModelHandle:
        """Register a model with its schema: a ``Schema``, a dict as ``Schema.to_dict`` writes it, or a
        schema file's path or YAML text (read here, on the caller's side)."""
        if isinstance(schema, str | Path):
            from loopwise.schema import Schema

            schema = Schema.from_yaml(schema)
        if schema is None:
            raise ParameterError("schema", schema, "a Schema, a dict, or a schema file's path or YAML text")
        spec = schema.to_dict() if hasattr(schema, "to_dict") else schema
        self.transport.register(name, spec)
        return self.model(name)

    def describe(self, name: str) -> dict[str, Any]:
        """The model as registered: ``name`` and ``schema`` (a dict, as ``Schema.to_dict`` writes it)."""
        out: dict[str, Any] = self.transport.describe(name)
        return out

    def models(self) -> list[str]:
        return [m["name"] for m in self.transport.models()]

    # Users who sign in with a password (docs/review.md): over HTTP an admin key not limited to a model.
    def users(self) -> list[dict[str, Any]]:
        """Every user: name, role, models, whether disabled (never a password or its hash)."""
        out: list[dict[str, Any]] = self.transport.users()
        return out

    def user(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.transport.user(name)
        return out

    def add_user(
        self, name: str, password: str, *, role: str = "reviewer", models: list[str] | None = None
    ) -> dict[str, Any]:
        """Create a user who signs in with ``password`` (10 characters at least; hashed with argon2id). A
        reviewer needs at least one model."""
        body = {"name": name, "password": password, "role": role, "models": list(models or [])}
        out: dict[str, Any] = self.transport.add_user(body)
        return out

    def grant_models(self, name: str, models: list[str]) -> dict[str, Any]:
        """Let the user work on more models."""
        out: dict[str, Any] = self.transport.grant_user(name, list(models))
        return out

    def revoke_models(self, name: str, models: list[str]) -> dict[str, Any]:
        """Take models back from the user (a reviewer keeps at least one)."""
        out: dict[str, Any] = self.transport.revoke_user(name, list(models))
        return out

    def set_role(self, name: str, role: str) -> dict[str, Any]:
        """Give the user another role: admin, maintainer, reviewer or viewer."""
        out: dict[str, Any] = self.transport.set_user_role(name, role)
        return out

    def disable_user(self, name: str) -> dict[str, Any]:
        """Stop the user signing in and end their sessions."""
        out: dict[str, Any] = self.transport.disable_user(name, True)
        return out

    def enable_user(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.transport.disable_user(name, False)
        return out

    def model(self, name: str) -> ModelHandle:
        """A handle on a registered model. A key that may log but not read (role ``ingest``) gets one too:
        the schema is only needed to generate missing event ids, so its frames must then carry them."""
        try:
            described = self.transport.describe(name)
        except ForbiddenError:
            return ModelHandle(name, self.transport)
        schema = described["schema"]
        return ModelHandle(name, self.transport, id_column(schema), schema)


__all__ = ["BackgroundLogger", "Client", "ModelHandle", "ServerError"]
