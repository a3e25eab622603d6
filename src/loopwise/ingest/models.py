"""Registering and finding models."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from loopwise.errors import SchemaError
from loopwise.ingest.errors import ConflictError, NotFoundError
from loopwise.schema import Kind, Role, Schema, Task, infer_kind
from loopwise.store.audit import append
from loopwise.store.tables import Event, Model
from loopwise.store.types import utcnow


def register_model(s: Session, name: str, schema_spec: dict[str, Any], actor: str) -> Model:
    if not name or len(name) > 200 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise SchemaError(f"model name must be 1-200 letters, digits, '-', '_' or '.'; got {name!r}")
    schema = Schema.from_dict(schema_spec)
    for role in (Role.ID, Role.TIMESTAMP):
        if len(schema.by_role(role)) != 1:
            raise SchemaError(f"a served model's schema needs exactly one {role.value} column")
    existing = s.scalar(select(Model).where(Model.name == name))
    if existing is not None:
        # Registering again is a no-op when the schema is the one registered (kinds and the task the data
        # filled in since count as the same); anything else is refused, naming what differs.
        found = schema_differences(Schema.from_dict(existing.schema_json), schema)
        if found:
            more = f" (and {len(found) - 1} more difference(s))" if len(found) > 1 else ""
            raise ConflictError(
                f"model {name!r} is already registered with another schema: {found[0]}{more}; "
                "a model's schema is not changed by registering it again (register a model of another name)"
            )
        return existing
    model = Model(name=name, schema_json=schema.to_dict())
    s.add(model)
    s.flush()
    append(s, model.id, actor, "model.register", {"name": name})
    return model


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value.value) if hasattr(value, "value") else repr(value)


def schema_differences(registered: Schema, given: Schema) -> list[str]:
    """What ``given`` declares differently from the ``registered`` schema, in words, one line each (empty:
    the same). A kind or a task ``given`` leaves open is the same as one the data filled in since
    (recorded in ``inferred``)."""
    out: list[str] = []
    names = set(registered.names)
    for c in given:
        if c.name not in names:
            out.append(f"column {c.name!r} is not in the registered schema")
    for c in registered:
        if c.name not in given:
            out.append(f"the registered schema has column {c.name!r}, which this one lacks")
            continue
        g = given[c.name]
        for attr in ("role", "kind", "nullable", "allow_infinite", "values", "label", "unit", "description"):
            was, now = getattr(c, attr), getattr(g, attr)
            if attr == "kind" and now is None and c.name in registered.inferred:
                continue  # left open, as registered; the data fixed it since
            if was != now:
                word = attr.replace("_", " ")
                out.append(f"column {c.name!r}: {word} {_shown(was)} registered, {_shown(now)} given")
    open_task = given.task is None and "task" in registered.inferred
    if given.task != registered.task and not open_task:
        out.append(f"task {_shown(registered.task)} registered, {_shown(given.task)} given")
    if given.positive != registered.positive and not (open_task and given.positive is None):
        out.append(f"positive class {_shown(registered.positive)} registered, {_shown(given.positive)} given")
    return out


def get_model(s: Session, name: str) -> Model:
    # No model's name holds a NUL, and PostgreSQL refuses one in a text parameter: not looked up.
    model = s.scalar(select(Model).where(Model.name == name)) if "\x00" not in name else None
    if model is None:
        raise NotFoundError(f"no model named {name!r}")
    return model


#: Parsed schemas by (model id, registration time, revision): parsing 44 columns took a third of a
#: single-event request. A schema changes only by kinds left open being fixed, once each (``fix_kinds``),
#: so the number of columns with a kind is its revision.
_SCHEMAS: dict[tuple[int, str, int], Schema] = {}


def _revision(spec: dict[str, Any]) -> int:
    columns = spec.get("columns") or {}
    return sum(1 for c in columns.values() if isinstance(c, dict) and c.get("kind") is not None)


def model_names(s: Session, ids: Iterable[int] | None) -> list[str]:
    """The names of the models with ``ids``, sorted; None (not limited to some): every model's."""
    q = select(Model.name)
    if ids is not None:
        q = q.where(Model.id.in_(list(ids)))
    return sorted(s.scalars(q))


def model_schema(model: Model) -> Schema:
    key = (model.id, model.created_at.isoformat(), _revision(model.schema_json))
    schema = _SCHEMAS.get(key)
    if schema is None:
        if len(_SCHEMAS) > 10_000:  # bounded: forget everything rather than grow
            _SCHEMAS.clear()
        schema = _SCHEMAS[key] = Schema.from_dict(model.schema_json)
    return schema


#: (id, schema) of registered models, per database (keyed by the engine's connection pool, which its
#: read-only variants share and which dies with it). A model is never renamed or deleted once registered,
#: and its schema changes only when ``fix_kinds`` fixes a kind left open, which forgets the entry here
#: (other processes notice on their own: a batch holding a column whose kind looks open asks the
#: database); a name not found is not remembered.
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


