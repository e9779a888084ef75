"""Text search over the archived runs: what it matches and which index answers it.

`RunFilter.text` matches a case-insensitive substring of the run's name, its
message or one of its block names (see docs/archive.md, "Text search"). On
SQLite the FTS5 trigram table `runs_fts` (revision 0002) answers it when the
text is rare, LIKE along the sort index when it is common; on PostgreSQL it is
ILIKE, answered from the pg_trgm GIN indexes when the planner finds them useful.
"""

from __future__ import annotations

import weakref

from sqlalchemy import ColumnElement, Engine, Integer, literal_column, select, table
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncConnection

from runwright.archive.schema import SEARCH_TABLE, Run

#: Text shorter than a trigram cannot use the search index: LIKE scans instead.
MIN_INDEXED_TEXT = 3
#: On SQLite a page's text filter uses FTS when fewer runs than this match (see
#: `fts_for_page`); about sqrt(50 x 1,000,000) / 3: both paths then read ~2,000 rows.
FTS_SELECTIVE = 2000
RUNS_ROWID = literal_column("runs.rowid", Integer)
#: Engines whose SQLite archive has the FTS table: one catalog lookup per engine.
_HAS_FTS: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _phrase(text: str) -> str:
    """The FTS5 phrase of `text`: quoted, so its punctuation is not query syntax."""
    return '"' + text.replace('"', '""') + '"'


def text_condition(text: str, fts: bool) -> ColumnElement[bool]:
    """A case-insensitive substring of the run's name, its message or its block names.

    SQLite: a phrase query on the FTS5 trigram table `runs_fts` (a phrase of
    trigrams is exactly a substring, inside one column). PostgreSQL: ILIKE,
    which the planner answers from the pg_trgm GIN indexes when the migration
    could create them. Text under three characters has no trigram: LIKE; so
    does an SQLite archive a newer reader finds not yet migrated (`fts` False).
    """
    if fts and len(text) >= MIN_INDEXED_TEXT:
        matches = (
            select(literal_column("rowid", Integer))
            .select_from(table(SEARCH_TABLE))
            .where(literal_column(SEARCH_TABLE).op("MATCH")(_phrase(text)))
        )
        return RUNS_ROWID.in_(matches)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return (
        Run.name.ilike(pattern, escape="\\")
        | Run.message.ilike(pattern, escape="\\")
        | Run.block_names.ilike(pattern, escape="\\")
    )


async def has_fts(connection: AsyncConnection, text: str | None) -> bool:
    """True when the text filter can use SQLite's FTS table (absent before revision 0002:
    readers never migrate, so a newer CLI may read an archive its operator has not
    upgraded yet)."""
    if not text or connection.dialect.name != "sqlite":
        return False
    if connection.engine.sync_engine in _HAS_FTS:
        return True
    found = await connection.scalar(
        sql_text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": SEARCH_TABLE},
    )
    if found:  # only "yes" is remembered: a migration may add the table, none removes it
        _HAS_FTS[connection.engine.sync_engine] = True
    return bool(found)


async def fts_for_page(connection: AsyncConnection, text: str | None) -> bool:
    """Whether a page's text filter should use the FTS table: only when the text is rare.

    A page wants 50 runs in sort order. Rare text (fewer than FTS_SELECTIVE matching
    runs) is fastest from the FTS index: its few rows are read and sorted. Common text
    is fastest read along the sort index with LIKE, stopping at the page's end after
    about 50 / (share of matching runs) rows, while the FTS path would read and sort
    every match (34,000 for "OOMKilled" in the benchmark: seconds). One bounded FTS
    probe tells the two apart.
    """
    if text is None or len(text) < MIN_INDEXED_TEXT or not await has_fts(connection, text):
        return False
    found = await connection.scalar(
        sql_text(
            "SELECT count(*) FROM (SELECT rowid FROM runs_fts WHERE runs_fts MATCH :phrase "
            "LIMIT :cap)"
        ),
        {"phrase": _phrase(text), "cap": FTS_SELECTIVE},
    )
    return bool(found is not None and found < FTS_SELECTIVE)
