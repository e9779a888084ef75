"""Archive URLs and the async engine made from them: one code path, two backends.

`sqlite:///PATH` (the operator's default) and `postgresql://...` are accepted as
users write them and mapped to their async drivers (aiosqlite, asyncpg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE, POSTGRESQL = "sqlite+aiosqlite", "postgresql+asyncpg"
_DRIVERS = {
    "sqlite": SQLITE,
    "sqlite+pysqlite": SQLITE,
    SQLITE: SQLITE,
    "postgres": POSTGRESQL,
    "postgresql": POSTGRESQL,
    "postgresql+psycopg2": POSTGRESQL,
    "postgresql+psycopg": POSTGRESQL,
    POSTGRESQL: POSTGRESQL,
}
#: How long an SQLite writer waits for another writer before giving up (seconds).
SQLITE_BUSY_TIMEOUT = 30


def archive_url(url: str | URL) -> URL:
    """The URL with its async driver: `sqlite:///PATH` or `postgresql://USER@HOST/DB`."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"archive URL {parsed.render_as_string(hide_password=True)!r}: unsupported database "
            f"{parsed.drivername!r}; use sqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
        )
    return parsed.set(drivername=driver)


def sqlite_path(url: URL) -> Path | None:
    """The database file of an SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if url.drivername != SQLITE or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for the archive URL, with the SQLite settings the archive needs.

    SQLite gets WAL (readers never wait for the writer), a busy timeout (two
    writers queue instead of failing), foreign keys, and real transactions: the
    sqlite3 module's own transaction handling never wraps DDL, so migrations
    would not be atomic without the explicit BEGIN below.
    """
    target = archive_url(url)
    if target.drivername != SQLITE:
        return create_async_engine(target, pool_pre_ping=True, **kwargs)
    path = sqlite_path(target)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
