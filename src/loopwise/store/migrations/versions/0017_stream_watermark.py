"""A review stream's watermark instead of a fill per empty increment (decision 0046).

- ``review_policies.stream_mark``: the end of the last increment the stream went through, events or not.
- The streamed fills of no events (``mode = 'stream'``, no rows, no tasks) are deleted: at ``every: 60``
  they were 1,440 rows a day a model, saying only "ran, nothing to select", which the mark now says. Each
  policy's mark starts at the end of its latest streamed fill, so no increment is filled twice.

Revision ID: 0017
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("review_policies") as batch:
        batch.add_column(sa.Column("stream_mark", TS, nullable=True))
    op.execute(
        'UPDATE review_policies SET stream_mark = (SELECT max(f."end") FROM review_fills f '
        "WHERE f.model_id = review_policies.model_id AND f.mode = 'stream')"
    )
    op.execute("DELETE FROM review_fills WHERE mode = 'stream' AND window_rows = 0 AND tasks = 0")


def downgrade() -> None:
    # The deleted empty fills are not made again: a stream going on after a downgrade would refill the
    # empty increments since its last stored fill, which find no events (no tasks, no change to estimates).
    with op.batch_alter_table("review_policies") as batch:
        batch.drop_column("stream_mark")
