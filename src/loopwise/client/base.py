"""The client interface shared by the HTTP and the local (embedded) clients."""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

import pyarrow as pa

from loopwise.client.monitors import MonitorMethods
from loopwise.errors import ISO_TIME, DataError, ParameterError, SchemaError
from loopwise.schema import DataLike, to_table

if TYPE_CHECKING:
    import pandas as pd

    from loopwise.checks import SuiteResult
    from loopwise.client.serving import Job, LoadedModel
    from loopwise.registry import (
        AliasMove,
        Evaluation,
        GateResult,
        History,
        ModelVersion,
        PromotionRequest,
        VersionComparison,
    )
    from loopwise.registry.serving import Served

#: Rows per request when logging a large frame.
BATCH_ROWS = 5000

#: A progress callback: called with (rows acknowledged so far, rows in all), once with 0 before the first
#: request and then after each acknowledged request; its return value is ignored.
Progress = Callable[[int, int], object]


class Transport(Protocol):
    def register(self, name: str, schema: dict[str, Any]) -> dict[str, Any]: ...
    def models(self) -> list[dict[str, Any]]: ...
    def log(self, model: str, table: pa.Table, version: str | None, key: str) -> dict[str, Any]: ...
    def feedback(self, model: str, records: list[dict[str, Any]]) -> dict[str, Any]: ...
    def metrics(self, model: str, params: dict[str, Any]) -> dict[str, Any]: ...
    def check(self, model: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def reference(self, model: str, profile_bytes: bytes, name: str) -> dict[str, Any]: ...
    def describe(self, name: str) -> dict[str, Any]: ...
    def register_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def versions(self, model: str) -> list[dict[str, Any]]: ...
    def set_alias(
        self, model: str, alias: str, version: str | None, evidence: dict[str, Any]
    ) -> list[dict[str, Any]]: ...
    def alias_history(self, model: str, alias: str | None) -> list[dict[str, Any]]: ...
    def version_at(self, model: str, alias: str, when: str) -> str | None: ...
    def load_version(self, model: str, version: str) -> Any: ...
    def served(self, model: str, start: str, end: str) -> dict[str, int]: ...
    def evaluate_version(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def compare_versions(self, model: str, params: dict[str, Any]) -> dict[str, Any]: ...
    def log_shadow(self, model: str, version: str, body: dict[str, Any]) -> dict[str, int]: ...
    # The gate, promotion and the audit trail (decisions 0027, 0028).
    def gate(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def gate_results(self, model: str, version: str | None) -> list[dict[str, Any]]: ...
    def promote(self, model: str, version: str, alias: str) -> dict[str, Any]: ...
    def force(self, model: str, version: str, alias: str, reason: str) -> dict[str, Any]: ...
    def approve(self, model: str, request_id: int, comment: str | None) -> dict[str, Any]: ...
    def promotions(self, model: str, status: str | None) -> list[dict[str, Any]]: ...
    def rollback(self, model: str, alias: str, reason: str | None) -> list[dict[str, Any]]: ...
    def promotion_policy(self, model: str, mode: str | None) -> str: ...
    def history(self, model: str, params: dict[str, Any]) -> dict[str, Any]: ...
    def audit(self, model: str) -> list[dict[str, Any]]: ...
    def verify_audit(self, model: str, head: str | None = None) -> dict[str, Any]: ...
    # Serving (decision 0029).
    def alias_version(self, model: str, alias: str, etag: str | None) -> tuple[str | None, str] | None: ...
    def predict(self, model: str, table: pa.Table) -> dict[str, Any]: ...
    def start_evaluation(self, model: str, version: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def job(self, model: str, job_id: str) -> dict[str, Any]: ...
    # The review queue (decision 0036).
    def set_review_policy(self, model: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def review_policy(self, model: str) -> dict[str, Any]: ...
    def fill_review(self, model: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def stream_review(self, model: str, body: dict[str, Any]) -> list[dict[str, Any]]: ...
    def next_review_task(self, model: str) -> dict[str, Any] | None: ...
    def submit_review(self, model: str, task_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def skip_review(self, model: str, task_id: str) -> dict[str, Any]: ...
    def adjudicate_review(self, model: str, task_id: str, label: Any) -> dict[str, Any]: ...
    def add_gold(self, model: str, items: list[dict[str, Any]]) -> dict[str, Any]: ...
    def review_tasks(self, model: str, state: str | None, limit: int) -> list[dict[str, Any]]: ...
    def resume_reviewer(self, model: str, reviewer: str, clear: bool) -> dict[str, Any]: ...
    def stream_day(self, model: str) -> dict[str, Any]: ...

    def review_stats(self, model: str) -> dict[str, Any]: ...
    def review_export(self, model: str) -> bytes: ...
    # Users who sign in with a password (decision 0042).
    def users(self) -> list[dict[str, Any]]: ...
    def user(self, name: str) -> dict[str, Any]: ...
    def add_user(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def grant_user(self, name: str, models: list[str]) -> dict[str, Any]: ...
    def revoke_user(self, name: str, models: list[str]) -> dict[str, Any]: ...
    def set_user_role(self, name: str, role: str) -> dict[str, Any]: ...
    def disable_user(self, name: str, disabled: bool) -> dict[str, Any]: ...
    # Monitors (decision 0035).
    def put_monitor(self, model: str, spec: dict[str, Any], replace: bool) -> dict[str, Any]: ...
    def monitors(self, model: str) -> list[dict[str, Any]]: ...
    def delete_monitor(self, model: str, name: str) -> None: ...
    def run_monitor(self, model: str, name: str, deliver: bool) -> dict[str, Any]: ...
    def monitor_get(self, model: str, name: str, what: str, params: dict[str, Any]) -> dict[str, Any]: ...


def _json_list(values: Any) -> list[Any]:
    import numpy as np

    from loopwise.profiles.canonical import canonical

    def number(p: Any, i: int) -> float:
        try:
            return float(p)
        except (TypeError, ValueError):
            raise ParameterError(f"scores[{i}]", p, "a probability, or a {class: probability} dict") from None

    # Class keys in the canonical form (True and "true" are one class), NumPy numbers as Python ones.
    return [
        {canonical(k): number(p, i) for k, p in v.items()} if isinstance(v, dict) else number(v, i)
        for i, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values)
    ]


def _iso(t: dt.datetime | str | None, name: str) -> str | None:
    """``t`` as ISO 8601 text with its zone (none given: UTC); text that is not a time is refused here,
    naming the parameter, on both clients alike."""
    if t is None:
        return None
    if isinstance(t, str):
        try:
            t = dt.datetime.fromisoformat(t.strip())
        except ValueError:
            raise ParameterError(name, t, ISO_TIME) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


@dataclass
class ModelHandle(MonitorMethods):
    """One model, through either client: ``log``, ``log_feedback``, ``metrics``, ``check``."""

    name: str
    transport: Transport
    id_column: str | None = None
    #: The model's schema as the server describes it (None for a key that may not read it).
    schema_spec: dict[str, Any] | None = None

    def log(
        self, data: DataLike, *, version: str | None = None, progress: Progress | None = None
    ) -> dict[str, int]:
        """Log predictions in batches of ``BATCH_ROWS``; each carries an idempotency key, so a retry never
        counts twice. ``progress(done_rows, total_rows)`` is called before the first batch and after each.

        Rows without an event id get a generated one (a UUID) when the schema names the id column.
        """
        table = to_table(data)
        if self.schema_spec is not None:
            # A CSV column with a word among its numbers reads as text: converted here when every value is
            # a number or blank, else refused naming the rows (the server would refuse the whole column).
            from loopwise.schema import Schema
            from loopwise.schema.numbers import numbers_from_text

            table = numbers_from_text(Schema.from_dict(self.schema_spec), table, "predictions", require=False)
        if self.id_column and self.id_column not in table.column_names:
            ids = pa.array([str(uuid.uuid4()) for _ in range(table.num_rows)])
            table = table.append_column(self.id_column, ids)
        total = {"accepted": 0, "duplicates": 0}
        if progress is not None:
            progress(0, table.num_rows)
        for start in range(0, table.num_rows, BATCH_ROWS):
            out = self.transport.log(self.name, table.slice(start, BATCH_ROWS), version, str(uuid.uuid4()))
            total["accepted"] += int(out["accepted"])
            total["duplicates"] += int(out["duplicates"])
            if progress is not None:
                progress(min(start + BATCH_ROWS, table.num_rows), table.num_rows)
        return total

    def log_feedback(
        self,
        event_ids: Iterable[Any],
        labels: Iterable[Any],
        *,
        source: str = "ground_truth",
        kind: str = "label",
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Log feedback in batches of ``BATCH_ROWS`` records; ``progress`` as for ``log``."""
        field_name = {"label": "label", "correction": "label", "rating": "rating", "comment": "comment"}.get(
            kind, "label"
        )
        ids, values = list(event_ids), list(labels)
        if len(ids) != len(values):
            raise DataError(f"{len(ids)} event id(s) but {len(values)} label(s): they must pair one to one")
        recs = [
            {"event_id": str(e), "kind": kind, "source": source, field_name: _plain(v)}
            for e, v in zip(ids, values, strict=True)
        ]
        total = {"stored": 0, "replaced": 0, "joined": 0}
        if progress is not None:
            progress(0, len(recs))
        for start in range(0, len(recs), BATCH_ROWS):
            out = self.transport.feedback(self.name, recs[start : start + BATCH_ROWS])
            for k in total:
                total[k] += int(out[k])
            if progress is not None:
                progress(min(start + BATCH_ROWS, len(recs)), len(recs))
        return total

    def metrics(
        self,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        *,
        version: str | None = None,
        reference: str | None = "default",
        segment: str | None = None,
    ) -> dict[str, Any]:
        params = {
            "start": _iso(start, "start"),
            "end": _iso(end, "end"),
            "version": version,
            "reference": reference,
            "segment": segment,
        }
        return self.transport.metrics(self.name, {k: v for k, v in params.items() if v is not None})

    def check(
        self,
        suite: Any,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        reference: str | None = "default",
    ) -> SuiteResult:
        """Run a suite (a Suite, its YAML text or a suite file) on the model's window on the server; the
        SuiteResult prints and renders as one run locally does."""
        from loopwise.checks import Suite, SuiteResult

        spec = suite.to_dict() if isinstance(suite, Suite) else suite
        if isinstance(spec, Path) or (
            isinstance(spec, str) and "\n" not in spec and spec.endswith((".yaml", ".yml"))
        ):
            # A suite file is read here, by the caller; the server reads no file a request names.
            if not Path(spec).is_file():
                raise SchemaError(f"no such suite file: {spec}")
            spec = Path(spec).read_text(encoding="utf-8")
        answer = self.transport.check(
            self.name,
            {"suite": spec, "start": _iso(start, "start"), "end": _iso(end, "end"), "reference": reference},
        )
        return SuiteResult.from_dict(answer)

    def set_reference(
        self, reference: Any, name: str = "default", *, chunk_size: int | None = None
    ) -> dict[str, Any]:
        """Store a reference: a Profile, or data (a frame, table or path) profiled here with the model's
        registered schema (and, with ``chunk_size``, its chunks, for calibrated drift thresholds)."""
        from loopwise.profiles import Profile, profile
        from loopwise.schema import Schema

        if not isinstance(reference, Profile):
            schema = Schema.from_dict(self.transport.describe(self.name)["schema"])
            reference = profile(reference, schema=schema, chunk_size=chunk_size)
        elif chunk_size is not None:
            raise ParameterError("chunk_size", chunk_size, "None for a Profile (it carries its own chunks)")
        return self.transport.reference(self.name, reference.to_bytes(), name)

    # The registry (docs/registry.md): versions, aliases and what held them when.

    def register_version(
        self,
        version: str,
        artifact: Any = None,
        *,
        flavor: str = "sklearn",
        lineage: Any = None,
        sample: DataLike | None = None,
        uri: str | None = None,
        sha256: str | None = None,
    ) -> ModelVersion:
        """Register a trained version: its artifact, checked by a dry prediction on ``sample`` (else on the
        model's recent traffic), and its lineage.

        ``artifact``: for ``sklearn``, a fitted estimator or Pipeline (saved here with skops) or an skops
        file's path or bytes; for ``onnx``, an ONNX ModelProto or a file's path or bytes; for ``external``,
        None with ``uri`` and ``sha256``. ``lineage``: a ``Lineage`` or a dict of its fields, whose
        ``reference`` (the training data, a frame or a Profile) becomes the model's reference
        ``version:<version>``.
        """
        from loopwise.registry import Lineage, ModelVersion

        if not isinstance(lineage, Lineage):
            spec = dict(lineage or {})
            if spec.get("reference") is not None:
                spec["reference"] = self._as_profile(spec["reference"])
            lineage = Lineage.from_dict(spec)
        source = artifact_source(artifact, flavor)
        body = {
            "flavor": flavor,
            "artifact": source,
            "lineage": lineage,
            "sample": None if sample is None else to_table(sample).to_pandas(),
            "uri": uri,
            "sha256": sha256,
        }
        try:
            return ModelVersion.from_dict(self.transport.register_version(self.name, version, body))
        finally:
            if isinstance(artifact, str | Path) and source is not None and not isinstance(source, bytes):
                source.close()  # the file this call opened

    def versions(self) -> list[ModelVersion]:
        """The model's registered versions, oldest first, each with the aliases it holds now."""
        from loopwise.registry import ModelVersion

        return [ModelVersion.from_dict(d) for d in self.transport.versions(self.name)]

    def set_alias(
        self, alias: str, version: str | None, *, evidence: dict[str, Any] | None = None
    ) -> list[Any]:
        """Point ``alias`` at ``version`` (None: unset it); the move is recorded with who, when and
        ``evidence`` (a JSON object). Returns the recorded moves (an alias the version held before moves off
        it too)."""
        from loopwise.registry import AliasMove

        moves = self.transport.set_alias(self.name, alias, version, dict(evidence or {}))
        return [AliasMove.from_dict(m) for m in moves]

    def alias_history(self, alias: str | None = None) -> list[Any]:
        """Every move of ``alias`` (all aliases when None), oldest first."""
        from loopwise.registry import AliasMove

        return [AliasMove.from_dict(m) for m in self.transport.alias_history(self.name, alias)]

    def version_at(self, alias: str, when: dt.datetime | str) -> str | None:
        """The version ``alias`` pointed at, at ``when`` (a time without a zone is UTC); None: none did."""
        iso = _iso(when, "when")
        assert iso is not None
        return self.transport.version_at(self.name, alias, iso)

    def served(self, start: dt.datetime | str, end: dt.datetime | str) -> dict[str, int]:
        """What actually served in [start, end): events per version, from the versions the events carry
        (times without a zone are UTC)."""
        a, b = _iso(start, "start"), _iso(end, "end")
        assert a is not None and b is not None
        return self.transport.served(self.name, a, b)

    def aliases(self) -> dict[str, str]:
        """The model's aliases now: alias -> version."""
        return {a: v.name for v in self.versions() for a in v.aliases}

    def load_version(self, version: str) -> Any:
        """The version's Predictor (``predict``, ``predict_proba`` on a DataFrame), loaded under the
        operator's trust rules."""
        return self.transport.load_version(self.name, version)

    # Challengers on real traffic (docs/registry.md, "Evaluating a challenger on real traffic").

    def evaluate_version(
        self,
        version: str,
        *,
        start: dt.datetime | str,
        end: dt.datetime | str,
        batch_rows: int | None = None,
    ) -> Evaluation:
        """Run ``version`` on the events logged in [start, end) that it has not answered yet and store its
        outputs beside the served ones; returns the counts and the version's own speed (per batch, and
        p50/p99 of one-row calls). Running it again stores nothing twice."""
        from loopwise.registry import Evaluation

        a, b = _iso(start, "start"), _iso(end, "end")
        body = {"start": a, "end": b, "batch_rows": batch_rows}
        return Evaluation.from_dict(self.transport.evaluate_version(self.name, version, body))

    def compare_versions(
        self,
        *,
        champion: str = "champion",
        challenger: str = "challenger",
        start: dt.datetime | str,
        end: dt.datetime | str,
        metrics: list[str] | None = None,
        margin: float | None = None,
        alpha: float = 0.05,
        min_effect: float | None = None,
    ) -> VersionComparison:
        """Compare two versions (names or aliases) on the window's events both answered, with the labels
        that have arrived: the library's paired tests (``compare_models``), prediction agreement, and
        per-segment changes. With too few labels the verdict says how many it needs."""
        from loopwise.registry import VersionComparison

        params = {
            "champion": champion,
            "challenger": challenger,
            "start": _iso(start, "start"),
            "end": _iso(end, "end"),
            "metrics": metrics,
            "margin": margin,
            "alpha": alpha,
            "min_effect": min_effect,
        }
        return VersionComparison.from_dict(self.transport.compare_versions(self.name, params))

    def log_shadow(
        self, version: str, event_ids: Iterable[Any], predictions: Iterable[Any], scores: Any = None
    ) -> dict[str, int]:
        """Store a shadow version's outputs for events the model has logged. ``scores``: per event, the
        positive class's probability or a {class: probability} dict. Unknown event ids are refused (naming a
        few) and nothing is stored."""
        import numpy as np

        body = {
            "event_ids": [str(e) for e in event_ids],
            "predictions": [v.item() if isinstance(v, np.generic) else v for v in predictions],
            "scores": None if scores is None else _json_list(scores),
        }
        return self.transport.log_shadow(self.name, version, body)

    # The gate, promotion, rollback and the audit trail (docs/registry.md, decisions 0027 and 0028).

    def gate(
        self,
        version: str,
        suite: Any = None,
        *,
        start: dt.datetime | str,
        end: dt.datetime | str,
        champion: str = "champion",
    ) -> GateResult:
        """Run a gate ``suite`` (a Suite, its dict, YAML text or a .yaml file's path; None: the
        ``challenger_gate`` preset) on ``version`` against ``champion`` over the events logged in [start, end)
        that both answered, with their labels. The result is stored: ``status`` pass, fail or inconclusive
        (with the labels it needs), every check's outcome, and its id, which a promotion cites."""
        from loopwise.checks import Suite
        from loopwise.registry import GateResult

        spec = suite.to_dict() if isinstance(suite, Suite) else suite
        if isinstance(spec, Path) or (
            isinstance(spec, str) and "\n" not in spec and spec.endswith((".yaml", ".yml"))
        ):
            spec = Path(spec).read_text(encoding="utf-8")  # read here: the server reads no file a body names
        body = {"suite": spec, "champion": champion, "start": _iso(start, "start"), "end": _iso(end, "end")}
        return GateResult.from_dict(self.transport.gate(self.name, version, body))

    def gate_results(self, version: str | None = None) -> list[GateResult]:
        """The stored gate results (of one version), newest first."""
        from loopwise.registry import GateResult

        return [GateResult.from_dict(d) for d in self.transport.gate_results(self.name, version)]

    def promote(
        self, version: str, alias: str = "champion", *, force: bool = False, reason: str | None = None
    ) -> PromotionRequest:
        """Promote ``version`` to ``alias`` as the model's policy allows: moved now when its latest gate
        result passed (``status`` promoted), else a ``pending`` request another maintainer or admin
        approves. With ``force=True`` (an admin's key) the gate and approval are skipped; ``reason`` is then
        required and recorded."""
        from loopwise.registry import PromotionRequest

        if force:
            if not reason or not str(reason).strip():
                raise ParameterError("reason", reason, "a reason for forcing the promotion (it is recorded)")
            return PromotionRequest.from_dict(self.transport.force(self.name, version, alias, str(reason)))
        if reason is not None:
            raise ParameterError("reason", reason, "None unless force=True")
        return PromotionRequest.from_dict(self.transport.promote(self.name, version, alias))

    def approve(self, request_id: int, *, comment: str | None = None) -> PromotionRequest:
        """Approve a pending promotion (not one's own) and move the alias; ``comment`` is recorded. The
        other requests pending for that alias are closed as ``superseded`` (their ids in ``superseded``), as
        they are by any promotion that moves it."""
        from loopwise.registry import PromotionRequest

        return PromotionRequest.from_dict(self.transport.approve(self.name, int(request_id), comment))

    def promotions(self, status: str | None = None) -> list[PromotionRequest]:
        """The model's promotions (``pending``, ``promoted``, ``approved``, ``forced``, ``superseded``),
        newest first."""
        from loopwise.registry import PromotionRequest

        return [PromotionRequest.from_dict(d) for d in self.transport.promotions(self.name, status)]

    def rollback(self, alias: str = "champion", *, reason: str | None = None) -> list[AliasMove]:
        """Move ``alias`` back to the version that held it before its last move; returns the moves."""
        from loopwise.registry import AliasMove

        return [AliasMove.from_dict(m) for m in self.transport.rollback(self.name, alias, reason)]

    def promotion_policy(self, mode: str | None = None) -> str:
        """The model's promotion policy; with ``mode`` (an admin's key), set it first: ``gate``,
        ``gate+approval`` or ``approval``."""
        return self.transport.promotion_policy(self.name, mode)

    def history(
        self,
        at: dt.datetime | str | None = None,
        *,
        alias: str = "champion",
        around: dt.timedelta | None = None,
    ) -> History:
        """What held ``alias`` at ``at`` (default now), who promoted it, the promotion and gate result that
        allowed it, and the events served around then (``around`` either side; an hour by default)."""
        from loopwise.registry import History

        when = dt.datetime.now(dt.UTC) if at is None else at
        params: dict[str, Any] = {"at": _iso(when, "at"), "alias": alias}
        if around is not None:
            params["around_minutes"] = around.total_seconds() / 60
        return History.from_dict(self.transport.history(self.name, params))

    def audit(self) -> list[dict[str, Any]]:
        """The model's audit entries, oldest first, each with its place in the hash chain."""
        return self.transport.audit(self.name)

    def verify_audit(self, head: str | None = None) -> dict[str, Any]:
        """Recompute the model's audit chain: ``ok``, the first entry that breaks it (``problem``), and the
        chain's head (``heads``: its number and hash, to keep elsewhere). ``head``: a hash kept earlier,
        which the chain must still hold (its last entries deleted with the head's row are found so)."""
        return self.transport.verify_audit(self.name, head)

    def _as_profile(self, reference: Any) -> Any:
        from loopwise.profiles import Profile, profile
        from loopwise.schema import Schema

        if isinstance(reference, Profile):
            return reference
        # The reference rule of every route (docs/schema.md, "References"): the features, the rest when held.
        return profile(reference, schema=Schema.from_dict(self.transport.describe(self.name)["schema"]))

    def background(self, max_queue: int = 100, version: str | None = None) -> BackgroundLogger:
        """A logger that never blocks the caller: a bounded queue, a thread, a flush at close."""
        return BackgroundLogger(self, max_queue=max_queue, version=version)

    # Serving (docs/registry.md, "Serving"; decision 0029).

    def load(self, alias: str = "champion", *, check_every: float = 5.0) -> LoadedModel:
        """The version ``alias`` points at, loaded here (under this client's trust rules), reloaded when the
        alias moves: checked at most every ``check_every`` seconds, cheaply. Its ``log`` records the version
        that answered."""
        from loopwise.client.serving import LoadedModel

        return LoadedModel(self, alias, check_every)

    def predict(self, data: DataLike) -> Served:
        """Run the champion on the rows (feature columns; an id and a time are generated when missing), log
        them with its answers under its version, and return the answers with the event ids. The version
        holding ``shadow`` answers the same events beside it (over HTTP, after the response)."""
        from loopwise.registry.serving import Served

        table = to_table(data)
        if self.id_column and self.id_column not in table.column_names:
            # Ids made here, as ``log`` does: a retried request then logs its rows once (counted duplicates).
            table = table.append_column(
                self.id_column, pa.array([uuid.uuid4().hex for _ in range(table.num_rows)])
            )
        return Served(**self.transport.predict(self.name, table))

    def start_evaluation(
        self,
        version: str,
        *,
        start: dt.datetime | str,
        end: dt.datetime | str,
        batch_rows: int | None = None,
    ) -> Job:
        """``evaluate_version`` as a background job: returns at once with the job; ``job.wait()`` gives the
        Evaluation, ``job.refresh()`` its progress."""
        from loopwise.client.serving import Job

        body = {"start": _iso(start, "start"), "end": _iso(end, "end"), "batch_rows": batch_rows}
        return Job.from_dict(self, self.transport.start_evaluation(self.name, version, body))

    def job(self, job_id: str) -> Job:
        """A background job of this model, as it is now."""
        from loopwise.client.serving import Job

        return Job.from_dict(self, self.transport.job(self.name, job_id))

    # The review queue (docs/review.md; decision 0036).
    def set_review_policy(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Set the model's review policy: budget, selectors, ``overlap`` and ``gold`` (docs/review.md)."""
        return self.transport.set_review_policy(self.name, spec)

    def review_policy(self) -> dict[str, Any]:
        return self.transport.review_policy(self.name)

    def fill_review(
        self, start: dt.datetime | str, end: dt.datetime | str, *, seed: int | None = None
    ) -> dict[str, Any]:
        """Run the review policy over the events logged in [start, end) and queue the tasks it draws."""
        return self.transport.fill_review(
            self.name, {"start": _iso(start, "start"), "end": _iso(end, "end"), "seed": seed}
        )

    def stream_review(self, *, until: dt.datetime | str | None = None) -> list[dict[str, Any]]:
        """Fill a streaming policy's due increments now, those ending by ``until`` when given (a server
        does this every few seconds itself; decision 0042): each increment's window and fill summary."""
        return self.transport.stream_review(self.name, {"until": _iso(until, "until")})

    def stream_day(self) -> dict[str, Any]:
        """The streamed day (decision 0046): its increments with events (when each was filled, its events,
        budget and tasks, and, for maintainers and admins, how many each selector chose), the day's budget
        spent and left, the increments gone through without events. ``day`` is None when the model's review
        policy does not stream."""
        return self.transport.stream_day(self.name)

    def next_review(self) -> dict[str, Any] | None:
        """This client's next review task (features, prediction, scores), or None when there is none."""
        return self.transport.next_review_task(self.name)

    def submit_review(self, task_id: str, label: Any, *, comment: str | None = None) -> dict[str, Any]:
        """Answer a task this client holds; the label becomes Feedback once the task resolves."""
        body = {"label": _plain(label), **({"comment": comment} if comment is not None else {})}
        return self.transport.submit_review(self.name, task_id, body)

    def skip_review(self, task_id: str) -> dict[str, Any]:
        return self.transport.skip_review(self.name, task_id)

    def adjudicate_review(self, task_id: str, label: Any) -> dict[str, Any]:
        """Decide a tied or suspect task (maintainers)."""
        return self.transport.adjudicate_review(self.name, task_id, _plain(label))

    def add_gold(self, items: dict[str, Any]) -> dict[str, Any]:
        """Gold items: ``{event_id: known label}``."""
        return self.transport.add_gold(
            self.name, [{"event_id": str(k), "label": _plain(v)} for k, v in items.items()]
        )

    def review_tasks(self, state: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        """The queue's tasks with every label (maintainers)."""
        return self.transport.review_tasks(self.name, state, limit)

    def resume_reviewer(self, reviewer: str, *, clear: bool = False) -> dict[str, Any]:
        return self.transport.resume_reviewer(self.name, reviewer, clear)

    def review_stats(self) -> dict[str, Any]:
        """Backlog, throughput, budget used, agreement, gold accuracy per reviewer, the weighted estimate."""
        return self.transport.review_stats(self.name)

    def review_export(self, path: str | Path | None = None) -> pd.DataFrame:
        """The queue's tasks and labels, one row per task and reviewer (maintainers): selector, inclusion
        probability, fill window, state, resolved label, each reviewer's label, comment, gold outcome and
        whether it is suspect. Labels and predictions are JSON text (``json.loads`` gives each back). With
        ``path``, the Parquet file is also written there."""
        import io

        import pyarrow.parquet as pq

        data = self.transport.review_export(self.name)
        if path is not None:
            Path(path).write_bytes(data)
        frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
        return frame


def artifact_source(artifact: Any, flavor: str) -> BinaryIO | bytes | None:
    """The artifact's bytes as the transports take them: an open file for a path (read in chunks, never
    whole into memory), bytes as given, an estimator saved with skops, an ONNX ModelProto serialised."""
    if artifact is None or isinstance(artifact, bytes):
        return artifact
    if isinstance(artifact, str | Path):
        path = Path(artifact)
        if not path.is_file():  # as every other file a command reads: one line naming it
            raise DataError(
                f"no such file or directory: {path}" if not path.exists() else f"not a file: {path}"
            )
        return path.open("rb")
    if hasattr(artifact, "read"):
        return cast("BinaryIO", artifact)
    if flavor == "onnx" and hasattr(artifact, "SerializeToString"):
        return bytes(artifact.SerializeToString())
    if flavor == "sklearn":
        import skops.io as sio

        return bytes(sio.dumps(artifact))
    raise ParameterError(
        "artifact", type(artifact).__name__, f"a path, bytes or a model for flavor {flavor!r}"
    )


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


@dataclass
class BackgroundLogger:
    """Queues frames and logs them from a thread. When the queue is full a frame is dropped and counted,
    never silently: ``dropped`` and ``errors`` say how many, and ``close()`` flushes what is queued."""

    handle: ModelHandle
    max_queue: int = 100
    version: str | None = None
    dropped: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self.max_queue)
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"loopwise-log-{self.handle.name}"
        )
        self._thread.start()

    def log(self, data: DataLike) -> bool:
        try:
            self._queue.put_nowait(data)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.sent += self.handle.log(item, version=self.version)["accepted"]
            except Exception as exc:  # the caller's prediction path must not see our failures; keep them
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
