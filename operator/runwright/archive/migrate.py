"""Bring the archive's schema to the latest Alembic revision, safely from two processes.

Two operators starting at once both call `migrate`; exactly one upgrades, the
other waits and then finds nothing to do. PostgreSQL: a transaction-scoped
advisory lock (released at commit, so the waiter sees the finished schema).
SQLite: an exclusive flock on a file beside the database.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.archive.engine import SQLITE, create_engine, sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")
#: pg_advisory_xact_lock key: "rwarchiv" in ASCII, recognisable in pg_locks.
ADVISORY_LOCK_KEY = int.from_bytes(b"rwarchiv", "big")


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code (no alembic.ini at run time)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no archive migrations found"
    return head


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def migrate(url: str | URL) -> str:
    """Upgrade the archive at `url` to the head revision; returns that revision."""
    engine = create_engine(url)
    try:
        if engine.url.drivername == SQLITE:
            path = sqlite_path(engine.url)
            lock = None if path is None else await asyncio.to_thread(_flock, path)
            try:
                async with engine.begin() as connection:
                    await connection.run_sync(_upgrade)
            finally:
                if lock is not None:
                    os.close(lock)  # closing the descriptor releases the flock
        else:
            async with engine.begin() as connection:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await connection.run_sync(_upgrade)
        return head_revision()
    finally:
        await engine.dispose()


def _flock(database: Path) -> int:
    """Block until this process holds the migration lock of the SQLite database."""
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
