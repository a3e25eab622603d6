"""Late labels re-run the windows they land in (decision 0041): each hourly bucket counts the times its
labels changed (``bucket_profiles.labels``), a monitor run stores the count its window held when it ran
(``monitor_runs.labels``), and a run that is run again keeps what it replaced (``monitor_runs.superseded``).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    with op.batch_alter_table("bucket_profiles") as batch:
        batch.add_column(sa.Column("labels", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("monitor_runs") as batch:
        batch.add_column(sa.Column("labels", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("superseded", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_runs") as batch:
        batch.drop_column("superseded")
        batch.drop_column("labels")
    with op.batch_alter_table("bucket_profiles") as batch:
        batch.drop_column("labels")
