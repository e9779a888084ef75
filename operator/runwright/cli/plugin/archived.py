"""The run archive as the plugin reads it: `--archive URL` or `$RUNWRIGHT_ARCHIVE`.

Only reads, through `runwright.archive`'s query layer; the schema is never
migrated from here (a reader must not change the operator's database).
"""

from __future__ import annotations

import os

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.archive import (
    ArchivedRun,
    RunDetail,
    RunFilter,
    Sort,
    count_by_phase,
    create_engine,
    get_run,
    list_runs,
)
from runwright.cli.plugin import errors
from runwright.cli.plugin.errors import PluginError

ENV = "RUNWRIGHT_ARCHIVE"


def archive_location(flag: str | None) -> str | None:
    """The archive URL from the flag, else the environment; None when neither says."""
    return flag or os.environ.get(ENV) or None


def open_engine(flag: str | None, *, required: bool) -> AsyncEngine | None:
    """An engine on the archive; when `required` and none is configured, say how to give one."""
    url = archive_location(flag)
    if url is None:
        if required:
            raise PluginError(
                f"no archive configured: pass --archive URL (e.g. sqlite:///archive.db) or set {ENV}",
                errors.INVALID_INPUT,
            )
        return None
    try:
        return create_engine(url)
    except ValueError as exc:
        raise PluginError(f"--archive: {exc}", errors.INVALID_INPUT) from None


def unreachable(exc: SQLAlchemyError) -> PluginError:
    """A database error as one line."""
    return PluginError(
        f"archive: {type(exc).__name__}: {exc.args[0] if exc.args else exc}", errors.UNREACHABLE
    )


async def find_run(engine: AsyncEngine, namespace: str, name: str) -> RunDetail | None:
    """The newest archived run of that name in that namespace, in full (attempts, Events,
    logs); None when the archive has none. Names are reused after a delete: newest wins."""
    try:
        cursor: str | None = None
        while True:
            page = await list_runs(
                engine, RunFilter(namespaces=[namespace], text=name), limit=500, cursor=cursor
            )
            match = next((r for r in page.runs if r.name == name), None)
            if match is not None:
                return await get_run(engine, match.uid)
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor
    except SQLAlchemyError as exc:
        raise unreachable(exc) from None


async def first_page(
    engine: AsyncEngine, where: RunFilter, sort: Sort, limit: int, *, count_cap: int | None = None
) -> tuple[list[ArchivedRun], dict[str, int]]:
    """The first `limit` archived runs matching `where` in `sort` order (one keyset page),
    and how many runs of each phase match (each up to `count_cap`, when given)."""
    try:
        page = await list_runs(engine, where, sort, limit=limit)
        return page.runs, await count_by_phase(engine, where, cap=count_cap)
    except SQLAlchemyError as exc:
        raise unreachable(exc) from None
