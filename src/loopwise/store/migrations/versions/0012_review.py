"""The review queue and the people who work it (decision 0036): users with argon2 password hashes, the
models they may review and their sessions; review policies, fills, tasks, reviewers' labels and standing.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _model_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "user_models",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "user_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "review_policies",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "review_fills",
        sa.Column("id", BIGID, primary_key=True),
        _model_fk(),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("window_rows", sa.Integer, nullable=False),
        sa.Column("budget", sa.Float, nullable=False),
        sa.Column("tasks", sa.Integer, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_review_fills_model", "review_fills", ["model_id", "start"])
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        _model_fk(),
        sa.Column("fill_id", BIGID, sa.ForeignKey("review_fills.id", ondelete="CASCADE"), nullable=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("selector", sa.String(100), nullable=False),
        sa.Column("inclusion_probability", sa.Float, nullable=True),
        sa.Column("selector_probability", sa.Float, nullable=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("needed", sa.Integer, nullable=False),
        sa.Column("assigned", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("prediction", sa.JSON, nullable=True),
        sa.Column("gold_label", sa.JSON, nullable=True),
        sa.Column("label", sa.JSON, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
    )
    op.create_index("ix_review_tasks_queue", "review_tasks", ["model_id", "state", "position"])
    op.create_index("ix_review_tasks_event", "review_tasks", ["model_id", "event_id"])
    op.create_table(
        "review_labels",
        sa.Column(
            "task_id", sa.String(32), sa.ForeignKey("review_tasks.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("reviewer", sa.String(200), primary_key=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("label", sa.JSON, nullable=True),
        sa.Column("comment", sa.String(2000), nullable=True),
        sa.Column("correct", sa.Boolean, nullable=True),
        sa.Column("suspect", sa.Boolean, nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
    )
    op.create_index("ix_review_labels_reviewer", "review_labels", ["model_id", "reviewer", "state"])
    op.create_table(
        "reviewer_states",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("reviewer", sa.String(200), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("paused_at", TS, nullable=True),
        sa.Column("passed_at", TS, nullable=True),
        sa.Column("counted_from", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("reviewer_states")
    op.drop_index("ix_review_labels_reviewer", "review_labels")
    op.drop_table("review_labels")
    op.drop_index("ix_review_tasks_event", "review_tasks")
    op.drop_index("ix_review_tasks_queue", "review_tasks")
    op.drop_table("review_tasks")
    op.drop_index("ix_review_fills_model", "review_fills")
    op.drop_table("review_fills")
    op.drop_table("review_policies")
    op.drop_table("user_sessions")
    op.drop_table("user_models")
    op.drop_table("users")
