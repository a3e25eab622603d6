"""Day rollups: the merged profile of a day's hourly buckets, so long windows load one profile per day.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("day", TS, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("built_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollups")
