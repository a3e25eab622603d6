"""NannyML: UnivariateDriftCalculator fit(reference) + calculate(current), defaults."""

import nannyml as nml
import pandas as pd
from _common import CATEGORICAL, NUMERIC, Clock, emit, paths

ref_path, cur_path = paths()
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
cols = NUMERIC + CATEGORICAL
nml.UnivariateDriftCalculator(column_names=cols, treat_as_categorical=CATEGORICAL).fit(
    ref.head(1000)
).calculate(cur.head(1000))
with Clock() as clock:
    calc = nml.UnivariateDriftCalculator(column_names=cols, treat_as_categorical=CATEGORICAL)
    calc.fit(ref)
    calc.calculate(cur)
emit(seconds=clock.seconds)
