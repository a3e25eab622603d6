"""Human review: a Policy picks which predictions people should see under a label budget, with known
inclusion probabilities, and their labels are weighted back into estimates of the whole traffic.

The pure part (no database, no web): selection over a frame of logged events and the estimates. The
service part (decision 0036): stored policies, the queue (fill, next task, submit, skip, adjudicate, gold),
reviewer quality (gold accuracy, pausing, resuming) and the queue's statistics; and filling the queue as
events arrive (``stream_pass``, ``stream_model``; decision 0042).
"""

from loopwise.review.estimates import ReviewEstimate, estimate, estimate_by_segment, gap, naive_mean
from loopwise.review.export import export_review, review_table
from loopwise.review.novelty import novelty_scores
from loopwise.review.policies import get_policy, set_policy
from loopwise.review.quality import resume, wilson
from loopwise.review.queue import add_gold, adjudicate, fill, list_tasks, next_task, skip, submit
from loopwise.review.selection import MIN_RANDOM_SHARE, Policy, Selection
from loopwise.review.selectors import (
    Disagreement,
    Novelty,
    Random,
    Segment,
    Selector,
    Uncertainty,
    make,
    names,
)
from loopwise.review.stats import progress, review_stats, stream_day
from loopwise.review.stream import stream_model, stream_pass

__all__ = [
    "MIN_RANDOM_SHARE",
    "Disagreement",
    "Novelty",
    "Policy",
    "Random",
    "ReviewEstimate",
    "Segment",
    "Selection",
    "Selector",
    "Uncertainty",
    "add_gold",
    "adjudicate",
    "estimate",
    "estimate_by_segment",
    "export_review",
    "fill",
    "gap",
    "get_policy",
    "list_tasks",
    "make",
    "naive_mean",
    "names",
    "next_task",
    "novelty_scores",
    "progress",
    "resume",
    "review_stats",
    "review_table",
    "set_policy",
    "skip",
    "stream_day",
    "stream_model",
    "stream_pass",
    "submit",
    "wilson",
]