#: Roles whose kind a schema may leave open; values of these roles are never free text.
OPEN_ROLES = (Role.PREDICTION, Role.TARGET, Role.SEGMENT)


def kinds_in(table: pa.Table, schema: Schema, names: list[str]) -> dict[str, Kind]:
    """The kinds ``names`` would get from ``table``, by the rule ``Schema.resolve`` uses offline."""
    out: dict[str, Kind] = {}
    for name in names:
        if name not in table.column_names or pa.types.is_null(table.column(name).type):
            continue  # all values missing: nothing to infer from yet
        kind = infer_kind(table.column(name))
        if kind is Kind.TEXT or (kind is Kind.NUMERIC and schema[name].role is Role.SEGMENT):
            kind = Kind.CATEGORICAL
        out[name] = kind
    return out


def fix_kinds(
    s: Session,
    name: str,
    found: dict[str, Kind],
    source: str,
    actor: str = "system",
    task: tuple[Task, str | None] | None = None,
) -> Schema:
    """Write kinds inferred from data into model ``name``'s stored schema, for columns still open; once.

    ``s`` must be a write session (the change commits with it). The model's row is locked first, so two
    writers fixing at once agree: the second finds the first's kinds. A model that already holds traffic
    profiled while a kind was open gets the kind its stored profiles have (categorical), so old and new
    buckets still merge. ``task`` (with its positive class) is fixed likewise when the schema has none.
    Returns the stored schema, fixed or not.
    """
    model = s.scalar(select(Model).where(Model.name == name).with_for_update())
    if model is None:
        raise NotFoundError(f"no model named {name!r}")
    schema = Schema.from_dict(model.schema_json)
    todo = {c: k for c, k in found.items() if c in schema and schema[c].kind is None}
    new_task = task if task is not None and schema.task is None else None
    if not todo and new_task is None:
        return schema
    sources = dict.fromkeys(todo, source)
    # Inputs (prediction, segment) already profiled with an open kind hold categories; a target's column
    # holds only the labels known at ingest, rebuilt from all labels when more come (``rebuild_tasks``).
    legacy = [c for c in todo if schema[c].role is not Role.TARGET]
    if legacy and s.scalar(select(Event.event_id).where(Event.model_id == model.id).limit(1)) is not None:
        todo.update(dict.fromkeys(legacy, Kind.CATEGORICAL))
        sources.update(dict.fromkeys(legacy, "the profiles stored before kinds were fixed (categories)"))
    at = utcnow().isoformat()
    columns = [replace(c, kind=todo[c.name]) if c.name in todo else c for c in schema]
    record = {
        **schema.inferred,
        **{c: {"kind": k.value, "at": at, "from": sources[c]} for c, k in todo.items()},
    }
    fixed = replace(schema.with_columns(columns), inferred=record)
    detail: dict[str, Any] = {"kinds": {c: k.value for c, k in todo.items()}, "from": sources}
    if new_task is not None:
        record["task"] = {"task": new_task[0].value, "at": at, "from": source}
        # A declared positive class stays: the data can tell the task, not which class matters.
        declared = schema.positive if new_task[0] is Task.BINARY else None
        fixed = replace(fixed, task=new_task[0], positive=declared or new_task[1], inferred=record)
        detail["task"] = new_task[0].value
    model.schema_json = fixed.to_dict()
    append(s, model.id, actor, "model.schema.inferred", detail)
    s.flush()
    forget(s.get_bind().engine, name)
    return fixed


def ensure_kinds(s: Session, name: str, schema: Schema, table: pa.Table, source: str) -> Schema:
    """``schema`` with the kinds it leaves open for ``table``'s columns fixed (see ``fix_kinds``).

    From a read-only session (the server prepares batches outside its write transaction) the fix is its
    own short write transaction; from a write session it joins that one.
    """
    open_here = [c for c in schema.open_kinds if c in table.column_names]
    if not open_here:
        return schema
    fresh = Schema.from_dict(get_model(s, name).schema_json)  # another process may have fixed them
    found = kinds_in(table, fresh, [c for c in fresh.open_kinds if c in table.column_names])
    bind = s.get_bind()
    if not found:
        forget(bind.engine, name)
        return fresh
    if not bind.get_execution_options().get("loopwise_readonly"):
        return fix_kinds(s, name, found, source)
    from loopwise.store import session_factory, transaction

    with transaction(session_factory(bind.engine)) as w:
        return fix_kinds(w, name, found, source)


def forget(bind: Engine, name: str) -> None:
    """Drop what ``registered`` remembered about ``name`` (its schema changed)."""
    with _registered_lock:
        _REGISTERED.get(bind.pool, {}).pop(name, None)
