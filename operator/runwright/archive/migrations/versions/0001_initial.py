"""The archive's first schema: runs, attempts, events, logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NAME = sa.String(253)


def _run_fk(table: str) -> sa.Column[str]:
    return sa.Column(
        "run_uid",
        sa.String(64),
        sa.ForeignKey("runs.uid", ondelete="CASCADE", name=f"fk_{table}_run_uid_runs"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("namespace", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("pipeline", NAME, nullable=False),
        sa.Column("pipeline_generation", sa.BigInteger),
        sa.Column("trigger", NAME),
        sa.Column("triggered_by", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("block_names", sa.Text, nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("items_processed", sa.Float),
        sa.Column("cost", sa.Float),
        sa.Column("tokens", sa.Float),
        sa.Column("execution_date", TIME),
        sa.Column("created_at", TIME),
        sa.Column("started_at", TIME),
        sa.Column("completed_at", TIME),
        sa.Column("duration_seconds", sa.Integer),
        sa.Column("archived_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_runs"),
    )
    for columns in (
        ("started_at", "uid"),
        ("completed_at", "uid"),
        ("duration_seconds", "uid"),
        ("items_processed", "uid"),
        ("cost", "uid"),
        ("phase", "uid"),
        ("namespace", "started_at", "uid"),
        ("namespace", "pipeline", "started_at", "uid"),
        ("namespace", "trigger", "started_at", "uid"),
        ("phase", "started_at", "uid"),
        ("phase", "completed_at", "uid"),
        ("namespace", "phase"),
    ):
        op.create_index(f"ix_runs_{'_'.join(columns)}", "runs", list(columns))
    op.create_table(
        "attempts",
        _run_fk("attempts"),
        sa.Column("block", sa.String(63), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("job", NAME),
        sa.Column("started_at", TIME),
        sa.Column("completed_at", TIME),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_uid", "block", "attempt", name="pk_attempts"),
    )
    op.create_table(
        "events",
        _run_fk("events"),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("time", TIME),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_uid", "key", name="pk_events"),
    )
    op.create_index("ix_events_run_uid_time", "events", ["run_uid", "time"])
    op.create_table(
        "logs",
        _run_fk("logs"),
        sa.Column("block", sa.String(63), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uid", "block", "attempt", name="pk_logs"),
    )


def downgrade() -> None:
    for table in ("logs", "events", "attempts", "runs"):
        op.drop_table(table)  # their indexes go with them
