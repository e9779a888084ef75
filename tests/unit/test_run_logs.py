"""Issue 10 item 12: `runwright run` keeps block logs where the user finds them (one
directory per run, its path printed), prunes old runs, and leaves no temp dir behind."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from runwright.cli import runlogs
from runwright.cli.main import main
from runwright.engine.plan import StartBlock
from runwright.executors.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[2]
DIAMOND = str(ROOT / "examples" / "diamond-etl.yaml")


def _logs_line(err: str) -> Path:
    (line,) = [line for line in err.splitlines() if line.startswith("logs: ")]
    return Path(line.removeprefix("logs: "))


def test_logs_go_to_the_cache_under_the_run_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", DIAMOND, "-o", "json"]) == 0
    out, err = capsys.readouterr()
    run_dir = _logs_line(err)
    assert run_dir.parent == Path(os.environ["RUNWRIGHT_CACHE"]) / "runs"
    assert run_dir.name.startswith("diamond-etl-local-")
    assert f'"name": "{run_dir.name}"' in out  # the directory is named after the run
    logs = sorted(p.name for p in run_dir.glob("*.log"))
    assert logs == [f"{run_dir.name}-{b}-1.log" for b in ("clean", "enrich", "export", "extract")]
    assert "extracted 1200 rows" in (run_dir / f"{run_dir.name}-extract-1.log").read_text()


def test_log_dir_flag_and_only_the_newest_runs_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()  # not a run directory: never pruned
    kept: list[Path] = []
    for _ in range(3):
        assert main(["run", DIAMOND, "--log-dir", str(tmp_path), "--keep-logs", "2"]) == 0
        kept.append(_logs_line(capsys.readouterr().err))
        # Runs in one second share an mtime granularity on some filesystems: order them.
        stamp = 1_000_000 + len(kept)
        os.utime(kept[-1] / runlogs.MARKER, (stamp, stamp))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes", kept[1].name, kept[2].name]
    )


def test_prune_keeps_the_newest_and_only_touches_marked_directories(tmp_path: Path) -> None:
    for i, name in enumerate(["a", "b", "c", "d"]):
        runlogs.new_run_dir(tmp_path, name)
        os.utime(tmp_path / name / runlogs.MARKER, (100 + i, 100 + i))
    (tmp_path / "unmarked").mkdir()
    (tmp_path / "file.txt").write_text("x")
    deleted = runlogs.prune(tmp_path, keep=2)
    assert sorted(p.name for p in deleted) == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d", "file.txt", "unmarked"]
    assert runlogs.prune(tmp_path / "missing") == []


def test_keep_logs_refuses_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", DIAMOND, "--keep-logs", "0"]) == 2
    assert "must be 1 or more" in capsys.readouterr().err


def test_the_default_keep_is_documented() -> None:
    readme = (ROOT / "docs" / "cli.md").read_text()
    assert f"--keep-logs N` (default {runlogs.KEEP_RUNS})" in readme


def test_an_executor_that_made_its_temp_dir_removes_it_on_close() -> None:
    async def scenario() -> Path:
        executor = LocalExecutor()
        action = StartBlock(
            block="b",
            attempt=1,
            name="r-b-1",
            image=None,
            command=[sys.executable, "-c", "print('hi')"],
            args=[],
            env=[],
            contract={},
            timeout_seconds=None,
            ready_at=None,
        )
        await executor.start(action)
        await executor.wait()
        assert (executor.workdir / "r-b-1.log").exists()
        await executor.close()
        return executor.workdir

    assert not asyncio.run(scenario()).exists()


def test_a_given_workdir_is_kept_on_close(tmp_path: Path) -> None:
    async def scenario() -> None:
        executor = LocalExecutor(tmp_path / "w")
        await executor.close()

    asyncio.run(scenario())
    assert (tmp_path / "w").is_dir()
