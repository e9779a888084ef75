"""Text search and the 0002 indexes, on SQLite and a real PostgreSQL.

Text search matches a case-insensitive substring of the run's name, its message
or one of its block names; SQLite answers it from the FTS5 trigram table,
PostgreSQL from pg_trgm GIN indexes (or, without pg_trgm, by scanning).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, delete, text

from runwright.archive import Archive, RunFilter, Sort, SortKey, create_engine, migrate, search
from runwright.archive.migrate import alembic_config, current_revision, head_revision
from runwright.archive.query import explain_runs
from runwright.archive.schema import TRIGRAM_INDEXES, Run
from tests.postgres import PostgresServer
from tests.unit.archive_bodies import T0, run_body

RUNS = [
    run_body("s1", name="nightly-load-7", message="block load failed: Connection refused"),
    run_body("s2", name="Embed-Docs", blocks={"embed_chunks": {"phase": "Failed", "attempt": 2}}),
    run_body("s3", name="report-weekly", message='quoted "OOMKilled" in embed', namespace="ml"),
    run_body("s4", name="backup_100%", namespace="ops", started=T0 + timedelta(hours=1)),
    run_body("s5", name="plain", message="timeout after 3600s", namespace="ops"),
]


async def matching(archive: Archive, text: str, **where: object) -> list[str]:
    page = await archive.list_runs(RunFilter(text=text, **where), Sort(SortKey.STARTED), limit=50)  # type: ignore[arg-type]
    return sorted(run.uid for run in page.runs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connection REFUSED", ["s1"]),  # message, case-insensitive
        ("load", ["s1"]),  # name and message of one run: once
        ("embed", ["s2", "s3"]),  # a name (Embed-Docs) and a message (in embed)
        ("d_chu", ["s2"]),  # a block name; "_" is a character, not a wildcard
        ("mbed_ch", ["s2"]),
        ("_100%", ["s4"]),  # LIKE wildcards are matched literally
        ('"OOMKilled"', ["s3"]),  # a double quote is a character, not FTS syntax
        ("oomkilled", ["s3"]),
        ("3600", ["s5"]),
        ("nothing-matches", []),
        ("ai", ["s1", "s5"]),  # under 3 characters: no trigram, found by LIKE
        ("extract", ["s1", "s3", "s4", "s5"]),  # the default block of every run but s2
    ],
)
async def test_text_search_matches_exactly_these_runs(
    archive: Archive, text: str, expected: list[str]
) -> None:
    for body in RUNS:
        await archive.record_run(body)
    assert await matching(archive, text) == expected


async def test_text_search_combines_with_the_other_filters(archive: Archive) -> None:
    for body in RUNS:
        await archive.record_run(body)
    assert await matching(archive, "e", namespaces=["ops"]) == ["s4", "s5"]  # both contain "e"
    assert await matching(archive, "embed", namespaces=["data", "ops"]) == ["s2"]
    assert await matching(archive, "extract", namespaces=["ops", "nope"]) == ["s4", "s5"]
    assert await archive.count_by_phase(RunFilter(text="embed")) == {"Succeeded": 2}


async def test_text_search_follows_rewrites_and_deletes(archive: Archive) -> None:
    """The search index is kept in sync with the rows (SQLite: by triggers)."""
    for body in RUNS:
        await archive.record_run(body)
    await archive.record_run(run_body("s1", name="nightly-load-7", message="retried: all good"))
    assert await matching(archive, "refused") == []
    assert await matching(archive, "all good") == ["s1"]
    await archive.record_run(RUNS[4])  # the same status again: nothing changes
    assert await matching(archive, "3600") == ["s5"]
    async with archive.engine.begin() as connection:
        await connection.execute(delete(Run).where(Run.uid == "s5"))
    assert await matching(archive, "3600") == []
    assert await matching(archive, "extract") == ["s1", "s3", "s4"]


def _upgrade_to(revision: str) -> object:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return upgrade


async def test_0002_upgrades_an_archive_that_holds_runs(archive_url: str) -> None:
    engine = create_engine(archive_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to("0001"))  # type: ignore[arg-type]
        old = Archive(engine)
        for body in RUNS:
            await old.record_run(body)
        assert await current_revision(engine) == "0001"
        # A reader newer than the archive (readers never migrate): search works, unindexed.
        assert await matching(old, "oomkilled") == ["s3"]
        await migrate(archive_url)
        assert await current_revision(engine) == head_revision()
        archive = Archive(engine)
        assert await matching(archive, "oomkilled") == ["s3"]  # rows from before are indexed
        assert await matching(archive, "embed") == ["s2", "s3"]
        await archive.record_run(run_body("s6", message="new OOMKilled"))
        assert await matching(archive, "oomkilled") == ["s3", "s6"]
        page = await archive.list_runs(RunFilter(namespaces=["ops", "ml"]), Sort(SortKey.STARTED))
        assert [run.uid for run in page.runs] == ["s4", "s5", "s3"]
    finally:
        await engine.dispose()


async def test_sqlite_plans_use_the_indexes(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN names the index each query shape is meant to use."""
    url = f"sqlite:///{tmp_path}/archive.db"
    archive = await Archive.open(url)
    try:
        for body in RUNS:
            await archive.record_run(body)
        cases = [
            (RunFilter(namespaces=["data", "ml"]), Sort(), "ix_runs_namespace_started_at_uid"),
            (
                RunFilter(namespaces=["data", "ml"], started_since=T0),
                Sort(SortKey.DURATION),
                "ix_runs_namespace_duration_seconds_uid_started_at",
            ),
            (RunFilter(namespaces=["ml"]), Sort(SortKey.COST), "ix_runs_namespace_cost_uid"),
            (RunFilter(), Sort(SortKey.COMPLETED), "ix_runs_completed_at_uid"),
            (RunFilter(text="oomkilled"), Sort(), "VIRTUAL TABLE INDEX"),
        ]
        for where, sort, index in cases:
            plan = await explain_runs(archive.engine, where, sort)
            assert index in plan, (where, sort, plan)
    finally:
        await archive.close()


