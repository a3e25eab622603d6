"""The review queue's and sign-in's requests and answers (docs/review.md; decision 0036)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from loopwise.wire.registry import Strict

#: A label: a class name, a number or a boolean.
Label = StrictBool | StrictInt | StrictFloat | StrictStr


class ReviewPolicySpec(Strict):
    """A review policy: the budget (``tasks`` per window or ``share`` of its events), the selectors (each a
    ``kind`` and a ``share`` with its parameters), ``overlap`` ({share, k}) and ``gold`` ({rate, threshold,
    confidence})."""

    tasks: float | None = None
    share: float | None = None
    selectors: list[dict[str, Any]]
    allow_no_random: bool | None = None
    min_random_share: float | None = None
    overlap: dict[str, Any] | None = None
    gold: dict[str, Any] | None = None
    #: Fill as events arrive ({every, delay, since, seed}; decision 0042): ``tasks`` is then per day (UTC).
    stream: dict[str, Any] | None = None


class ReviewFillBody(Strict):
    """Run the policy over the events logged in [start, end) (times without a zone are UTC)."""

    start: dt.datetime
    end: dt.datetime
    seed: int | None = None


class ReviewStreamBody(Strict):
    """Fill the model's due stream increments now, those ending by ``until`` when given (times without a
    zone are UTC)."""

    until: dt.datetime | None = None


class ReviewStreamed(BaseModel):
    """The increments filled, in time order: each one's window and its fill's summary."""

    fills: list[dict[str, Any]]


class StreamIncrement(BaseModel):
    start: str
    end: str
    filled_at: str
    window_rows: int
    budget: float
    tasks: int
    #: How many tasks each selector chose: for maintainers and admins only (review stays blind), else null.
    by_selector: dict[str, int] | None = None


class StreamDay(BaseModel):
    """A streamed day (decision 0046), what the workspace's stream page shows: the latest streamed fill's UTC
    day, its increments with events, the budget spent and left, the increments gone through without events.
    ``day`` is null for a model whose review policy does not stream."""

    model: str
    day: str | None = None
    every: int | None = None
    delay: int | None = None
    tasks_per_day: float | None = None
    share: float | None = None
    mark: str | None = None
    increments: list[StreamIncrement] = []
    gone_through: int = 0
    without_events: int = 0
    spent: float = 0.0
    left: float | None = None
    selected: int = 0
    answered: int = 0


class ReviewFillOut(BaseModel):
    fill_id: int
    window_rows: int
    budget: float
    tasks: int
    overlap_tasks: int
    by_selector: dict[str, dict[str, float]]


class ReviewTaskView(BaseModel):
    """A task as its reviewer receives it: the same for every task (no selector, nothing about gold, no
    other reviewer's label)."""

    task_id: str
    model: str
    event_id: str
    features: dict[str, Any]
    prediction: Any
    scores: dict[str, Any]


class ClaimTask(Strict):
    """Ask for the next task (an empty object; the body may be left out)."""


class SkipTask(Strict):
    """Give a held task back; ``reason`` goes to the audit log (the body may be left out)."""

    reason: str | None = Field(None, max_length=2000)


class SignOut(Strict):
    """End the session of the cookie sent (an empty object; the body may be left out)."""


class SignedOut(BaseModel):
    signed_out: bool


class NextReviewTask(BaseModel):
    """The reviewer's next task; ``task`` is null when the queue holds nothing for them."""

    task: ReviewTaskView | None


class SubmitReview(Strict):
    label: Label
    comment: str | None = Field(None, max_length=2000)


class Adjudicate(Strict):
    label: Label


class ReviewDone(BaseModel):
    task_id: str
    status: str


class ReviewLabelOut(BaseModel):
    reviewer: str
    state: str
    label: Any
    suspect: bool
    correct: bool | None


class ReviewTaskOut(BaseModel):
    """A task as a maintainer sees it."""

    task_id: str
    event_id: str
    fill_id: int | None
    selector: str
    inclusion_probability: float | None
    selector_probability: float | None
    needed: int
    state: str
    prediction: Any
    gold_label: Any
    label: Any
    resolved_by: str | None
    labels: list[ReviewLabelOut]


class ReviewTaskList(BaseModel):
    tasks: list[ReviewTaskOut]


class GoldItem(Strict):
    event_id: StrictStr
    label: Label


class AddGold(Strict):
    items: list[GoldItem] = Field(min_length=1, max_length=10_000)


class GoldAdded(BaseModel):
    added: int
    already: int


class ResumeReviewer(Strict):
    """``clear``: the reviewer's suspect labels count again; otherwise they are discarded."""

    clear: bool = False


class ReviewerResumed(BaseModel):
    reviewer: str
    labels: int
    cleared: bool


class ReviewStats(BaseModel):
    """Backlog (open, adjudication, suspect), throughput, budget used by the latest fill, agreement
    (Cohen's κ per pair, Fleiss' κ, Krippendorff's α), gold accuracy per reviewer with Wilson intervals,
    and the latest fill's accuracy estimated from its reviews (combined, random slice, naive)."""

    backlog: dict[str, int]
    resolved: int
    gold_items: int
    throughput: dict[str, Any]
    budget: dict[str, Any] | None
    agreement: dict[str, Any]
    gold: list[dict[str, Any]]
    estimate: dict[str, Any] | None


class Login(Strict):
    name: StrictStr = Field(min_length=1, max_length=200)
    password: StrictStr = Field(min_length=1, max_length=1000)


class SignedIn(BaseModel):
    """The signed-in user; ``csrf_token`` goes in the ``X-CSRF-Token`` header of every state-changing
    request made with the session cookie."""

    user: str
    role: str
    models: list[str]
    csrf_token: str
