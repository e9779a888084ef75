"""Indexes for first pages at 1,000,000 runs, and text search that does not scan.

- Sort indexes per namespace, so a list over the caller's allowed namespaces
  is one short index range per namespace merged by the query layer (the
  per-namespace merge), for every sort; (namespace, phase) becomes
  (namespace, phase, uid), which serves counts by phase as before.
- A covering index for "these namespaces, started in a time range, longest
  first": (namespace, duration_seconds, uid, started_at) is read in duration
  order and the time range is checked on its entries, never on table rows
  (SQLite's planner prefers an ordered index; without started_at in it each
  candidate cost a table read: 271 ms at 1,000,000 runs).
- Text search: SQLite gets an FTS5 trigram table over name, message and
  block_names (external content: the `runs` rows themselves), kept in sync by
  triggers; PostgreSQL gets pg_trgm GIN indexes on the same three columns. When
  pg_trgm cannot be created (not installed, not allowed) the migration goes on
  without them and says so in a warning: text search still works, by scanning.
- ANALYZE at the end, so both planners see the table's real statistics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import Connection, exc, text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("runwright.archive.migrations")

SORT_INDEXES = (
    ("namespace", "completed_at", "uid"),
    # Covering: the duration sort carries started_at, so "started since T, longest first"
    # is read in duration order from index entries alone.
    ("namespace", "duration_seconds", "uid", "started_at"),
    ("namespace", "items_processed", "uid"),
    ("namespace", "cost", "uid"),
    ("namespace", "phase", "uid"),
)
#: The columns text search reads (the query layer's definition of "text").
TEXT_COLUMNS = ("name", "message", "block_names")

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE runs_fts USING fts5("
    "name, message, block_names, content='runs', tokenize='trigram')",
    """CREATE TRIGGER runs_fts_insert AFTER INSERT ON runs BEGIN
  INSERT INTO runs_fts(rowid, name, message, block_names)
  VALUES (new.rowid, new.name, new.message, new.block_names);
END""",
    """CREATE TRIGGER runs_fts_delete AFTER DELETE ON runs BEGIN
  INSERT INTO runs_fts(runs_fts, rowid, name, message, block_names)
  VALUES ('delete', old.rowid, old.name, old.message, old.block_names);
END""",
    """CREATE TRIGGER runs_fts_update AFTER UPDATE OF name, message, block_names ON runs
WHEN old.name IS NOT new.name OR old.message IS NOT new.message
  OR old.block_names IS NOT new.block_names
BEGIN
  INSERT INTO runs_fts(runs_fts, rowid, name, message, block_names)
  VALUES ('delete', old.rowid, old.name, old.message, old.block_names);
  INSERT INTO runs_fts(rowid, name, message, block_names)
  VALUES (new.rowid, new.name, new.message, new.block_names);
END""",
    # Index the rows an existing archive already holds.
    "INSERT INTO runs_fts(runs_fts) VALUES ('rebuild')",
)


def _name(columns: tuple[str, ...]) -> str:
    return f"ix_runs_{'_'.join(columns)}"


def _trigram_indexes(bind: Connection) -> None:
    """pg_trgm GIN indexes for ILIKE '%text%', or a warning and none when pg_trgm is missing."""
    try:
        with bind.begin_nested():  # a failed CREATE EXTENSION must not abort the migration
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        log.warning(
            "archive: extension pg_trgm could not be created (%s); text search will scan the "
            "runs table. Fix: install PostgreSQL's contrib extensions and run, as a role "
            "allowed to, CREATE EXTENSION pg_trgm; then %s",
            reason,
            "; ".join(_trigram_statement(c) for c in TEXT_COLUMNS),
        )
        return
    for column in TEXT_COLUMNS:
        op.execute(_trigram_statement(column))


def _trigram_statement(column: str) -> str:
    return f"CREATE INDEX ix_runs_{column}_trgm ON runs USING gin ({column} gin_trgm_ops)"


def upgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_runs_namespace_phase", "runs")
    for columns in SORT_INDEXES:
        op.create_index(_name(columns), "runs", list(columns))
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
        op.execute("PRAGMA analysis_limit = 1000")  # sampled: seconds, not minutes, at 1M runs
    else:
        _trigram_indexes(bind)
    op.execute("ANALYZE")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("runs_fts_insert", "runs_fts_delete", "runs_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS runs_fts")
    else:
        for column in TEXT_COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_runs_{column}_trgm")
    for columns in SORT_INDEXES:
        op.drop_index(_name(columns), "runs")
    op.create_index("ix_runs_namespace_phase", "runs", ["namespace", "phase"])
