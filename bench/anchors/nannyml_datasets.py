"""The NannyML datasets the comparison uses, and their columns: shared by both sides (no NannyML import).

Each dataset: its loader in ``nannyml.datasets``, its task, its target, prediction and
score columns, its features, whether it is one of NannyML's synthetic datasets, and
the chunk size both sides use.
"""

from __future__ import annotations

from typing import Any

DATASETS: dict[str, dict[str, Any]] = {
    "work_from_home": {
        "loader": "load_synthetic_binary_classification_dataset",
        "problem": "classification_binary",
        "target": "work_home_actual",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
        "features": [
            "distance_from_office",
            "salary_range",
            "gas_price_per_litre",
            "public_transportation_cost",
            "wfh_prev_workday",
            "workday",
            "tenure",
        ],
        "synthetic": True,
        "chunk_size": 5000,
    },
    "car_loan": {
        "loader": "load_synthetic_car_loan_dataset",
        "problem": "classification_binary",
        "target": "repaid",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
        "features": [
            "car_value",
            "salary_range",
            "debt_to_income_ratio",
            "loan_length",
            "repaid_loan_on_prev_car",
            "size_of_downpayment",
            "driver_tenure",
        ],
        "synthetic": True,
        "chunk_size": 5000,
    },
    "multiclass": {
        "loader": "load_synthetic_multiclass_classification_dataset",
        "problem": "classification_multiclass",
        "target": "y_true",
        "y_pred": "y_pred",
        "proba": {
            "prepaid_card": "y_pred_proba_prepaid_card",
            "highstreet_card": "y_pred_proba_highstreet_card",
            "upmarket_card": "y_pred_proba_upmarket_card",
        },
        "features": [
            "acq_channel",
            "app_behavioral_score",
            "requested_credit_limit",
            "app_channel",
            "credit_bureau_score",
            "stated_income",
            "is_customer",
        ],
        "synthetic": True,
        "chunk_size": 5000,
    },
    "car_price": {
        "loader": "load_synthetic_car_price_dataset",
        "problem": "regression",
        "target": "y_true",
        "y_pred": "y_pred",
        "proba": None,
        "features": [
            "car_age",
            "km_driven",
            "price_new",
            "accident_count",
            "door_count",
            "fuel",
            "transmission",
        ],
        "synthetic": True,
        "chunk_size": 5000,
    },
    "california_housing": {
        "loader": "load_modified_california_housing_dataset",
        "problem": "classification_binary",
        "target": "clf_target",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
        "features": [
            "MedInc",
            "HouseAge",
            "AveRooms",
            "AveBedrms",
            "Population",
            "AveOccup",
            "Latitude",
            "Longitude",
        ],
        "synthetic": False,
        # 5,832 reference rows: about ten chunks, like NannyML's default chunker.
        "chunk_size": 500,
    },
    "census_employment": {
        "loader": "load_us_census_ma_employment_data",
        "problem": "classification_binary",
        "target": "employed",
        "y_pred": "prediction",
        "proba": "predicted_probability",
        "features": [
            "AGEP",
            "SCHL",
            "MAR",
            "RELP",
            "DIS",
            "ESP",
            "CIT",
            "MIG",
            "MIL",
            "ANC",
            "NATIVITY",
            "DEAR",
            "DEYE",
            "DREM",
            "SEX",
            "RAC1P",
        ],
        "synthetic": False,
        "chunk_size": 5000,
    },
}
#: The bounded metrics NannyML's CBPE estimates (binary and multiclass alike).
CLASSIFICATION_METRICS = (
    "roc_auc",
    "average_precision",
    "f1",
    "precision",
    "recall",
    "specificity",
    "accuracy",
)
ESTIMATED = {
    "classification_binary": [*CLASSIFICATION_METRICS, "confusion_matrix"],
    "classification_multiclass": [*CLASSIFICATION_METRICS, "confusion_matrix"],
    "regression": ["mae", "mape", "mse", "msle", "rmse", "rmsle"],
}
ESTIMATION_DATASETS = ("work_from_home", "car_loan", "multiclass", "car_price")
SPEED_ROWS = 1_000_000
DLE_ROWS = 100_000


def outputs(spec: dict[str, Any]) -> list[str]:
    proba = spec["proba"]
    scores = [] if proba is None else [proba] if isinstance(proba, str) else list(proba.values())
    return [spec["y_pred"], *scores]


# The multivariate comparison (bench/multivariate.py): per dataset, the stem of NannyML's reference and
# analysis files and the features, chunks of CHUNK rows.
CHUNK = 5000
FEATURES: dict[str, tuple[str, list[str]]] = {
    "car_loan": ("synthetic_car_loan", DATASETS["car_loan"]["features"]),
    "synthetic_sample": ("synthetic_sample", DATASETS["work_from_home"]["features"]),
    "mc": ("mc", DATASETS["multiclass"]["features"]),
}
