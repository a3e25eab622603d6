"""Registering and finding models."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from loopwise.errors import SchemaError
from loopwise.ingest.errors import ConflictError, NotFoundError
from loopwise.schema import Role, Schema
from loopwise.store.tables import AuditEntry, Model


def register_model(s: Session, name: str, schema_spec: dict[str, Any], actor: str) -> Model:
    if not name or len(name) > 200 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise SchemaError(f"model name must be 1-200 letters, digits, '-', '_' or '.'; got {name!r}")
    schema = Schema.from_dict(schema_spec)
    for role in (Role.ID, Role.TIMESTAMP):
        if len(schema.by_role(role)) != 1:
            raise SchemaError(f"a served model's schema needs exactly one {role.value} column")
    if s.scalar(select(Model).where(Model.name == name)) is not None:
        raise ConflictError(f"model {name!r} is already registered")
    model = Model(name=name, schema_json=schema.to_dict())
    s.add(model)
    s.flush()
    s.add(AuditEntry(actor=actor, action="model.register", model_id=model.id, detail={"name": name}))
    return model


def get_model(s: Session, name: str) -> Model:
    q = select(Model).where(Model.name == name)
    model = s.scalar(q)
    if model is None:
        raise NotFoundError(f"no model named {name!r}")
    return model


#: Parsed schemas by (model id, registration time): a model's schema never changes once registered, and
#: parsing 44 columns took a third of a single-event request.
_SCHEMAS: dict[tuple[int, str], Schema] = {}


def model_schema(model: Model) -> Schema:
    key = (model.id, model.created_at.isoformat())
    schema = _SCHEMAS.get(key)
    if schema is None:
        if len(_SCHEMAS) > 10_000:  # bounded: forget everything rather than grow
            _SCHEMAS.clear()
        schema = _SCHEMAS[key] = Schema.from_dict(model.schema_json)
    return schema


#: (id, schema) of registered models, per database (keyed by the engine's connection pool, which its
#: read-only variants share and which dies with it). A model is never renamed, changed or deleted once
#: registered, so what was found stays true; a name not found is not remembered.
_REGISTERED: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, Schema]]] = weakref.WeakKeyDictionary()
_registered_lock = threading.Lock()


def remembered(bind: Engine, name: str) -> tuple[int, Schema] | None:
    """What ``registered`` found before for ``name`` in ``bind``'s database, without a query; else None."""
    with _registered_lock:
        return _REGISTERED.get(bind.pool, {}).get(name)


def registered(s: Session, name: str) -> tuple[int, Schema]:
    """The id and schema of the model named ``name`` (NotFoundError if none): a query the first time only.

    For the write path, where the lookup was one of a write group's dozen round trips to the database, and
    for the check of keys limited to one model.
    """
    engine = s.get_bind().engine
    hit = remembered(engine, name)
    if hit is not None:
        return hit
    model = get_model(s, name)
    found = (model.id, model_schema(model))
    with _registered_lock:
        known = _REGISTERED.setdefault(engine.pool, {})
        if len(known) > 10_000:  # bounded: forget everything rather than grow
            known.clear()
        known[name] = found
    return found
