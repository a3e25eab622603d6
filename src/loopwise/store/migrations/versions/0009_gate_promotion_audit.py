"""The gate, promotion and the audit chain (issue 16; decisions 0027, 0028).

``gate_results`` holds each gate run (inputs and every check's outcome); ``promotions`` each promotion
(pending until approved, promoted through the gate, or forced); ``promotion_policies`` a model's rule for
promoting. ``audit_log`` gets a hash chain: per chain (one per model) a sequence number, the previous
entry's hash and its own; ``audit_heads`` holds each chain's last number and hash, the row a writer locks.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain", sa.String(100), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    op.create_index("ux_audit_log_chain", "audit_log", ["chain", "seq"], unique=True)
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(100), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "gate_results",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("champion", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verdict", sa.String(500), nullable=False),
        sa.Column("suite", sa.JSON, nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("comparisons", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_gate_results_version", "gate_results", ["model_id", "version", "id"])
    op.create_table(
        "promotions",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("gate_result_id", sa.BigInteger, nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("reason", sa.String(2000), nullable=True),
    )
    op.create_index("ix_promotions_model", "promotions", ["model_id", "status"])
    op.create_table(
        "promotion_policies",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("promotion_policies")
    op.drop_index("ix_promotions_model", "promotions")
    op.drop_table("promotions")
    op.drop_index("ix_gate_results_version", "gate_results")
    op.drop_table("gate_results")
    op.drop_table("audit_heads")
    op.drop_index("ux_audit_log_chain", "audit_log")
    with op.batch_alter_table("audit_log") as batch:
        for column in ("hash", "prev_hash", "seq", "chain"):
            batch.drop_column(column)
