"""Every item of a fan-out: its attempts and their log tails, in two new tables.

`item_attempts` and `item_logs` are keyed (run uid, block, item, attempt) and
cascade with their run like `attempts` and `logs`. New tables rather than an item
column in the old ones: a primary key cannot change in place on SQLite (the
tables would be copied, which takes long on a big archive), and plain blocks'
rows and their readers stay exactly as they were. Nothing existing is touched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NAME = sa.String(253)


def _keys(table: str) -> list[sa.Column[Any]]:
    return [
        sa.Column(
            "run_uid",
            sa.String(64),
            sa.ForeignKey("runs.uid", ondelete="CASCADE", name=f"fk_{table}_run_uid_runs"),
            primary_key=True,
        ),
        sa.Column("block", sa.String(63), primary_key=True),
        sa.Column("item", sa.Integer, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "item_attempts",
        *_keys("item_attempts"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("job", NAME),
        sa.Column("started_at", TIME),
        sa.Column("completed_at", TIME),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_uid", "block", "item", "attempt", name="pk_item_attempts"),
    )
    op.create_table(
        "item_logs",
        *_keys("item_logs"),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uid", "block", "item", "attempt", name="pk_item_logs"),
    )


def downgrade() -> None:
    for table in ("item_logs", "item_attempts"):
        op.drop_table(table)
