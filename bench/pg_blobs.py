"""PostgreSQL's two blob paths in a replay, old and new side by side in one process (decision 0053).

Run: python bench/pg_blobs.py [--rows 1000000] [--repeat 3] [--save NAME]. Starts a PostgreSQL of its own
(as bench/ingest.py does), stores ``rows`` events' worth of batch blobs as the replay bench's are (5,000 rows
each: an id, a time, 40 normal features, a prediction, a score; Arrow IPC, uncompressed as loopwise stores
noise) through loopwise's own migrations, then, alternating in each repeat:

- reading them back in groups of 20 (as a replay batch of 100,000 rows does) and decoding 40 features and
  the ids into a DataFrame: ``SELECT ... (binary)`` and Python bytes (before), against the replay's
  ``COPY ... TO STDOUT (FORMAT binary)`` with views of libpq's buffers (after);
- storing ten outputs blobs of 100,000 rows (``outputs.pack``: ids, a prediction, two probabilities, zstd),
  one transaction each, into a column of storage EXTENDED (before migration 0019: pglz tried on each) and
  EXTERNAL (after).

Wall and CPU seconds of this process (the client); the server's work shows in the wall only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
FEATURES = [f"x{i:02d}" for i in range(40)]


def blob(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"id": pa.array([f"e{seed * rows + i}" for i in range(rows)])}
    cols["ts"] = pa.array(np.arange(rows).astype("datetime64[s]"), pa.timestamp("s", tz="UTC"))
    cols.update({f: rng.normal(size=rows) for f in FEATURES})
    cols["pred"] = rng.random(rows) > 0.5
    cols["score"] = np.full(rows, 0.5)
    table = pa.table(cols)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--save")
    args = ap.parse_args()

    import psycopg

    from backfill import _stop_postgres
    from ingest import start_postgres
    from loopwise.registry.blobs import copy_rows
    from loopwise.registry.outputs import encode_predictions, output_table, pack, probabilities, unpack
    from loopwise.store import make_engine, upgrade

    server, bindir, root = start_postgres()
    try:
        engine = make_engine(server)
        upgrade(engine)  # the tables as loopwise makes them: batches.arrow EXTERNAL (migration 0005)
        engine.dispose()
        conn = psycopg.connect(server)
        conn.execute("INSERT INTO models (id, name, schema_json, created_at) VALUES (1, 'b', '{}', now())")
        n = args.rows // 5_000
        ids = []
        for k in range(n):
            row = conn.execute(
                "INSERT INTO batches (model_id, n_rows, arrow, received_at) VALUES (1, 5000, %s, now()) "
                "RETURNING id",
                (blob(5_000, k),),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
        conn.commit()
        p = np.random.default_rng(0).random(100_000)
        out = pack(
            output_table(
                pa.array([f"e{i}" for i in range(100_000)]),
                encode_predictions(p > 0.5),
                probabilities([False, True], np.c_[1 - p, p]),
            )
        )
        conn.execute("CREATE TABLE out_extended (a bytea)")
        conn.execute("CREATE TABLE out_external (a bytea)")
        conn.execute("ALTER TABLE out_external ALTER COLUMN a SET STORAGE EXTERNAL")
        conn.commit()
        wanted = [*FEATURES, "id"]

        def select_read(group: list[int]) -> dict[int, Any]:
            cur = conn.cursor()
            cur.execute("SELECT id, arrow FROM batches WHERE id = ANY(%s)", (group,), binary=True)
            return {int(i): bytes(b) for i, b in cur.fetchall()}

        def copied(conn: Any, group: list[int]) -> dict[int, Any]:
            found: dict[int, Any] = {}
            copy_rows(conn, group, found.__setitem__)
            return found

        def read(get: Any) -> None:
            for a in range(0, len(ids), 20):
                group = ids[a : a + 20]
                blobs = get(group)
                pa.concat_tables([unpack(blobs[i], wanted) for i in group]).to_pandas()
            conn.commit()

        def store(table: str) -> None:
            for _ in range(10):
                conn.execute(f"INSERT INTO {table} VALUES (%s)", (out,))
                conn.commit()

        cases = {
            "read, SELECT (before)": lambda: read(select_read),
            "read, COPY (after)": lambda: read(lambda g: copied(conn, g)),
            "store 10 outputs, EXTENDED (before)": lambda: store("out_extended"),
            "store 10 outputs, EXTERNAL (after)": lambda: store("out_external"),
        }
        results: list[dict[str, Any]] = []
        for r in range(args.repeat):
            for name, run in cases.items():
                began, cpu = time.perf_counter(), time.process_time()
                run()
                wall, used = time.perf_counter() - began, time.process_time() - cpu
                load = __import__("os").getloadavg()[0]
                results.append({"repeat": r, "case": name, "wall_s": wall, "cpu_s": used, "load": load})
                print(f"{r} {name:38} wall {wall:.3f} s  cpu {used:.3f} s  load {load:.1f}", flush=True)
        for name in cases:
            mine = [x for x in results if x["case"] == name]
            print(
                f"median {name:33} wall {np.median([x['wall_s'] for x in mine]):.3f} s  "
                f"cpu {np.median([x['cpu_s'] for x in mine]):.3f} s"
            )
        conn.close()
        if args.save:
            path = HERE / "results" / f"{args.save}.json"
            path.write_text(
                json.dumps({"args": vars(args), "blob_bytes": len(out), "runs": results}, indent=1) + "\n"
            )
            print(f"wrote {path}")
    finally:
        _stop_postgres(bindir, root)


if __name__ == "__main__":
    main()
