"""The run archive: every run, attempt, Event and log, kept in SQLite or PostgreSQL.

Runs outlive etcd here. `Archive` writes (idempotent upserts from PipelineRun
bodies), `migrate` brings the schema up to date at start, `query` reads, and
`retention` prunes. Only this package speaks SQL; see docs/archive.md.

`migrate`, `head_revision` and `Archive` (whose start migrates) are loaded on first
use: they import Alembic (~0.2 s), which a reader (`kubectl runwright list
--archived`, the web server's read-only archive) never needs.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from runwright.archive.engine import archive_url, create_engine
from runwright.archive.items import (
    ItemAttemptRecord,
    ItemLogRecord,
    item_log_record,
    status_item_attempts,
)
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

if TYPE_CHECKING:
    from runwright.archive.migrate import head_revision, migrate
    from runwright.archive.store import Archive

#: Names loaded on first use, and the module each comes from.
_LAZY = {
    "migrate": "runwright.archive.migrate",
    "head_revision": "runwright.archive.migrate",
    "Archive": "runwright.archive.store",
}

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


def __getattr__(name: str) -> Any:
    """A lazy name's value, imported on first use (then kept: no second call)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """This package, keeping `migrate` the function. Loading the submodule of the same name
    sets the package's attribute to the submodule (the import system does so on first
    load); the eager import used to rebind it to the function right after, the lazy one
    ignores it instead. The submodule stays importable by its full name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "migrate" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
