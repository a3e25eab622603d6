"""API keys record when they were last used (``loopwise admin list-keys`` shows it).

Written at most once a minute per key and server process (``loopwise.server.auth.touch``), on the path
that already goes to the database for a key the process has not seen for a while.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
