"""The run archive: every run, attempt, Event and log, kept in SQLite or PostgreSQL.

Runs outlive etcd here. `Archive` writes (idempotent upserts from PipelineRun
bodies), `migrate` brings the schema up to date at start, `query` reads, and
`retention` prunes. Only this package speaks SQL; see docs/archive.md.
"""

from runwright.archive.engine import archive_url, create_engine
from runwright.archive.items import (
    ItemAttemptRecord,
    ItemLogRecord,
    item_log_record,
    status_item_attempts,
)
from runwright.archive.migrate import head_revision, migrate
from runwright.archive.query import (
    ArchivedRun,
    InvalidCursor,
    Page,
    RunDetail,
    RunFilter,
    Sort,
    SortKey,
    count_by_phase,
    explain_runs,
    get_run,
    item_attempts,
    item_logs,
    list_runs,
)
from runwright.archive.records import (
    DEFAULT_LOG_CAP,
    AttemptRecord,
    EventRecord,
    LogRecord,
    RunRecord,
    RunRecords,
    event_records,
    log_record,
    run_records,
)
from runwright.archive.retention import RetentionPolicy, prune
from runwright.archive.store import Archive

__all__ = [
    "DEFAULT_LOG_CAP",
    "Archive",
    "ArchivedRun",
    "AttemptRecord",
    "EventRecord",
    "InvalidCursor",
    "ItemAttemptRecord",
    "ItemLogRecord",
    "LogRecord",
    "Page",
    "RetentionPolicy",
    "RunDetail",
    "RunFilter",
    "RunRecord",
    "RunRecords",
    "Sort",
    "SortKey",
    "archive_url",
    "count_by_phase",
    "create_engine",
    "event_records",
    "explain_runs",
    "get_run",
    "head_revision",
    "item_attempts",
    "item_log_record",
    "item_logs",
    "list_runs",
    "log_record",
    "migrate",
    "prune",
    "run_records",
    "status_item_attempts",
]