async def test_postgresql_text_search_can_use_the_trigram_indexes(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(f"archive_{uuid.uuid4().hex[:12]}")
    await migrate(url)
    indexes = set(postgres.psql("SELECT indexname FROM pg_indexes", url.rsplit("/", 1)[1]).split())
    assert indexes >= TRIGRAM_INDEXES
    # Seq scans priced out: on 0 rows the planner would scan; this asserts it CAN use them.
    engine = create_engine(url, connect_args={"server_settings": {"enable_seqscan": "off"}})
    try:
        plan = await explain_runs(engine, RunFilter(text="oomkilled"), Sort(SortKey.STARTED))
        async with engine.connect() as connection:
            direct = "\n".join(
                str(row[0])
                for row in await connection.execute(
                    text("EXPLAIN SELECT uid FROM runs WHERE message ILIKE '%oomkilled%'")
                )
            )
    finally:
        await engine.dispose()
    assert "ix_runs_message_trgm" in direct, direct
    assert "ILIKE" in plan or "~~*" in plan, plan


async def test_without_pg_trgm_the_migration_warns_and_search_still_works(
    postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may not create extensions: no trigram indexes, a warning, same results."""
    name = f"archive_{uuid.uuid4().hex[:12]}"
    role = f"limited_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    postgres.psql(f'CREATE ROLE "{role}" LOGIN')
    postgres.psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    postgres.psql(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"', name)
    url = f"postgresql+asyncpg://{role}@127.0.0.1:{postgres.port}/{name}"
    with caplog.at_level(logging.WARNING, logger="runwright.archive.migrations"):
        await migrate(url)
    assert "pg_trgm could not be created" in caplog.text
    assert "CREATE EXTENSION pg_trgm" in caplog.text  # the fix is in the line
    indexes = set(postgres.psql("SELECT indexname FROM pg_indexes", name).split())
    assert not indexes & TRIGRAM_INDEXES and "ix_runs_namespace_phase_uid" in indexes
    archive = await Archive.open(url)
    try:
        for body in RUNS:
            await archive.record_run(body)
        assert await matching(archive, "oomkilled") == ["s3"]
        assert await matching(archive, "d_chu") == ["s2"]
    finally:
        await archive.close()


async def test_common_text_reads_along_the_sort_index_with_the_same_results(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite uses FTS only for rare text; common text (here: at least 2 runs) is read
    along the sort index with LIKE. Both paths return the same runs."""
    for body in RUNS:
        await archive.record_run(body)
    texts = ("extract", "embed", "oomkilled", "d_chu", "nothing-matches")
    expected = {text: await matching(archive, text) for text in texts}
    monkeypatch.setattr(search, "FTS_SELECTIVE", 2)
    assert {text: await matching(archive, text) for text in texts} == expected
    if archive.engine.dialect.name == "sqlite":
        common = await explain_runs(archive.engine, RunFilter(text="extract"), Sort())
        assert "runs_fts" not in common and "ix_runs_started_at_uid" in common, common
        rare = await explain_runs(archive.engine, RunFilter(text="oomkilled"), Sort())
        assert "VIRTUAL TABLE INDEX" in rare, rare
