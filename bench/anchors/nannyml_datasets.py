"""NannyML's synthetic datasets, their feature columns, and the chunk size (shared by both sides)."""

FEATURES = {
    "car_loan": (
        "synthetic_car_loan",
        [
            "car_value",
            "salary_range",
            "debt_to_income_ratio",
            "loan_length",
            "repaid_loan_on_prev_car",
            "size_of_downpayment",
            "driver_tenure",
        ],
    ),
    "synthetic_sample": (
        "synthetic_sample",
        [
            "distance_from_office",
            "salary_range",
            "gas_price_per_litre",
            "public_transportation_cost",
            "wfh_prev_workday",
            "workday",
            "tenure",
        ],
    ),
    "mc": (
        "mc",
        [
            "acq_channel",
            "app_behavioral_score",
            "requested_credit_limit",
            "app_channel",
            "credit_bureau_score",
            "stated_income",
            "is_customer",
        ],
    ),
}
CHUNK = 5000
