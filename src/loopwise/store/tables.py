"""The database tables. Raw events are kept compactly (decision 0003): each ingested batch is one
compressed Arrow IPC blob, and a narrow index row per event holds what joins and lookups need."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loopwise.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    schema_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The registry's columns (migration 0008; decision 0024): how the version is loaded, from which bytes.
    flavor: Mapped[str] = mapped_column(String(20), default="external", server_default="external")
    #: The artifact's digest: a stored file (``artifacts``), or for ``external`` the digest recorded.
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Where an ``external`` artifact lives (recorded, never fetched).
    uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    __table_args__ = (Index("ux_model_versions", "model_id", "name", unique=True),)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    n_rows: Mapped[int] = mapped_column(Integer)
    arrow: Mapped[bytes] = mapped_column(LargeBinary)
    # The batch's summary (migration 0018, decision 0049), written with its index rows: the earliest and the
    # latest time of its events, how many index rows it has, and the version when one served them all (else
    # None). A window reads the batches these bounds meet instead of scanning the events' index.
    first_ts: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_ts: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    n_events: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Covering: the columns after the blob are read from the index alone (on SQLite a row's columns past a
    # large blob are reached through its overflow pages, i.e. the whole blob).
    __table_args__ = (
        Index("ix_batches_window", "model_id", "last_ts", "first_ts", "n_events", "n_rows", "version"),
    )


class Event(Base):
    __tablename__ = "events"
    # No foreign key: its per-row check cost more than the row (decision 0010). Only the write path inserts
    # here, with a model id it has just read; deleting a model would delete its events itself.
    model_id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(200))
    ts: Mapped[dt.datetime] = mapped_column()
    bucket: Mapped[dt.datetime] = mapped_column()
    batch_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    row: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)  # as migration 0001 made it
    __table_args__ = (Index("ix_events_bucket", "model_id", "version", "bucket"),)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ux_feedback", "model_id", "event_id", "source", "kind", unique=True),)


class BucketProfile(Base):
    __tablename__ = "bucket_profiles"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    profile: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: How many times the labels of the bucket's events changed (a first label, a replaced or retracted
    #: one): a monitor run that saw fewer is run again (decision 0041).
    labels: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class BucketPart(Base):
    """The profile of one batch's rows in one bucket: appended at ingestion, folded into the bucket later."""

    __tablename__ = "bucket_parts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(200))
    bucket: Mapped[dt.datetime] = mapped_column()
    batch_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    n: Mapped[int] = mapped_column(Integer)
    profile: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_bucket_parts_bucket", "model_id", "version", "bucket"),)


class EdgeSet(Base):
    """Histogram edges of a numeric column by fingerprint; stored profiles name them, not hold them."""

    __tablename__ = "edge_sets"
    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    edges: Mapped[bytes] = mapped_column(LargeBinary)


