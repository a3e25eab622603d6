"""The claim docs/review.md makes, checked by simulation with a known truth: over 400 seeded windows, the
combined (weighted) estimate's 95% intervals cover the window's true accuracy, its minority segment's true
error rate and the true gap between the segments' error rates in at least 93% of runs, while the naive
mean of the reviewed rows is biased by many standard errors on the same runs.

The world: a model that ignores two of the causes of the label (a rare category and a minority segment),
so its accuracy differs across the rows the selectors favour; traffic shifted from the reference, so the
novelty selector has something to find."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import loopwise as lw
from loopwise.metrics.sampled import hajek
from loopwise.review import Novelty, Policy, Random, Segment, Uncertainty, estimate, estimate_by_segment, gap

RUNS = 400
WINDOW = 5000


def world(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Events with the model's score and prediction, and the true label reviewers would give."""
    group = np.where(rng.random(n) < 0.1, "minority", "majority")
    x1 = rng.normal(shift, 1, n)
    x2 = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    logit = 1.5 * x1 + 1.0 * (x2 == "c") + 0.8 * (group == "minority")
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    p_bad = 1 / (1 + np.exp(-1.5 * x1))  # the model misses x2 and the segment
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "group": group,
            "p_bad": p_bad,
            "prediction": (p_bad > 0.5).astype(int),
            "label": label,
        }
    )


def run(policy: Policy, seed: int) -> dict[str, float]:
    """One window: select, let the reviewers give the true labels, estimate; the truths from every row."""
    rng = np.random.default_rng(seed)
    events = world(rng, WINDOW, shift=0.3)
    error = (events["prediction"] != events["label"]).to_numpy(dtype=float)
    minority = (events["group"] == "minority").to_numpy()
    sel = policy.select(events.drop(columns=["label"]), seed=rng)
    reviewed_error = error[sel.rows["window_row"].to_numpy()]
    accuracy = estimate(sel, 1 - reviewed_error)
    rates = estimate_by_segment(sel, reviewed_error, "group")
    difference = gap(sel, reviewed_error, "group", "minority", "majority")
    truth = {"accuracy": 1 - error.mean(), "minority": error[minority].mean()}
    truth["gap"] = truth["minority"] - error[~minority].mean()
    assert accuracy.random is not None
    return {
        "truth": truth["accuracy"],
        "combined": accuracy.combined.value,
        "naive": accuracy.naive.value,
        "random": accuracy.random.value,
        "naive_covered": accuracy.naive.covers(truth["accuracy"]),
        "normal_covered": hajek(
            1 - reviewed_error, sel.rows["inclusion_probability"], interval="normal"
        ).covers(truth["accuracy"]),
        "covered": accuracy.combined.covers(truth["accuracy"]),
        "ht_covered": accuracy.horvitz_thompson.covers(truth["accuracy"]) if accuracy.horvitz_thompson else 0,
        "random_covered": accuracy.random.covers(truth["accuracy"]),
        "minority_covered": rates["minority"].combined.covers(truth["minority"]),
        "gap_covered": difference.covers(truth["gap"]),
        "naive_minority": rates["minority"].naive.value - truth["minority"],
        "width": accuracy.combined.ci_high - accuracy.combined.ci_low,
        "random_width": accuracy.random.ci_high - accuracy.random.ci_low,
        "tasks": len(sel),
    }


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    training = world(np.random.default_rng(0), 20_000)
    reference = lw.profile(training.drop(columns=["label", "prediction", "p_bad"]))
    policy = Policy(
        [
            Uncertainty(0.4, scores=["p_bad"]),
            Novelty(0.2, reference=reference, columns=["x1", "x2"]),
            Segment(0.2, column="group", floor=30),
            Random(0.2),
        ],
        tasks=400,
    )
    return pd.DataFrame([run(policy, 1000 + r) for r in range(RUNS)])


def test_the_weighted_intervals_cover_the_truth(runs: pd.DataFrame) -> None:
    assert runs["covered"].mean() >= 0.93
    assert runs["ht_covered"].mean() >= 0.93
    assert runs["random_covered"].mean() >= 0.93
    assert runs["minority_covered"].mean() >= 0.93
    assert runs["gap_covered"].mean() >= 0.93
    # Unbiased: the mean error over the runs is within three of its standard errors of zero.
    err = runs["combined"] - runs["truth"]
    assert abs(err.mean()) < 3 * err.std() / np.sqrt(RUNS)
    # The random slice alone is unbiased too, but with a wider interval than the combined estimate.
    assert (runs["random_width"] > runs["width"]).mean() > 0.9


def test_the_naive_estimate_is_biased_on_the_same_runs(runs: pd.DataFrame) -> None:
    err = runs["naive"] - runs["truth"]
    se = err.std() / np.sqrt(RUNS)
    assert err.mean() < -10 * se  # the selectors favour rows the model gets wrong
    assert (err < 0).mean() > 0.95
    # Its own 95% interval rarely holds the truth.
    assert runs["naive_covered"].mean() < 0.7
    # The same for a segment's error rate.
    minority = runs["naive_minority"]
    assert abs(minority.mean()) > 5 * minority.std() / np.sqrt(RUNS)


if __name__ == "__main__":  # the figures docs/review.md quotes: python tests/review/test_simulation.py
    frame = runs.__wrapped__()  # type: ignore[attr-defined]
    naive = frame["naive"] - frame["truth"]
    combined = frame["combined"] - frame["truth"]
    for key in (
        "covered",
        "ht_covered",
        "normal_covered",
        "random_covered",
        "minority_covered",
        "gap_covered",
        "naive_covered",
    ):
        print(f"{key}: {frame[key].mean():.3f}")
    print(f"naive error: {naive.mean():+.4f} (standard error {naive.std() / np.sqrt(RUNS):.4f})")
    print(f"combined error: {combined.mean():+.4f} (standard error {combined.std() / np.sqrt(RUNS):.4f})")
    widths = frame["width"].mean(), frame["random_width"].mean()
    print(f"interval width: combined {widths[0]:.3f}, random slice {widths[1]:.3f}")
