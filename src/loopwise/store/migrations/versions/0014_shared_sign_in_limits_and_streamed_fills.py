"""Sign-in attempts in the database, so every server process limits them together; review fills say how
they were made (decision 0042).

- ``login_attempts``: one row per sign-in attempt under way or failed, per key (a name, an address), as
  the SHA-256 of the key: the limiter counts them across processes and replicas.
- ``review_fills.mode``: ``demand`` (a fill asked for over a window) or ``stream`` (one of the increments
  the server fills as events arrive).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_login_attempts_key", "login_attempts", ["key", "at"])
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    with op.batch_alter_table("review_fills") as batch:
        batch.add_column(sa.Column("mode", sa.String(10), nullable=False, server_default="demand"))


def downgrade() -> None:
    with op.batch_alter_table("review_fills") as batch:
        batch.drop_column("mode")
    op.drop_index("ix_login_attempts_at", "login_attempts")
    op.drop_index("ix_login_attempts_key", "login_attempts")
    op.drop_table("login_attempts")