class Anchor(Base):
    """The histogram edges (column -> fingerprint) new profiles of a model use; ``serial`` counts changes."""

    __tablename__ = "anchors"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    edges: Mapped[dict[str, Any]] = mapped_column(JSON)
    serial: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Rollup(Base):
    """The merged profile of one day's hourly buckets (a cache: rebuilt when a bucket of the day changes)."""

    __tablename__ = "rollups"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[dt.datetime] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    profile: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Reference(Base):
    __tablename__ = "references"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    profile: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When the key last authenticated a request, to within a minute (None: never).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    model_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The hash chain (migration 0009; decision 0028): entries appended through ``registry.audit.append``
    # carry their chain (one per model), their number in it, the previous entry's hash and their own.
    chain: Mapped[str | None] = mapped_column(String(100), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    __table_args__ = (Index("ux_audit_log_chain", "chain", "seq", unique=True),)


class AuditHead(Base):
    """A chain's last entry: its number and hash. Appending locks this row, so a chain never forks; it also
    shows an entry deleted from the end of a chain."""

    __tablename__ = "audit_heads"
    chain: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class Idempotency(Base):
    __tablename__ = "idempotency"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    """A stored artifact file, by content: the path is derived from the digest (decision 0025)."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    #: ``skops``, ``onnx`` or ``pickle``, as the bytes showed.
    format: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Alias(Base):
    """A named pointer to one version of a model; a version holds at most one of its model's aliases."""

    __tablename__ = "aliases"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ux_aliases_version", "model_id", "version_id", unique=True),)


class AliasEvent(Base):
    """One move of an alias (appended, never changed): what held it before, what holds it after, who and why.

    ``version_at`` answers from these rows alone; version names (not ids) keep them readable on their own.
    """

    __tablename__ = "alias_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(200))
    from_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_alias_events_at", "model_id", "alias", "at"),)


class OutputBatch(Base):
    """What a version that did not serve some events answered for them (DESIGN.md decision 9, as changed by
    decision 0039): one row per replay batch or per run of live shadow traffic, its outputs in one Arrow IPC
    blob (event ids, predictions, one probability column per class). Keyed by (model, event, version) all
    the same: the writers (``registry.outputs``) store an (event, version) once, and the first answer stays.
    Paired comparisons read the blobs whose events' times meet their window."""

    __tablename__ = "output_batches"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No foreign key, as for events (decision 0010): only the registry's replay and shadow writes insert.
    model_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(200))
    #: ``replay`` or ``shadow``.
    source: Mapped[str] = mapped_column(String(10))
    n_rows: Mapped[int] = mapped_column(Integer)
    #: The earliest and the latest time of the blob's events: a window reads the blobs these bounds meet.
    first_ts: Mapped[dt.datetime] = mapped_column()
    last_ts: Mapped[dt.datetime] = mapped_column()
    #: A replay batch's model time per row (the version's own, reading and storing excluded); None: shadow.
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    arrow: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_output_batches_window", "model_id", "version", "first_ts"),)


class BatchOutputs(Base):
    """A logged batch's narrow columns (its events' ids, the served predictions and scores, the segments) in
    an Arrow IPC blob of their own, beside the batch's whole blob (decision 0062): a paired comparison reads
    these instead of every logged column (30 MB instead of 352 MB for 1,000,000 events of 40 features).
    Batches stored before migration 0020 have none; their readers fall back to the whole blob."""

    __tablename__ = "batch_outputs"
    batch_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # No foreign key, as for events (decision 0010): written with its batch, in the same transaction.
    model_id: Mapped[int] = mapped_column(Integer)
    arrow: Mapped[bytes] = mapped_column(LargeBinary)


class LabelPart(Base):
    """The labels and corrections of the feedback table, column-wise (decision 0062): each feedback write
    appends what it changed (an event id, +1 for a new label, 0 for a replaced one, -1 for a removed one,
    and the label's JSON text) to the model's last part while that part is small, else to a new one. Read
    in id order, the parts give each event's label count and its latest label without a scan of the
    feedback table, which stays the record."""

    __tablename__ = "label_parts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(Integer)
    n_rows: Mapped[int] = mapped_column(Integer)
    arrow: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_label_parts_model", "model_id", "id"),)


class GateResult(Base):
    """One run of a gate (decision 0027): a challenger against the champion on a window's paired events."""

    __tablename__ = "gate_results"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(200))
    champion: Mapped[str] = mapped_column(String(200))
    #: ``pass``, ``fail`` or ``inconclusive``.
    status: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(500))
    suite: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The window, the versions, the paired and labelled event counts, the evaluations it read.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The SuiteResult (every check's outcome).
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)
    comparisons: Mapped[Any] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_gate_results_version", "model_id", "version", "id"),)


class Promotion(Base):
    """A request to move an alias onto a version: pending approval, or done (promoted, approved, forced)."""

    __tablename__ = "promotions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    gate_result_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    __table_args__ = (Index("ix_promotions_model", "model_id", "status"),)


class PromotionPolicy(Base):
    """How a model's versions are promoted: ``gate``, ``gate+approval`` or ``approval`` (decision 0027)."""

    __tablename__ = "promotion_policies"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A registry job run in the background (an evaluation over HTTP, decision 0029): its state, progress
    and, once done, its result or the error that ended it. A running job writes ``heartbeat_at`` after each
    batch, so a reader can tell a job whose process stopped (the row stays ``running``)."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    #: ``queued``, ``running``, ``done`` or ``failed``.
    state: Mapped[str] = mapped_column(String(10))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ``{"done": rows, "total": rows}``.
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_jobs_model", "model_id", "created_at"),)


