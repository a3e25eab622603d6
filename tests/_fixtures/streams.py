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


def old_bocpd_state() -> bytes:
    """A BOCPD state in the layout of decision 0033 (before 0040): its parameters then, and a Normal-Gamma
    posterior (``mu``, ``kappa``, ``alpha``, ``beta`` per hypothesis, ``prior``) instead of today's
    regression sums and check. Built from today's bytes by the documented layout (``Detector.to_bytes``)."""
    import json
    import struct

    from loopwise.detectors import BOCPD

    detector = BOCPD()
    detector.update_many(np.random.default_rng(0).normal(0, 1, 200))
    data = detector.to_bytes()
    prefix = struct.Struct(">4sHI")
    magic, version, length = prefix.unpack_from(data)
    header = json.loads(data[prefix.size : prefix.size + length])
    pos, blobs = prefix.size + length, {}
    for spec in header["arrays"]:
        size = int(np.prod(spec["shape"])) * np.dtype(spec["dtype"]).itemsize
        blobs[spec["name"]] = data[pos : pos + size]
        pos += size
    old = {"buffer", "r", "log_r", "n", "drift_detected", "change_point", "t", "start"}
    header["params"] = {k: v for k, v in header["params"].items() if k in {"expected_run_length", "warm_up"}}
    header["state"] = {k: v for k, v in header["state"].items() if k in old} | {"prior": [0.0, 1.0]}
    header["arrays"] = [s for s in header["arrays"] if s["name"] in old]
    for name in ("mu", "kappa", "alpha", "beta"):  # the old posterior's arrays
        header["arrays"].append({"name": name, "dtype": "<f8", "shape": [1]})
        blobs[name] = np.zeros(1).tobytes()
    head = json.dumps(header).encode()
    body = b"".join(blobs[s["name"]] for s in header["arrays"])
    return prefix.pack(magic, version, len(head)) + head + body
