"""Seeded piecewise streams for the change detectors' tests: the oracles (river, a textbook loop) and
loopwise's detectors see the same values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def piecewise(
    seed: int,
    means: Sequence[float],
    *,
    length: int = 400,
    sds: Sequence[float] | None = None,
    noise: str = "normal",
) -> Floats:
    """Segments of ``length`` values with the given means (and sds), under Gaussian, t(3) or AR(1) noise."""
    rng = np.random.default_rng(seed)
    sds = sds or [1.0] * len(means)
    parts = []
    for mean, sd in zip(means, sds, strict=True):
        if noise == "normal":
            e = rng.normal(0, 1, length)
        elif noise == "t3":
            e = rng.standard_t(3, length) / np.sqrt(3.0)
        else:  # AR(1), phi 0.5, unit variance
            w = rng.normal(0, np.sqrt(0.75), length)
            e = np.empty(length)
            e[0] = rng.normal()
            for i in range(1, length):
                e[i] = 0.5 * e[i - 1] + w[i]
        parts.append(mean + sd * e)
    return np.concatenate(parts)


def bernoulli(seed: int, rates: Sequence[float], *, length: int = 1000) -> Floats:
    """A 0/1 error stream whose rate jumps between segments."""
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(length) < p).astype(np.float64) for p in rates])


def loop_detections(detector: Any, values: Floats, fired: Callable[[Any], bool] | None = None) -> list[int]:
    """Positions at which ``detector`` (river's or loopwise's) fires, fed one value at a time."""
    hits = []
    for i, x in enumerate(values.tolist()):
        detector.update(x)
        if fired(detector) if fired else detector.drift_detected:
            hits.append(i)
    return hits


def same_parameters(river_detector: Any, ours: Callable[..., Any], **extra: Any) -> Any:
    """A loopwise detector with the parameters of ``river_detector`` (river's defaults included: loopwise's
    defaults differ, docs/detectors.md), plus ``extra``."""
    import inspect

    accepted = inspect.signature(ours).parameters
    params = {k: v for k, v in river_detector._get_params().items() if k in accepted and v is not None}
    return ours(**params, **extra)
