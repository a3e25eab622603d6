"""Monitors on a schedule, their runs (one per window, claimed with leases), incidents and the alert delivery
log (decision 0035).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"

# Migrations define their own types (STYLE.md 14): as 0001 made them.
TS = sa.DateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("suite", sa.JSON, nullable=False),
        sa.Column("window_seconds", sa.Integer, nullable=False),
        sa.Column("step_seconds", sa.Integer, nullable=False),
        sa.Column("anchor", TS, nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("detectors", sa.JSON, nullable=False),
        sa.Column("detector_state", sa.JSON, nullable=False),
        sa.Column("renotify_seconds", sa.Integer, nullable=True),
        sa.Column("silences", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ux_monitors_name", "monitors", ["model_id", "name"], unique=True)
    op.create_table(
        "monitor_runs",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("monitor_id", sa.Integer, sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=True),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.String(2000), nullable=True),
        sa.Column("alerted", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ux_monitor_runs", "monitor_runs", ["monitor_id", "window_end"], unique=True)
    op.create_index("ix_monitor_runs_state", "monitor_runs", ["state", "window_end"])
    op.create_table(
        "incidents",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("monitor_id", sa.Integer, sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("check_name", sa.String(500), nullable=False),
        sa.Column("segment", sa.String(500), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("opened_run_id", sa.BigInteger, nullable=False),
        sa.Column("last_run_id", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.Column("condition", sa.String(500), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("notified_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
    )
    op.create_index("ix_incidents_monitor", "incidents", ["monitor_id", "state", "check_name", "segment"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BIG, primary_key=True),
        sa.Column("incident_id", BIG, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("event", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.String(2000), nullable=True),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
    )
    op.create_index("ix_alert_deliveries_state", "alert_deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_state", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_incidents_monitor", "incidents")
    op.drop_table("incidents")
    op.drop_index("ix_monitor_runs_state", "monitor_runs")
    op.drop_index("ux_monitor_runs", "monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_index("ux_monitors_name", "monitors")
    op.drop_table("monitors")
