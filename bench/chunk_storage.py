"""Size and cost of a reference's chunks: profile bytes and profiling time with and without chunk_size.

usage: python bench/chunk_storage.py [rows] [chunk_size ...]   (defaults: 1,000,000 rows; 10,000 and 100,000)
Data: bench/gen.py's reference (30 numeric and 10 categorical columns).
"""

from __future__ import annotations

import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))

import loopwise as lw
from gen import make  # type: ignore[import-not-found]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sizes = [int(s) for s in sys.argv[2:]] or [10_000, 100_000]
    table = make(rows, seed=1, drift=False)
    for chunk_size in [None, *sizes]:
        t = time.perf_counter()
        p = lw.profile(table, chunk_size=chunk_size)
        seconds = time.perf_counter() - t
        blob = p.to_bytes()
        chunks = p.chunks.n_chunks if p.chunks else 0
        print(
            f"chunk_size {chunk_size}: {chunks} chunks, {len(blob) / 1e6:.2f} MB, profiled in {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
