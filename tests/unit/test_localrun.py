"""Running a whole PipelineRun locally: the examples, cancel, timeouts, failures."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from runwright.api.pipeline import Pipeline
from runwright.api.run import BlockPhase, PipelineRun
from runwright.api.trigger import RunPhase
from runwright.engine.plan import Event
from runwright.executors.localrun import local_run_name, run_pipeline
from runwright.manifests import load_files, load_text
from tests.unit.processes import eventually_gone

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> Pipeline:
    loaded = load_files([EXAMPLES / name])
    assert loaded.ok, [str(p) for p in loaded.problems]
    resource = loaded.manifests[0].resource
    assert isinstance(resource, Pipeline)
    return resource


def pipeline(text: str) -> Pipeline:
    loaded = load_text(text, "test.yaml")
    assert loaded.ok, [str(p) for p in loaded.problems]
    resource = loaded.manifests[0].resource
    assert isinstance(resource, Pipeline)
    return resource


async def run(p: Pipeline, tmp_path: Path, **kwargs: object) -> PipelineRun:
    result = await asyncio.wait_for(
        run_pipeline(p, workdir=tmp_path, handle_signals=False, **kwargs),  # type: ignore[arg-type]
        timeout=60,
    )
    assert result.status is not None
    return result


def phases(result: PipelineRun) -> dict[str, BlockPhase]:
    assert result.status is not None
    return {name: st.phase for name, st in result.status.blocks.items()}


async def test_diamond_etl_passes_outputs_downstream_and_sums_metrics(tmp_path: Path) -> None:
    result = await run(example("diamond-etl.yaml"), tmp_path)
    assert result.status is not None
    assert result.status.phase == RunPhase.SUCCEEDED
    assert set(phases(result).values()) == {BlockPhase.SUCCEEDED}
    blocks = result.status.blocks
    assert blocks["extract"].outputs == {"rows": "1200"}
    assert blocks["clean"].outputs == {"rows": "1150"}  # read {{ blocks.extract.outputs.rows }}
    assert blocks["enrich"].outputs == {"columns": "region"}  # read RUNWRIGHT_UPSTREAM_OUTPUTS
    assert blocks["export"].outputs == {"exported": "1150"}
    assert result.status.metrics == {"itemsProcessed": 1200 + 1200 + 1200 + 1150}
    assert result.status.progress == "4/4"


async def test_conditional_skips_the_sandbox_branch_by_default(tmp_path: Path) -> None:
    result = await run(example("conditional.yaml"), tmp_path)
    assert result.status is not None
    assert result.status.phase == RunPhase.SUCCEEDED
    assert phases(result) == {
        "build": BlockPhase.SUCCEEDED,
        "deploy-prod": BlockPhase.SUCCEEDED,
        "announce": BlockPhase.SUCCEEDED,
        "deploy-sandbox": BlockPhase.CONDITION_FAILED,
        "smoke-test": BlockPhase.CONDITION_FAILED,
    }


async def test_conditional_with_env_dev_runs_the_sandbox_branch_instead(tmp_path: Path) -> None:
    result = await run(example("conditional.yaml"), tmp_path, variables={"env": "dev"})
    assert result.status is not None
    assert result.status.phase == RunPhase.SUCCEEDED
    assert result.status.variables["env"] == "dev"
    assert phases(result) == {
        "build": BlockPhase.SUCCEEDED,
        "deploy-prod": BlockPhase.CONDITION_FAILED,
        "announce": BlockPhase.CONDITION_FAILED,
        "deploy-sandbox": BlockPhase.SUCCEEDED,
        "smoke-test": BlockPhase.SUCCEEDED,
    }


async def test_flaky_retries_succeeds_on_the_second_attempt_and_tolerates_lint(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    result = await run(
        example("flaky-retries.yaml"), tmp_path, on_update=lambda _r, e: events.extend(e)
    )
    assert result.status is not None
    assert result.status.phase == RunPhase.SUCCEEDED
    blocks = result.status.blocks
    assert (blocks["fetch"].phase, blocks["fetch"].attempt) == (BlockPhase.SUCCEEDED, 2)
    assert blocks["fetch"].outputs["attempt"] == "2"
    assert blocks["lint"].phase == BlockPhase.FAILED
    assert "style check" in blocks["lint"].message
    assert blocks["load"].phase == BlockPhase.SUCCEEDED
    assert [e.reason for e in events].count("BlockRetrying") == 1


async def test_a_failing_block_fails_the_run_and_its_downstream(tmp_path: Path) -> None:
    p = pipeline(
        """
