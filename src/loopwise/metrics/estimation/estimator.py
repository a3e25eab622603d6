"""``PerformanceEstimator``: fitted once on a labelled reference, applied to many unlabelled currents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopwise.errors import DataError, ParameterError
from loopwise.metrics.estimation.calibration import Calibration
from loopwise.metrics.estimation.cbpe import AVERAGES, CLASSIFICATION, estimate_classification
from loopwise.metrics.estimation.dle import REGRESSION, LossModels
from loopwise.metrics.estimation.result import Estimates
from loopwise.profiles import Profile
from loopwise.profiles.task import ClassificationProfile, RegressionProfile, TaskProfile
from loopwise.schema import DataLike, Schema, to_table
from loopwise.schema.inference import missing_outputs_message

#: Every metric that can be estimated, by task; the defaults leave out the confusion matrix's cells and the
#: business value (it needs a matrix of values).
ESTIMABLE = (*CLASSIFICATION, *REGRESSION)
DEFAULTS = {
    "classification": tuple(m for m in CLASSIFICATION if m not in ("confusion_matrix", "business_value")),
    "regression": REGRESSION,
}


def _task_of(side: DataLike | Profile, schema: Schema | None, which: str) -> tuple[TaskProfile, Any, Schema]:
    """The side's task profile, and its Arrow table and resolved schema when it is raw data."""
    from loopwise.profiles.profile import empty_task, update_task

    if isinstance(side, Profile):
        if side.task is None:
            raise DataError(f"the {which} has no model outputs (prediction and target columns in its schema)")
        return side.task, None, side.schema
    table = to_table(side)
    sch = (schema or Schema.infer(table)).resolve(table)
    task = empty_task(sch)
    if task is None:
        raise DataError(missing_outputs_message(f"estimation (the {which})", list(sch), schema is not None))
    update_task(task, sch, table)
    return task, table, sch


class PerformanceEstimator:
    """Performance without labels, fitted on a labelled reference: CBPE for classifiers, DLE for regressors.

    Classification works from profiles (a stored reference profile and a window's profile give the same
    answer as the raw rows); regression fits gradient-boosting models of the loss and needs raw rows.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> def traffic(n, shift):
        ...     x = rng.normal(shift, 1, n); p = 1 / (1 + np.exp(-2 * x))
        ...     return pd.DataFrame({"p_yes": p, "prediction": p >= 0.5, "label": rng.random(n) < p})
        >>> est = PerformanceEstimator(metrics=["accuracy", "roc_auc"]).fit(traffic(20_000, 0.0))
        >>> today = est.estimate(traffic(5_000, 1.0).assign(label=None))
        >>> round(today["accuracy"].estimate, 2), today["accuracy"].realized
        (0.84, None)
    """

    def __init__(
        self,
        schema: Schema | None = None,
        metrics: Sequence[str] | None = None,
        *,
        pos_label: Any = None,
        average: str | None = None,
        confidence: float = 0.95,
        seed: int = 0,
        business_value_matrix: Any = None,
        normalize_business_value: str | None = None,
    ) -> None:
        for m in metrics or ():
            if m not in ESTIMABLE:
                raise ParameterError("metrics", m, ESTIMABLE)
        if average is not None and average not in AVERAGES:
            raise ParameterError("average", average, AVERAGES)
        if not 0 < confidence < 1:
            raise ParameterError("confidence", confidence, "a probability strictly between 0 and 1")
        self.schema = schema
        self.metrics = metrics
        self.pos_label = pos_label
        self.average = average
        self.confidence = confidence
        self.seed = seed
        self.business_value_matrix = business_value_matrix
        self.normalize_business_value = normalize_business_value

    def fit(self, reference: DataLike | Profile) -> PerformanceEstimator:
        """Calibrate on the labelled reference (a profile will do for a classifier)."""
        task, table, sch = _task_of(reference, self.schema, "reference")
        self.task_ = task.task
        # A current is read with the reference's schema: it usually lacks the target, which inference
        # on the current alone would then not find.
        self.schema_ = self.schema or sch
        wanted = tuple(self.metrics) if self.metrics is not None else DEFAULTS[task.task]
        allowed = CLASSIFICATION if isinstance(task, ClassificationProfile) else REGRESSION
        for m in wanted:
            if m not in allowed:
                raise ParameterError("metrics", m, f"a {task.task} metric ({', '.join(allowed)})")
        self.metrics_ = wanted
        if isinstance(task, ClassificationProfile):
            self.calibration_: Calibration | None = Calibration(task)
            self.losses_: LossModels | None = None
        else:
            if table is None:
                raise DataError(
                    "direct loss estimation needs the reference's raw rows (features and prediction), "
                    "not a profile"
                )
            self.calibration_ = None
            self.losses_ = LossModels(wanted, seed=self.seed).fit(table, sch)
        return self

    def estimate(self, current: DataLike | Profile) -> Estimates:
        """Estimates for the current (labels optional: where present, the realized value stands beside)."""
        if not hasattr(self, "metrics_"):
            raise DataError("the estimator is not fitted: call fit(reference) first")
        if self.calibration_ is not None:
            task, _table, _sch = _task_of(current, self.schema_, "current")
            if not isinstance(task, ClassificationProfile):
                raise DataError("the reference is a classifier's, the current a regressor's")
            return Estimates(
                estimate_classification(
                    self.calibration_,
                    task,
                    self.metrics_,
                    pos_label=self.pos_label,
                    average=self.average,
                    confidence=self.confidence,
                    seed=self.seed,
                    business_value_matrix=self.business_value_matrix,
                    normalize_business_value=self.normalize_business_value,
                )
            )
        assert self.losses_ is not None
        if isinstance(current, Profile):
            raise DataError(
                "direct loss estimation needs the current's raw rows (features and prediction), not a profile"
            )
        # The reference's resolved schema: a current without its target column still reads as a regressor's.
        task, table, sch = _task_of(current, self.losses_.schema, "current")
        assert isinstance(task, RegressionProfile)
        return Estimates(self.losses_.estimate(table, sch, task, confidence=self.confidence))


def estimate_performance(
    reference: DataLike | Profile,
    current: DataLike | Profile,
    schema: Schema | None = None,
    *,
    metrics: Sequence[str] | None = None,
    pos_label: Any = None,
    average: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    business_value_matrix: Any = None,
    normalize_business_value: str | None = None,
) -> Estimates:
    """Estimate ``current``'s performance from its model outputs, calibrated on a labelled ``reference``.

    Classifiers: from the scores (confidence-based estimation; profiles will do). Regressors: from the
    features and prediction (direct loss estimation; raw rows). See ``PerformanceEstimator``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> def traffic(n, shift):
        ...     x = rng.normal(shift, 1, n); p = 1 / (1 + np.exp(-2 * x))
        ...     return pd.DataFrame({"p_yes": p, "prediction": p >= 0.5, "label": rng.random(n) < p})
        >>> est = estimate_performance(traffic(20_000, 0.0), traffic(5_000, 1.0).assign(label=None))
        >>> round(est["accuracy"].estimate, 2), est["accuracy"].realized
        (0.84, None)
    """
    est = PerformanceEstimator(
        schema,
        metrics,
        pos_label=pos_label,
        average=average,
        confidence=confidence,
        seed=seed,
        business_value_matrix=business_value_matrix,
        normalize_business_value=normalize_business_value,
    )
    return est.fit(reference).estimate(current)
