"""A summary per stored batch, for a window's read without the events' index (decision 0049).

- ``batches.first_ts``, ``last_ts``: the earliest and the latest time of the batch's events (its index rows);
  ``n_events``: how many index rows it has; ``version``: the version when one served them all, else NULL.
- ``ix_batches_window`` (model, last time, then the rest of the summary: a window's read needs no row).
- Backfilled from the events' index in one grouped statement: a batch without index rows gets ``n_events``
  0 and no times (no window meets it).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)

_SUMMARY = (
    "SELECT batch_id, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n, "
    "CASE WHEN min(version) = max(version) THEN min(version) END AS version FROM events GROUP BY batch_id"
)


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("first_ts", TS, nullable=True))
        batch.add_column(sa.Column("last_ts", TS, nullable=True))
        batch.add_column(sa.Column("n_events", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("version", sa.String(200), nullable=True))
    # UPDATE ... FROM: one grouped scan of the index (SQLite 3.33 and later, PostgreSQL), not a correlated
    # subquery per batch (the index has no key on batch_id: a scan each).
    op.execute(
        f"UPDATE batches SET first_ts = s.first_ts, last_ts = s.last_ts, n_events = s.n, version = s.version "
        f"FROM ({_SUMMARY}) AS s WHERE batches.id = s.batch_id"
    )
    op.execute("UPDATE batches SET n_events = 0 WHERE n_events IS NULL")
    op.create_index(
        "ix_batches_window", "batches", ["model_id", "last_ts", "first_ts", "n_events", "n_rows", "version"]
    )


def downgrade() -> None:
    op.drop_index("ix_batches_window", table_name="batches")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("version")
        batch.drop_column("n_events")
        batch.drop_column("last_ts")
        batch.drop_column("first_ts")
