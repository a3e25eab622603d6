"""Append-only bucket parts, model anchors and edge sets; the event index loses its task columns.

A batch now appends the profile of its rows as a part of its bucket (no lock, no rewrite of the bucket) and a
background job folds parts into buckets; histogram edges are stored once per edge set instead of in every
profile; predictions, scores and segment values are read from the batch blobs when late labels rebuild a
bucket (docs/decisions/0004-ingestion-write-path.md).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "bucket_parts",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("batch_id", BIGID, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_bucket_parts_bucket", "bucket_parts", ["model_id", "version", "bucket"])
    op.create_table(
        "edge_sets",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("edges", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "anchors",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("edges", sa.JSON, nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    with op.batch_alter_table("events") as batch:
        batch.drop_column("prediction")
        batch.drop_column("scores")
        batch.drop_column("segments")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("prediction", sa.Text, nullable=True))
        batch.add_column(sa.Column("scores", sa.JSON, nullable=True))
        batch.add_column(sa.Column("segments", sa.JSON, nullable=True))
    op.drop_table("anchors")
    op.drop_table("edge_sets")
    op.drop_index("ix_bucket_parts_bucket", "bucket_parts")
    op.drop_table("bucket_parts")
