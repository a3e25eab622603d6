"""Human review: a Policy picks which predictions people should see under a label budget, with known
inclusion probabilities, and their labels are weighted back into estimates of the whole traffic.

This is the pure part (no database, no web): selection over a frame of logged events and the estimates.
"""

from loopwise.review.estimates import ReviewEstimate, estimate, estimate_by_segment, gap, naive_mean
from loopwise.review.novelty import novelty_scores
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
    "estimate",
    "estimate_by_segment",
    "gap",
    "make",
    "naive_mean",
    "names",
    "novelty_scores",
]
