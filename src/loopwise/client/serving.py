"""Serving through either client: a version loaded by its alias that follows the alias when it moves, and
background jobs (docs/registry.md, "Serving"; decision 0029)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopwise.errors import DataError, LoopwiseError
from loopwise.schema import DataLike

if TYPE_CHECKING:
    from loopwise.client.base import ModelHandle
    from loopwise.registry import Evaluation

#: Seconds between two looks at where the alias points (each a conditional request answered 304 over HTTP).
CHECK_EVERY = 5.0


class LoadedModel:
    """The version an alias points at, loaded in this process, reloaded when the alias moves.

    ``predict``/``predict_proba`` look at the alias at most every ``check_every`` seconds (a conditional
    request: 304 and no body while it has not moved) and load the new version before answering when it has.
    ``version`` is the version that gave the last answer, so ``log`` records the version that actually
    served. ``estimator`` is the loaded object itself (the scikit-learn estimator or the ONNX session).
    """

    def __init__(self, model: ModelHandle, alias: str, check_every: float = CHECK_EVERY) -> None:
        if check_every < 0:
            raise DataError(f"check_every must be 0 or more seconds, not {check_every}")
        self.model, self.alias, self.check_every = model, alias, check_every
        self._lock = threading.Lock()
        self._etag: str | None = None
        self._checked = -float("inf")
        self._predictor: Any = None
        self.refresh(force=True)

    def __repr__(self) -> str:
        return f"LoadedModel(model={self.model.name!r}, alias={self.alias!r}, version={self.version!r})"

    @property
    def version(self) -> str:
        return str(self._predictor.version)

    @property
    def estimator(self) -> Any:
        return self._predictor.model

    @property
    def predictor(self) -> Any:
        """The loaded version's Predictor (``predict``, ``predict_proba``, ``features``, ``classes``)."""
        return self._predictor

    def refresh(self, *, force: bool = False) -> str:
        """Look at the alias now (``force``) or when ``check_every`` has passed, and load the version it
        points at if that is not the loaded one; returns the loaded version."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.check_every:
                return self.version
            found = self.model.transport.alias_version(self.model.name, self.alias, self._etag)
            self._checked = now
            if found is None:  # not moved since the ETag we hold
                return self.version
            version, etag = found
            if version is None:
                if self._predictor is None:
                    raise DataError(f"alias {self.alias!r} of model {self.model.name!r} points at no version")
                return self.version  # unset meanwhile: keep serving what is loaded
            if self._predictor is None or version != self._predictor.version:
                self._predictor = self.model.load_version(version)
            self._etag = etag
            return self.version

    def predict(self, X: Any) -> Any:
        self.refresh()
        return self._predictor.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self.refresh()
        return self._predictor.predict_proba(X)

    def log(self, data: DataLike, **kw: Any) -> dict[str, int]:
        """Log rows this model answered, under the version that answered them (the last one loaded)."""
        return self.model.log(data, version=self.version, **kw)


@dataclass
class Job:
    """A background job (an evaluation started with ``start_evaluation``); ``refresh`` reads it again."""

    model: ModelHandle
    id: str
    state: str
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    stalled: bool = False

    @classmethod
    def from_dict(cls, model: ModelHandle, d: dict[str, Any]) -> Job:
        return cls(
            model, d["id"], d["state"], dict(d["progress"]), d["result"], d["error"], bool(d.get("stalled"))
        )

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed")

    def refresh(self) -> Job:
        fresh = Job.from_dict(self.model, self.model.transport.job(self.model.name, self.id))
        self.__dict__.update(fresh.__dict__)
        return self

    def wait(self, timeout: float = 3600.0, every: float = 0.2) -> Evaluation:
        """Poll until the job ends; its Evaluation, or the error that ended it (as a LoopwiseError)."""
        from loopwise.registry import Evaluation

        deadline = time.monotonic() + timeout
        while not self.refresh().done:
            if time.monotonic() > deadline:
                raise LoopwiseError(f"job {self.id} did not end within {timeout} s (state {self.state})")
            threading.Event().wait(every)
        if self.state == "failed" or self.result is None:
            raise LoopwiseError(f"job {self.id} failed: {self.error}")
        return Evaluation.from_dict(self.result)