class User(Base):
    """A person who signs in with a password (decision 0036): a reviewer, or a maintainer who adjudicates.

    Only the argon2 hash of the password is stored (``loopwise.store.users``); there is no default user."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UserModel(Base):
    """A model a user may work on; a reviewer sees no other (another model's task is a 404)."""

    __tablename__ = "user_models"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)


class UserSession(Base):
    """A signed-in browser: the SHA-256 of the cookie's token (never the token), the session's CSRF token."""

    __tablename__ = "user_sessions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class LoginAttempt(Base):
    """A sign-in attempt under way or failed (decision 0042), per key: the SHA-256 of ``name:<name>`` or
    ``addr:<address>`` (a name typed in is sometimes a password). Shared by every server process."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column()
    __table_args__ = (Index("ix_login_attempts_key", "key", "at"), Index("ix_login_attempts_at", "at"))


class ReviewPolicy(Base):
    """A model's review policy as given (selectors, budget, overlap, gold): ``loopwise.review.policies``."""

    __tablename__ = "review_policies"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: A stream's watermark (migration 0017; decision 0046): the end of the last increment it went through,
    #: with or without events. Increments without events are not stored as fills; this says they ran.
    stream_mark: Mapped[dt.datetime | None] = mapped_column(nullable=True, default=None)


class ReviewFill(Base):
    """One run of the policy over a window: its size, budget and the policy it ran, so that the tasks'
    inclusion probabilities can be weighted back into estimates of that window."""

    __tablename__ = "review_fills"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    start: Mapped[dt.datetime] = mapped_column()
    end: Mapped[dt.datetime] = mapped_column()
    window_rows: Mapped[int] = mapped_column(Integer)
    budget: Mapped[float] = mapped_column(Float)
    tasks: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: ``demand`` (asked for over a window) or ``stream`` (an increment filled as events arrive).
    mode: Mapped[str] = mapped_column(String(10), default="demand", server_default="demand")
    __table_args__ = (Index("ix_review_fills_model", "model_id", "start"),)


class ReviewTask(Base):
    """A Prediction selected for review (a fill's task), or a gold item (``selector`` ``gold``, a known
    ``gold_label``, no fill). The id is random, so ids say nothing about a task's kind or order."""

    __tablename__ = "review_tasks"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    fill_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_fills.id", ondelete="CASCADE"), nullable=True
    )
    event_id: Mapped[str] = mapped_column(String(200))
    selector: Mapped[str] = mapped_column(String(100))
    inclusion_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    selector_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The order tasks are handed out in.
    position: Mapped[int] = mapped_column(BigInteger)
    #: Labels wanted (1, or k for an overlap task; 0 for gold: every reviewer answers it once).
    needed: Mapped[int] = mapped_column(Integer)
    #: Reviewers holding or having answered it (skips give their place back).
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    #: ``open``, ``adjudication`` (a tie), ``resolved``, ``suspect`` (its label now suspect), ``gold``.
    state: Mapped[str] = mapped_column(String(20))
    #: The model's prediction for the event, as logged (what a label is compared with).
    prediction: Mapped[Any] = mapped_column(JSON, nullable=True)
    gold_label: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The resolved label, ``{"label": value}``, and the Feedback source it was stored under.
    label: Mapped[Any] = mapped_column(JSON, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        Index("ix_review_tasks_queue", "model_id", "state", "position"),
        Index("ix_review_tasks_event", "model_id", "event_id"),
    )


class ReviewLabel(Base):
    """One reviewer's part in one task: assigned, then submitted (or skipped). ``suspect``: given while the
    reviewer's gold accuracy was failing; kept and shown, out of consensus and estimates until cleared."""

    __tablename__ = "review_labels"
    task_id: Mapped[str] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_id: Mapped[int] = mapped_column(Integer)
    #: ``assigned``, ``submitted``, ``skipped`` or ``discarded``.
    state: Mapped[str] = mapped_column(String(20))
    label: Mapped[Any] = mapped_column(JSON, nullable=True)
    comment: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: On a gold task: whether the label was the known answer.
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    suspect: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_review_labels_reviewer", "model_id", "reviewer", "state"),)


