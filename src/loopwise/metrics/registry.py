"""An explicit registry of drift methods: ``@register("psi")``, ``get(name)``, ``names()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopwise.errors import UnknownNameError


@dataclass(frozen=True)
class DriftMethod:
    """A drift method: its name, the column kinds it applies to, and how it decides."""

    name: str
    kinds: frozenset[str]
    is_test: bool
    default_threshold: float
    description: str
    numeric: Callable[..., Any] | None = None
    categorical: Callable[..., Any] | None = None
    #: How the statistic shrinks with the sample size n under no change (~ n ** -null_exponent):
    #: 1/2 for distances such as KS or Jensen-Shannon, 1 for PSI and KL, 0 for test statistics.
    #: A calibrated threshold grows by this power for a current smaller than the calibration chunks.
    null_exponent: float = 0.5
    #: The largest value the statistic can take, if bounded (KS 1, Jensen-Shannon sqrt(ln 2)): a
    #: calibrated threshold is kept below it, so that a column can still alert.
    upper: float | None = None


_REGISTRY: dict[str, DriftMethod] = {}


def register(method: DriftMethod) -> DriftMethod:
    if method.name in _REGISTRY:
        raise ValueError(f"drift method {method.name!r} is registered twice")
    _REGISTRY[method.name] = method
    return method


def get(name: str) -> DriftMethod:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("drift method", name, _REGISTRY) from None


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def _load() -> None:
    # The methods register themselves on import; importing here keeps the registry complete.
    import loopwise.metrics.drift.methods  # noqa: F401
