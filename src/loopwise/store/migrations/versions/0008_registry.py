"""The registry (issue 16; decisions 0024, 0025): versions get a flavor, an artifact and lineage; aliases
point at versions and every move is an ``alias_events`` row; ``other_outputs`` holds what a version that
did not serve an event answered for it (DESIGN.md decision 9).

``model_versions`` existed since 0001 and nothing wrote it; its new columns have defaults, so rows written
by anything else stay valid.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("flavor", sa.String(20), nullable=False, server_default="external"))
        batch.add_column(sa.Column("sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("uri", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("lineage", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("created_by", sa.String(200), nullable=False, server_default=""))
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ux_aliases_version", "aliases", ["model_id", "version_id"], unique=True)
    op.create_table(
        "alias_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("alias", sa.String(200), nullable=False),
        sa.Column("from_version", sa.String(200), nullable=True),
        sa.Column("to_version", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_alias_events_at", "alias_events", ["model_id", "alias", "at"])
    op.create_table(
        "other_outputs",
        sa.Column("model_id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("prediction", sa.JSON, nullable=True),
        sa.Column("scores", sa.JSON, nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("other_outputs")
    op.drop_index("ix_alias_events_at", "alias_events")
    op.drop_table("alias_events")
    op.drop_index("ux_aliases_version", "aliases")
    op.drop_table("aliases")
    op.drop_table("artifacts")
    with op.batch_alter_table("model_versions") as batch:
        for column in ("created_by", "lineage", "uri", "sha256", "flavor"):
            batch.drop_column(column)
