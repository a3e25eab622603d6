"""Initial schema: models, versions, batches, events, feedback, bucket profiles, references, keys, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

# This migration defines its own types: it must keep working when loopwise.store.tables changes.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("schema_json", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
    )
    op.create_index("ux_model_versions", "model_versions", ["model_id", "name"], unique=True)
    op.create_table(
        "batches",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("arrow", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("batch_id", BIGID, nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("prediction", sa.Text, nullable=True),
        sa.Column("scores", sa.JSON, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
    )
    op.create_index("ix_events_bucket", "events", ["model_id", "version", "bucket"])
    op.create_table(
        "feedback",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ux_feedback", "feedback", ["model_id", "event_id", "source", "kind"], unique=True)
    op.create_table(
        "bucket_profiles",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("bucket", TS, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "references",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("model_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "idempotency",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "idempotency",
        "audit_log",
        "api_keys",
        "references",
        "bucket_profiles",
        "feedback",
        "events",
        "batches",
        "model_versions",
        "models",
    ):
        op.drop_table(name)
