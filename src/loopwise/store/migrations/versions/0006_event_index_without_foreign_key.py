"""The event index drops its foreign key to models.

The index gets a row per event, the one insert of the write path that grows with the batch, and the key's
check cost more than the row: on PostgreSQL a trigger event per row (a COPY of 1,000 rows 7.5 -> 10 ms);
on SQLite a multi-row insert under a checked key keeps a statement journal, a copy of every page it
changes, and random event ids change a page per row (1,000 rows into 400,000: 3.3 -> 8.3 ms). Only the
write path inserts here, with a model id it has just read; nothing deletes a model. Decision 0010.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

#: Names SQLite's unnamed key, so that a batch operation (which rebuilds the table) can drop or add it.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_NAME = "fk_events_model_id_models"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("events", naming_convention=NAMING) as batch:
            batch.drop_constraint(SQLITE_NAME, type_="foreignkey")
        return
    for fk in sa.inspect(bind).get_foreign_keys("events"):
        if fk["referred_table"] == "models" and fk["name"]:
            op.drop_constraint(fk["name"], "events", type_="foreignkey")


def downgrade() -> None:
    name = SQLITE_NAME if op.get_bind().dialect.name == "sqlite" else "events_model_id_fkey"
    with op.batch_alter_table("events", naming_convention=NAMING) as batch:
        batch.create_foreign_key(name, "models", ["model_id"], ["id"], ondelete="CASCADE")
