"""Synthetic datasets generated on the spot (no downloads): a credit-risk model's traffic."""

from __future__ import annotations

import numpy as np
import pandas as pd

PURPOSES = ["car", "home", "education", "business", "medical", "debt_consolidation", "other"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed", "retired"]
REGIONS = ["north", "south", "east", "west", "central", "coast", "islands", "capital"]
GROUPS = ["group_a", "group_b", "group_c", "group_d"]


def make_credit(
    n: int = 50_000, *, seed: int = 0, drift: bool = False, start: str = "2026-01-01"
) -> pd.DataFrame:
    """Loan applications with a model's score, decision and (later) repayment outcome.

    With ``drift=True`` the economy has turned: incomes fall, debt-to-income
    rises, more loans are for medical bills and fewer applicants are salaried.
    The model's score and decisions drift as a consequence.

    Example:
        >>> df = make_credit(1000, seed=1)
        >>> df.shape, sorted(df["approved"].unique().tolist())
        ((1000, 16), [False, True])
    """
    rng = np.random.default_rng(seed + (10_000 if drift else 0))
    age = np.clip(rng.normal(41, 12, n), 18, 90).round().astype(np.int64)
    income = rng.lognormal(np.log(52_000) - (0.12 if drift else 0.0), 0.45, n)
    dti = np.clip(rng.beta(2.2, 6.0, n) + (0.04 if drift else 0.0), 0, 1)
    history = np.clip(rng.gamma(3.0, 40.0, n) * (age - 17) / 25, 0, 600)
    accounts = rng.poisson(4 + (age - 18) / 15, n)
    purpose_p = np.array([0.18, 0.22, 0.10, 0.12, 0.08, 0.22, 0.08])
    employ_p = np.array([0.62, 0.14, 0.12, 0.05, 0.07])
    if drift:
        purpose_p = np.array([0.15, 0.18, 0.09, 0.10, 0.18, 0.22, 0.08])
        employ_p = np.array([0.55, 0.14, 0.15, 0.09, 0.07])
    purpose = rng.choice(PURPOSES, n, p=purpose_p)
    employment = rng.choice(EMPLOYMENT, n, p=employ_p)
    region = rng.choice(REGIONS, n, p=[0.16, 0.14, 0.13, 0.13, 0.12, 0.1, 0.07, 0.15])
    group = rng.choice(GROUPS, n, p=[0.55, 0.2, 0.15, 0.1])
    loan = np.round(income * rng.uniform(0.1, 0.8, n), -2)
    cosigner = rng.random(n) < 0.12
    missing_income = rng.random(n) < 0.02
    logit = (
        1.2
        + 0.9 * (np.log(income) - np.log(52_000))
        - 4.0 * (dti - 0.27)
        + 0.004 * (history - 100)
        - 0.6 * (employment == "unemployed")
        - 0.3 * (purpose == "medical")
        + 0.4 * cosigner
        - 0.35 * (loan / income - 0.45)
    )
    p_repay = 1 / (1 + np.exp(-logit))
    # The model is good but imperfect: its score is the true probability seen through noise.
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.6, n))))
    repaid = rng.random(n) < p_repay
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.uniform(0, 30 * 86_400, n), unit="s")
    income_col = income.round(2)
    income_col[missing_income] = np.nan
    return pd.DataFrame(
        {
            "request_id": [f"req-{seed}-{int(drift)}-{i:07d}" for i in range(n)],
            "ts": ts.sort_values().to_numpy(),
            "age": age,
            "income": income_col,
            "loan_amount": loan,
            "debt_to_income": dti.round(4),
            "credit_history_months": history.round(1),
            "open_accounts": accounts,
            "purpose": purpose,
            "employment": employment,
            "region": region,
            "has_cosigner": cosigner,
            "race": group,
            "p_approve": score.round(5),
            "approved": score >= 0.5,
            "repaid": repaid,
        }
    )


CREDIT_SCHEMA_YAML = """\
columns:
  request_id:            {role: id}
  ts:                    {role: timestamp}
  age:                   {kind: numeric}
  income:                {kind: numeric}
  loan_amount:           {kind: numeric}
  debt_to_income:        {kind: numeric}
  credit_history_months: {kind: numeric}
  open_accounts:         {kind: numeric}
  purpose:               {kind: categorical}
  employment:            {kind: categorical}
  region:                {kind: categorical}
  has_cosigner:          {kind: boolean}
  race:                  {role: segment, kind: categorical}
  p_approve:             {role: score}
  approved:              {role: prediction}
  repaid:                {role: target}
"""
