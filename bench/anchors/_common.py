"""Shared by the anchor scripts (each runs in its own virtual environment): args, timing, output."""

from __future__ import annotations

import json
import resource
import sys
import time

NUMERIC = [f"num_{i:02d}" for i in range(30)]
CATEGORICAL = [f"cat_{j}" for j in range(10)]


def paths() -> tuple[str, str]:
    return sys.argv[1], sys.argv[2]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    def __enter__(self) -> Clock:
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t


def emit(**fields: object) -> None:
    fields["peak_rss_mb"] = rss_mb()
    print("RESULT " + json.dumps(fields))
