"""Issue 12: `runwright run --archive URL` keeps the run, every attempt and its output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runwright.archive import Archive, RunDetail, RunFilter
from runwright.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FLAKY = ROOT / "examples" / "flaky-retries.yaml"


def archived(url: str) -> RunDetail:
    async def go() -> RunDetail:
        archive = await Archive.open(url, migrate_schema=False)
        try:
            (run,) = (await archive.list_runs(RunFilter(namespaces=["local"]))).runs
            detail = await archive.get_run(run.uid)
            assert detail is not None
            return detail
        finally:
            await archive.close()

    return asyncio.run(go())


def test_a_local_run_is_archived_with_every_attempt_and_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    assert main(["run", str(FLAKY), "--log-dir", str(tmp_path / "logs"), "--archive", url]) == 0
    assert "archived: flaky-retries-" in capsys.readouterr().err
    detail = archived(url)
    assert (detail.run.pipeline, detail.run.phase) == ("flaky-retries", "Succeeded")
    attempts = {(a.block, a.attempt): a.phase for a in detail.attempts}
    assert attempts[("fetch", 1)] == "Failed" and attempts[("fetch", 2)] == "Succeeded"
    logs = {(log.block, log.attempt): log.text for log in detail.logs}
    assert "503 Service Unavailable" in logs[("fetch", 1)]
    assert "fetched 42 records on attempt 2" in logs[("fetch", 2)]


def test_an_unknown_archive_url_is_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(FLAKY), "--archive", "mysql://db/x"]) == 2
    err = capsys.readouterr().err
    assert "--archive" in err and "sqlite:///PATH" in err
