"""A check is an "error" only for what the tree of loopwise.errors names (data that cannot answer, a bad
parameter); a bug in a metric propagates, so a gate never passes or fails on it without a word."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.metrics import accuracy_score

import loopwise as lw
from loopwise.checks import evaluate
from loopwise.datasets import CREDIT_SCHEMA_YAML, make_credit
from loopwise.errors import NotComputableError
from loopwise.metrics import performance as perf
from loopwise.metrics.performance import MetricResult


def _register(monkeypatch: pytest.MonkeyPatch, name: str, fn: Any) -> None:
    """A performance metric registered as a plugin would be, and made checkable."""
    monkeypatch.setitem(perf._REGISTRY, name, ("classification", fn))
    monkeypatch.setitem(
        evaluate.CATALOG, name, evaluate.Entry("dataset", "performance", evaluate._performance(name))
    )


def _run(metric: str, params: dict[str, Any] | None = None) -> lw.SuiteResult:
    data = make_credit(2000, seed=3)
    check: dict[str, Any] = {"metric": metric, "condition": {"ge": 0.5}}
    if params:
        check["params"] = params
    suite = lw.Suite.from_dict({"suite": "s", "checks": [check]})
    return suite.run(data, schema=lw.Schema.from_yaml(CREDIT_SCHEMA_YAML))


@pytest.mark.parametrize("bug", [ZeroDivisionError, TypeError, KeyError, ValueError])
def test_a_bug_in_a_metric_is_not_swallowed(monkeypatch: pytest.MonkeyPatch, bug: type[Exception]) -> None:
    def buggy(p: Any, **_: Any) -> MetricResult:
        raise bug("a bug in the metric")

    _register(monkeypatch, "buggy", buggy)
    with pytest.raises(bug, match="a bug in the metric"):
        _run("buggy")


def test_a_metric_that_cannot_answer_is_a_check_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def unanswerable(p: Any, **_: Any) -> MetricResult:
        raise NotComputableError("needs scores, and the schema has none")

    _register(monkeypatch, "unanswerable", unanswerable)
    (result,) = _run("unanswerable").results
    assert result.status == "error"
    assert result.reason == "needs scores, and the schema has none"


def test_a_parameter_of_the_wrong_type_is_a_check_error_naming_it() -> None:
    (result,) = _run("accuracy", {"confidence": "high"}).results
    assert result.status == "error"
    assert "params.confidence" in (result.reason or "") and "'high'" in (result.reason or "")
    # The same check with a number runs, and agrees with scikit-learn.
    (ok,) = _run("accuracy", {"confidence": 0.9}).results
    data = make_credit(2000, seed=3)
    assert ok.actual == pytest.approx(accuracy_score(data["repaid"], data["approved"]))


def test_a_parameter_that_is_not_a_scalar_is_refused_when_the_suite_is_read() -> None:
    with pytest.raises(lw.SchemaError, match=r"params.confidence must be a number"):
        lw.Suite.from_dict(
            {
                "suite": "s",
                "checks": [
                    {"metric": "accuracy", "condition": {"ge": 0}, "params": {"confidence": {"x": 1}}}
                ],
            }
        )
