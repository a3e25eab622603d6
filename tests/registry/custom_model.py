"""A scikit-learn estimator of a class skops does not know, so its skops file lists an untrusted type."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


class IncomeRule(ClassifierMixin, BaseEstimator):
    """Approve when income is above a threshold learnt as the training median."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> IncomeRule:
        self.threshold_ = float(np.median(X["income"]))
        self.classes_ = np.array([False, True])
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(X["income"] > self.threshold_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.asarray(X["income"]) - self.threshold_)))
        return np.column_stack([1 - p, p])