class ReviewerState(Base):
    """A reviewer's standing on one model: paused when their gold accuracy fails; since when gold counts."""

    __tablename__ = "reviewer_states"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: The last gold answer after which the reviewer passed: labels after it turn suspect on a pause.
    passed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: Gold answers before this (a resume) no longer count.
    counted_from: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Monitor(Base):
    """A model's monitor (decision 0035): a Suite run on each window ``[end - window, end)`` whose end is
    ``anchor + k * step``, against a reference, per segment, alerting channels."""

    __tablename__ = "monitors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    suite: Mapped[dict[str, Any]] = mapped_column(JSON)
    window_seconds: Mapped[int] = mapped_column(Integer)
    step_seconds: Mapped[int] = mapped_column(Integer)
    anchor: Mapped[dt.datetime] = mapped_column()
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    segments: Mapped[Any] = mapped_column(JSON, default=list)
    #: Channel specs; secrets only as names of environment variables, never the secrets themselves.
    channels: Mapped[Any] = mapped_column(JSON, default=list)
    #: Change detectors on the suite's check values (``loopwise.monitors.detect``), and their state between
    #: runs: ``{name: {"spec", "state" (base64 of Detector.to_bytes), "ends" (window ends fed)}}``.
    detectors: Mapped[Any] = mapped_column(JSON, default=list)
    detector_state: Mapped[Any] = mapped_column(JSON, default=dict)
    renotify_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``[{"until": ISO time, "check": name or None, "segment": value or None, "reason": text}]``.
    silences: Mapped[Any] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ux_monitors_name", "model_id", "name", unique=True),)


class MonitorRun(Base):
    """One window of a monitor: one row per (monitor, window end), claimed with a lease, run once."""

    __tablename__ = "monitor_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    window_start: Mapped[dt.datetime] = mapped_column()
    window_end: Mapped[dt.datetime] = mapped_column()
    #: ``pending``, ``running``, ``done`` (the suite ran), ``empty`` (no traffic) or ``failed``.
    state: Mapped[str] = mapped_column(String(10))
    #: The suite's overall status when done: ``pass``, ``warn``, ``fail`` or ``error``.
    status: Mapped[str | None] = mapped_column(String(10), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    n: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The label changes its window's buckets had counted when it ran (``BucketProfile.labels``, summed).
    labels: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: What re-runs replaced, oldest first: ``[{"reason", "marked_at", "status", "n", "labels",
    #: "finished_at", "failed"}]`` (a late batch or late labels set the run back to pending; decision 0041).
    superseded: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: ``{"all": SuiteResult dict, "segments": {"col=value": SuiteResult dict}}``.
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: Whether the run's outcome was applied to the incidents (in window order; decision 0035).
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        Index("ux_monitor_runs", "monitor_id", "window_end", unique=True),
        Index("ix_monitor_runs_state", "state", "window_end"),
    )


class Incident(Base):
    """A check of a monitor that failed, open until the check passes again (one alert per incident)."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    check_name: Mapped[str] = mapped_column(String(500))
    segment: Mapped[str] = mapped_column(String(500), default="")
    #: ``open`` or ``resolved``.
    state: Mapped[str] = mapped_column(String(10))
    severity: Mapped[str] = mapped_column(String(10))
    opened_run_id: Mapped[int] = mapped_column(BigInteger)
    last_run_id: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    condition: Mapped[str] = mapped_column(String(500), default="")
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_incidents_monitor", "monitor_id", "state", "check_name", "segment"),)


class AlertDelivery(Base):
    """One message to one channel about an incident (opened, reminder, resolved), with every attempt's
    outcome: the delivery log."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    #: ``opened``, ``reminder`` or ``resolved``.
    event: Mapped[str] = mapped_column(String(10))
    #: ``pending``, ``sending``, ``sent`` or ``failed`` (gave up).
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: The message as built when the incident changed (text and JSON payload).
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_alert_deliveries_state", "state", "next_attempt_at"),)