apiVersion: runwright.dev/v1alpha1
kind: Pipeline
metadata: {name: broken}
spec:
  blocks:
  - name: extract
    command: [python3, -c, "import sys; print('disk full', file=sys.stderr); sys.exit(4)"]
  - name: load
    upstream: [extract]
    command: [python3, -c, "pass"]
"""
    )
    result = await run(p, tmp_path)
    assert result.status is not None
    assert result.status.phase == RunPhase.FAILED
    extract = result.status.blocks["extract"]
    assert (extract.phase, extract.exit_code, extract.message) == (
        BlockPhase.FAILED,
        4,
        "disk full",
    )
    assert result.status.blocks["load"].phase == BlockPhase.UPSTREAM_FAILED
    assert "disk full" in result.status.message


SLEEPER = """
apiVersion: runwright.dev/v1alpha1
kind: Pipeline
metadata: {name: sleeper}
spec:
  blocks:
  - name: wait
    TIMEOUT
    command:
    - python3
    - -c
    - |
      import os, subprocess, sys, time
      child = subprocess.Popen(["sleep", "30"])
      open(sys.argv[1], "w").write(str(child.pid))
      time.sleep(30)
    args: ["PIDFILE"]
  - name: after
    upstream: [wait]
    command: [python3, -c, "pass"]
"""


async def test_cancel_stops_every_process_and_ends_cancelled(tmp_path: Path) -> None:
    cancel = asyncio.Event()

    def on_update(r: PipelineRun, _events: list[Event]) -> None:
        if r.status is not None and r.status.blocks["wait"].phase == BlockPhase.RUNNING:
            cancel.set()

    pidfile = tmp_path / "child.pid"
    p = pipeline(SLEEPER.replace("TIMEOUT", "").replace("PIDFILE", str(pidfile)))
    result = await run(p, tmp_path / "work", cancel=cancel, on_update=on_update)
    assert result.status is not None
    assert result.status.phase == RunPhase.CANCELLED
    assert result.spec.cancel is True
    assert phases(result) == {"wait": BlockPhase.CANCELLED, "after": BlockPhase.CANCELLED}


async def test_a_block_timeout_kills_its_process_group_and_fails_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    p = pipeline(SLEEPER.replace("TIMEOUT", "timeoutSeconds: 1").replace("PIDFILE", str(pidfile)))
    result = await run(p, tmp_path / "work")
    assert result.status is not None
    wait = result.status.blocks["wait"]
    assert (wait.phase, wait.reason) == (BlockPhase.FAILED, "Timeout")
    assert "exceeded 1s" in wait.message
    assert result.status.blocks["after"].phase == BlockPhase.UPSTREAM_FAILED
    assert result.status.phase == RunPhase.FAILED
    assert await eventually_gone(int(pidfile.read_text()))


async def test_a_missing_command_fails_the_block_with_a_clear_message(tmp_path: Path) -> None:
    p = pipeline(
        """
apiVersion: runwright.dev/v1alpha1
kind: Pipeline
metadata: {name: typo}
spec:
  blocks:
  - name: extract
    command: [pyhton3, -c, "pass"]
"""
    )
    result = await run(p, tmp_path)
    assert result.status is not None
    extract = result.status.blocks["extract"]
    assert (extract.phase, extract.exit_code) == (BlockPhase.FAILED, 127)
    assert extract.message == "command not found: pyhton3"
    assert result.status.phase == RunPhase.FAILED


async def test_the_run_object_names_the_pipeline_and_is_manual(tmp_path: Path) -> None:
    result = await run(example("conditional.yaml"), tmp_path, run_name="conditional-local-abcde")
    assert result.metadata.name == "conditional-local-abcde"
    assert result.spec.pipeline_ref.name == "conditional"
    assert result.spec.triggered_by == "Manual"
    assert result.spec.execution_date is not None
    assert result.metadata.labels["runwright.dev/phase"] == "Succeeded"


@pytest.mark.parametrize("pipeline_name", ["etl", "daily-etl"])
def test_local_run_names_are_the_pipeline_dash_local_and_five_chars(pipeline_name: str) -> None:
    assert re.fullmatch(rf"{pipeline_name}-local-[a-z0-9]{{5}}", local_run_name(pipeline_name))
