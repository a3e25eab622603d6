"""Evidently 0.7: Report([DataDriftPreset()]) with default settings."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")

import pandas as pd
from _common import CATEGORICAL, NUMERIC, Clock, emit, paths
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref_path, cur_path = paths()
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
dd = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)


def run(r: pd.DataFrame, c: pd.DataFrame) -> object:
    return Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(c, data_definition=dd),
        reference_data=Dataset.from_pandas(r, data_definition=dd),
    )


run(ref.head(1000), cur.head(1000))  # warm-up
with Clock() as clock:
    snap = run(ref, cur)
    snap.json()
emit(seconds=clock.seconds)
