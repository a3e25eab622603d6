"""Registering, listing and loading model versions (decision 0024)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from loopwise._lazy import lazy
from loopwise.errors import ConflictError, DataError, NotFoundError, ParameterError, UntrustedArtifactError
from loopwise.ingest import get_model, put_reference
from loopwise.registry.artifacts import PICKLE, SKOPS, ArtifactStore, Incoming
from loopwise.registry.audit import append, chain_of
from loopwise.registry.dryrun import SAMPLE_ROWS, dry_run
from loopwise.registry.flavors import FLAVORS, PICKLE_REFUSED, Predictor, load
from loopwise.registry.lineage import Lineage
from loopwise.registry.settings import RegistrySettings
from loopwise.schema import Role, Schema
from loopwise.store import insert_ignore, transaction
from loopwise.store.tables import Alias, Artifact, AuditEntry, Event
from loopwise.store.tables import ModelVersion as VersionRow
from loopwise.store.types import utcnow

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy("pandas")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: its artifact, flavor, lineage and the aliases it holds."""

    model: str
    name: str
    flavor: str
    sha256: str | None
    size: int | None
    format: str | None
    uri: str | None
    lineage: dict[str, Any]
    aliases: list[str]
    created_at: dt.datetime
    created_by: str
    dry_run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["created_at"] = self.created_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelVersion:
        at = d["created_at"]
        return cls(**{**d, "created_at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at})


#: What a version's or an alias's name may be, in words (the HTTP body's pattern says it as a regex).
NAME_RULE = "1-200 ASCII letters, digits, '-', '_' or '.', the first a letter or digit"


def valid_name(kind: str, name: str) -> str:
    """A version's or an alias's name: 1-200 ASCII letters, digits, ``-_.``, the first a letter or digit."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 200
        or not name.isascii()
        or not name[0].isalnum()
        or not all(ch.isalnum() or ch in "-_." for ch in name)
    ):
        raise ParameterError(kind, name, NAME_RULE)
    return name


def reference_name(version: str) -> str:
    """The name of the reference a version's lineage sets (its training data's profile)."""
    return f"version:{version}"


def register_version(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: RegistrySettings,
    store: ArtifactStore,
    model_name: str,
    version: str,
    *,
    flavor: str,
    artifact: BinaryIO | bytes | None = None,
    uri: str | None = None,
    sha256: str | None = None,
    lineage: Lineage | None = None,
    sample: pd.DataFrame | None = None,
    actor: str,
    admin: bool,
) -> ModelVersion:
    """Register ``version`` of ``model_name``: store its artifact, check it on a sample, record its lineage.

    ``sklearn`` and ``onnx`` take the artifact's bytes (a stream, read under the size limit); ``external``
    takes ``uri`` and ``sha256`` only. The version is loaded (under the trust rules of decision 0025) and
    run on ``sample`` (else on the model's most recent logged rows); one that does not fit the model's
    Schema is refused, naming the column, and nothing is stored. The upload, the load and the dry run happen
    before the write transaction (``sessions``), which only inserts the rows: on SQLite a write holds the one
    writer lock, and ingestion must not wait for a model to load.
    """
    valid_name("version", version)
    if flavor not in FLAVORS:
        raise ParameterError("flavor", flavor, FLAVORS)
    lineage = lineage or Lineage()
    with read_sessions() as s:
        model = get_model(s, model_name)
        _refuse_taken(s, model.id, model_name, version)
        schema = Schema.from_dict(model.schema_json)
    if flavor == "external":
        if artifact is not None:
            raise ParameterError("artifact", "bytes", "None for an external version (give uri and sha256)")
        if not uri or not sha256:
            raise ParameterError("uri and sha256", (uri, sha256), "both given for an external version")
        store.path(sha256.lower())  # checks the digest's form
        with transaction(sessions) as s:
            row = _add(s, model.id, version, flavor, sha256.lower(), uri, lineage, actor, {})
            _finish(s, model_name, model.id, row, lineage, actor)
            return describe(s, model_name, version)
    if artifact is None:
        raise ParameterError("artifact", None, f"the artifact's bytes for a {flavor} version")
    if uri is not None:
        raise ParameterError("uri", uri, f"None for a {flavor} version (its artifact is stored here)")
    with store.receive(artifact) as incoming:
        if sha256 is not None and sha256.lower() != incoming.artifact.sha256:
            raise DataError(f"the artifact's sha256 is {incoming.artifact.sha256}, not {sha256.lower()}")
        fmt = _check_format(incoming, flavor, settings, admin)
        features = [c.name for c in schema.by_role(Role.FEATURE)]
        predictor = load(incoming.path, fmt, flavor, version, features, settings)
        if sample is None:
            with read_sessions() as s:
                sample = recent_rows(s, model_name)
        checked = dry_run(model_name, schema, predictor, sample)
        with transaction(sessions) as s:
            # Two registrations of the same bytes at once both find no row: the second insert does nothing.
            stored = {"sha256": incoming.artifact.sha256, "size": incoming.artifact.size, "format": fmt}
            insert_ignore(s, Artifact.__table__, {**stored, "created_at": utcnow()})
            row = _add(s, model.id, version, flavor, incoming.artifact.sha256, None, lineage, actor, checked)
            _finish(s, model_name, model.id, row, lineage, actor)
            s.flush()  # a constraint the database refuses is refused before the file is kept
            incoming.keep()
            return describe(s, model_name, version)


def _refuse_taken(s: Session, model_id: int, model_name: str, version: str) -> None:
    if s.scalar(select(VersionRow.id).where(VersionRow.model_id == model_id, VersionRow.name == version)):
        raise ConflictError(f"model {model_name!r} already has a version named {version!r}")


def _check_format(incoming: Incoming, flavor: str, settings: RegistrySettings, admin: bool) -> str:
    found = incoming.artifact.format
    if found == PICKLE:
        if flavor != "sklearn" or not settings.trust_pickle:
            raise UntrustedArtifactError(PICKLE_REFUSED)
        if not admin:
            raise UntrustedArtifactError(
                "refused: the operator trusts pickle and joblib artifacts from admins only; this key is not "
                "an admin's"
            )
        return PICKLE
    if flavor == "sklearn":
        if found != SKOPS:
            raise DataError("a sklearn artifact must be an skops file (skops.io.dump); these bytes are not")
        return SKOPS
    if found == SKOPS:
        raise DataError("an onnx artifact must be an ONNX model; these bytes are an skops file")
    return "onnx"


def _add(
    s: Session,
    model_id: int,
    version: str,
    flavor: str,
    sha256: str | None,
    uri: str | None,
    lineage: Lineage,
    actor: str,
    checked: dict[str, Any],
) -> VersionRow:
    row = VersionRow(
        model_id=model_id,
        name=version,
        flavor=flavor,
        sha256=sha256,
        uri=uri,
        lineage=lineage.to_dict(),
        created_by=actor,
        meta={"dry_run": checked} if checked else {},
    )
    try:
        with s.begin_nested():  # a savepoint: the name taken by a registration that committed meanwhile
            s.add(row)
            s.flush()
    except IntegrityError:
        raise ConflictError(f"this model already has a version named {version!r}") from None
    return row


def _finish(
    s: Session, model_name: str, model_id: int, row: VersionRow, lineage: Lineage, actor: str
) -> None:
    if lineage.reference is not None:
        ref = reference_name(row.name)
        put_reference(s, model_name, lineage.reference, ref, {"source": "lineage", "version": row.name})
        row.lineage = {**row.lineage, "reference": ref}
    append(
        s,
        model_id,
        actor,
        "version.register",
        {"version": row.name, "flavor": row.flavor, "sha256": row.sha256},
    )


def recent_rows(s: Session, model_name: str) -> pd.DataFrame:
    """The model's most recent logged rows (those of its latest hour), for a dry prediction."""
    from loopwise.ingest import export_window

    model = get_model(s, model_name)
    latest = s.scalar(select(func.max(Event.bucket)).where(Event.model_id == model.id))
    if latest is None:
        raise DataError(
            f"model {model_name!r} has no logged traffic to check the version on: give a sample "
            "(a DataFrame holding the schema's feature columns)"
        )
    data = export_window(s, model_name, latest, latest + dt.timedelta(hours=1))
    rows: pd.DataFrame = pq.read_table(io.BytesIO(data)).slice(0, SAMPLE_ROWS).to_pandas()
    return rows


def _rows(
    s: Session, model_name: str, version: str | None = None
) -> list[tuple[VersionRow, Artifact | None]]:
    model = get_model(s, model_name)
    q = (
        select(VersionRow, Artifact)
        .outerjoin(Artifact, Artifact.sha256 == VersionRow.sha256)
        .where(VersionRow.model_id == model.id)
        .order_by(VersionRow.created_at, VersionRow.id)
    )
    if version is not None:
        q = q.where(VersionRow.name == version)
    return [(v, a) for v, a in s.execute(q).all()]


def _aliases(s: Session, model_name: str) -> dict[int, list[str]]:
    model = get_model(s, model_name)
    out: dict[int, list[str]] = {}
    for name, vid in s.execute(
        select(Alias.name, Alias.version_id).where(Alias.model_id == model.id).order_by(Alias.name)
    ):
        out.setdefault(vid, []).append(name)
    return out


def _public(model_name: str, v: VersionRow, a: Artifact | None, aliases: list[str]) -> ModelVersion:
    stored = a is not None and v.flavor != "external"
    return ModelVersion(
        model=model_name,
        name=v.name,
        flavor=v.flavor,
        sha256=v.sha256,
        size=a.size if stored and a is not None else None,
        format=a.format if stored and a is not None else None,
        uri=v.uri,
        lineage=dict(v.lineage or {}),
        aliases=aliases,
        created_at=v.created_at,
        created_by=v.created_by,
        dry_run=dict((v.meta or {}).get("dry_run", {})),
    )


def list_versions(s: Session, model_name: str) -> list[ModelVersion]:
    """Every registered version of the model, oldest first."""
    held = _aliases(s, model_name)
    return [_public(model_name, v, a, held.get(v.id, [])) for v, a in _rows(s, model_name)]


def describe(s: Session, model_name: str, version: str) -> ModelVersion:
    found = _rows(s, model_name, version)
    if not found:
        raise NotFoundError(f"model {model_name!r} has no version named {version!r}")
    v, a = found[0]
    return _public(model_name, v, a, _aliases(s, model_name).get(v.id, []))


def load_version(
    s: Session, settings: RegistrySettings, store: ArtifactStore, model_name: str, version: str
) -> Predictor:
    """The version's predictor, loaded from the stored artifact under the operator's current trust rules."""
    info = describe(s, model_name, version)
    if info.flavor == "external":
        raise DataError(
            f"version {version!r} of model {model_name!r} is external ({info.uri}): loopwise records it and "
            "never loads it"
        )
    assert info.sha256 is not None and info.format is not None  # stored flavors always have both
    path = store.path(info.sha256)
    if not path.is_file():
        raise NotFoundError(
            f"the artifact of version {version!r} ({info.sha256}) is not in {store.directory}"
        )
    model = get_model(s, model_name)
    check_registered(s, model_name, model.id, version, info.sha256)
    found = store.digest(info.sha256)
    if found != info.sha256:
        raise DataError(
            f"the artifact of version {version!r} does not match its recorded sha256 {info.sha256}: the "
            f"file in {store.directory} holds bytes whose sha256 is {found} (overwritten); not loaded"
        )
    schema = Schema.from_dict(model.schema_json)
    features = [c.name for c in schema.by_role(Role.FEATURE)]
    return load(path, info.format, info.flavor, version, features, settings)


def check_registered(s: Session, model_name: str, model_id: int, version: str, sha256: str) -> None:
    """Refuse a version whose row names another artifact than its registration recorded (decision 0060)."""
    registered = registered_sha256(s, model_id, version)
    if registered is not None and registered[1] != sha256:
        raise DataError(
            f"the artifact of version {version!r} does not match its recorded sha256: its row names "
            f"{sha256}, its registration (audit entry {registered[0]}) recorded {registered[1]}; "
            f"loopwise audit verify {model_name} names the change"
        )


def registered_sha256(s: Session, model_id: int, version: str) -> tuple[int, str | None] | None:
    """The sha256 the version's chained ``version.register`` entry recorded, with the entry's id (None: no
    such entry, as in a database an earlier development build wrote)."""
    for entry_id, detail in s.execute(
        select(AuditEntry.id, AuditEntry.detail)
        .where(
            AuditEntry.chain == chain_of(model_id),  # the chain's index reads the model's entries only
            AuditEntry.action == "version.register",
        )
        .order_by(AuditEntry.seq.desc())
    ):
        if isinstance(detail, dict) and detail.get("version") == version:
            return entry_id, detail.get("sha256")
    return None
