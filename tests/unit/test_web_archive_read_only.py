"""The web server opens the SQLite archive read-only: it reads what the operator writes, never writes.

In the chart the server is a second container of the operator's pod on the same
file (the claim is ReadWriteOnce), so a write from the server must be impossible,
not merely absent: SQLite's `mode=ro` refuses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from runwright.archive import Archive
from runwright.web.archived import archived_counts, open_read_only
from runwright.web.runs import RunQuery
from runwright.web.scope import Scope

from .archive_bodies import T0, run_body


async def test_the_server_reads_the_operators_archive_while_it_writes_and_cannot_write(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    writer = await Archive.open(url)
    reader = open_read_only(url)
    try:
        await writer.record_run(run_body("u1", name="one", started=T0, seconds=5))
        assert await archived_counts(reader, RunQuery(), Scope(None, [])) == {"Succeeded": 1}
        await writer.record_run(run_body("u2", name="two", started=T0, seconds=5))
        assert await archived_counts(reader, RunQuery(), Scope(None, [])) == {"Succeeded": 2}
        with pytest.raises(OperationalError, match="readonly database"):
            async with reader.begin() as connection:
                await connection.execute(text("DELETE FROM runs"))
        assert await archived_counts(reader, RunQuery(), Scope(None, [])) == {"Succeeded": 2}
    finally:
        await reader.dispose()
        await writer.close()


async def test_no_archive_file_is_created_by_the_server(tmp_path: Path) -> None:
    reader = open_read_only(f"sqlite:///{tmp_path / 'absent.db'}")
    try:
        with pytest.raises(OperationalError, match="unable to open database file"):
            await archived_counts(reader, RunQuery(), Scope(None, []))
        assert not (tmp_path / "absent.db").exists()
    finally:
        await reader.dispose()
