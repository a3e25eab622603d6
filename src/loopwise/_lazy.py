"""Heavy modules imported when first used, not when loopwise is: ``stats = lazy("scipy.stats")``.

A server, a CLI command or a script that never computes a p-value does not pay for scipy's or
scikit-learn's import (seconds of CPU at a server's start-up, decision 0059). Modules declare the real
import under ``TYPE_CHECKING`` for mypy, and the lazy one otherwise::

    if TYPE_CHECKING:
        from scipy import stats
    else:
        stats = lazy("scipy.stats")

Example:
    >>> from loopwise._lazy import lazy
    >>> math = lazy("math")
    >>> math.sqrt(16.0)
    4.0
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class _Lazy(types.ModuleType):
    """Stands for a module until one of its attributes is read; then imports it (under the import lock, so
    threads agree) and takes its namespace, so that later reads are plain attribute reads."""

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def lazy(name: str) -> Any:
    """The module ``name``, imported on first use (the module itself when it is imported already)."""
    return sys.modules.get(name) or _Lazy(name)
