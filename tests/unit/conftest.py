"""Fixtures shared by unit-test modules: a private cache for `runwright run`'s logs, and
the archive on both backends (SQLite, real PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from runwright.archive import Archive
from tests.postgres import INSTALL_HINT, PostgresServer, binaries, postgres_server


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit tests never write to the user's cache: `runwright run` keeps its logs under
    $RUNWRIGHT_CACHE/runs, so every test gets its own."""
    monkeypatch.setenv("RUNWRIGHT_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (each test makes its own database in it).

    Missing PostgreSQL is a failure under CI (it is a declared test dependency)
    and a skip elsewhere, naming the package to install.
    """
    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty archive database on each backend: an SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"archive_{uuid.uuid4().hex[:12]}")


@pytest_asyncio.fixture(loop_scope="function")
async def archive(archive_url: str) -> AsyncIterator[Archive]:
    """The archive at `archive_url`, migrated, closed after the test."""
    opened = await Archive.open(archive_url)
    try:
        yield opened
    finally:
        await opened.close()
