"""Registry jobs in the background: an evaluation started over HTTP (decision 0029).

``start_evaluation`` records a ``queued`` job and returns its id; ``run_evaluation`` (in a thread of the
process that started it) marks it ``running``, reports progress after each replay batch, and ends it
``done`` with the Evaluation or ``failed`` with the error's one line. Nothing survives the process: a job
whose process stopped stays ``running`` with a heartbeat that no longer moves, and ``describe_job`` says so
(``stalled``); starting the evaluation again does only the events the first run did not store.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from loopwise.errors import LoopwiseError, NotFoundError
from loopwise.ingest import get_model
from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.predictors import PredictorCache
from loopwise.registry.replay import check_window, evaluate
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import describe
from loopwise.store import transaction
from loopwise.store.tables import Job
from loopwise.store.types import utcnow

#: A running job whose heartbeat is older than this is reported ``stalled``: its process likely stopped.
STALLED_AFTER = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class JobState:
    """A job as a reader sees it."""

    id: str
    model: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: dt.datetime
    heartbeat_at: dt.datetime
    finished_at: dt.datetime | None
    stalled: bool

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("created_at", "heartbeat_at", "finished_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out


def start_evaluation(
    s: Session,
    model_name: str,
    version: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    actor: str,
    batch_rows: int | None = None,
) -> str:
    """Record a queued evaluation job after the checks an evaluation makes first (window, model, version),
    so a bad request is refused now rather than failing later; returns the job's id."""
    check_window(start, end)
    model = get_model(s, model_name)
    describe(s, model_name, version)
    job_id = uuid.uuid4().hex
    params = {
        "version": version,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "batch_rows": batch_rows,
    }
    s.add(
        Job(
            id=job_id,
            model_id=model.id,
            kind="evaluate",
            state="queued",
            params=params,
            progress={},
            actor=actor,
        )
    )
    return job_id


def run_evaluation(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    settings: RegistrySettings,
    store: ArtifactStore,
    model_name: str,
    job_id: str,
    predictors: PredictorCache | None = None,
) -> None:
    """Run a queued evaluation job to its end, recording progress, the result or the error (``predictors``:
    the loaded versions kept by the caller, as ``evaluate`` takes them)."""
    with read_sessions() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        params, actor = dict(job.params), job.actor
    _update(sessions, job_id, state="running")

    def progress(done: int, total: int) -> None:
        _update(sessions, job_id, progress={"done": done, "total": total})

    try:
        extra = {"batch_rows": params["batch_rows"]} if params.get("batch_rows") else {}
        found = evaluate(
            sessions,
            read_sessions,
            settings,
            store,
            model_name,
            params["version"],
            dt.datetime.fromisoformat(params["start"]),
            dt.datetime.fromisoformat(params["end"]),
            actor=actor,
            progress=progress,
            predictors=predictors,
            **extra,
        )
    except LoopwiseError as exc:
        _update(sessions, job_id, state="failed", error=str(exc)[:2000], finished_at=utcnow())
    except Exception as exc:  # the job's row must end, whatever ended the run; the message says what
        _update(
            sessions,
            job_id,
            state="failed",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=utcnow(),
        )
    else:
        _update(sessions, job_id, state="done", result=found.to_dict(), finished_at=utcnow())


def run_in_thread(target: Any, *args: Any) -> threading.Thread:
    """Run ``target(*args)`` in a daemon thread of its own (one per job: evaluations are rare and long)."""
    thread = threading.Thread(target=target, args=args, name="loopwise-job", daemon=True)
    thread.start()
    return thread


def _update(sessions: sessionmaker[Session], job_id: str, **values: Any) -> None:
    with transaction(sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        for k, v in values.items():
            setattr(job, k, v)
        job.heartbeat_at = utcnow()


def describe_job(s: Session, model_name: str, job_id: str) -> JobState:
    """The job, if it is the model's; a NotFoundError otherwise (a job id of another model is not shown)."""
    model = get_model(s, model_name)
    job = s.get(Job, job_id)
    if job is None or job.model_id != model.id:
        raise NotFoundError(f"no job {job_id!r} for model {model_name!r}")
    stalled = job.state == "running" and utcnow() - job.heartbeat_at > STALLED_AFTER
    return JobState(
        job.id,
        model_name,
        job.kind,
        job.state,
        dict(job.params),
        dict(job.progress),
        job.result,
        job.error,
        job.actor,
        job.created_at,
        job.heartbeat_at,
        job.finished_at,
        stalled,
    )
