"""The local executor: block attempts as process groups, observed like Jobs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from runwright import labels
from runwright.api.pipeline import EnvVar
from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.executors.local import LocalExecutor, OutputError, parse_output
from tests.unit.processes import eventually_gone, gone

PY = sys.executable


def action(
    block: str,
    code: str,
    *,
    args: Sequence[str] = (),
    attempt: int = 1,
    env: Sequence[EnvVar] = (),
    command: Sequence[str] | None = None,
) -> StartBlock:
    """A StartBlock as the planner would emit it, running `code` in Python."""
    return StartBlock(
        block=block,
        attempt=attempt,
        name=f"run-x-{block}-{attempt}",
        image=None,
        command=list(command) if command is not None else [PY, "-c", code],
        args=list(args),
        env=list(env),
        contract={
            labels.ENV_RUN: "run-x",
            labels.ENV_PIPELINE: "pipe",
            labels.ENV_BLOCK: block,
            labels.ENV_ATTEMPT: str(attempt),
            labels.ENV_EXECUTION_DATE: "2026-11-21T02:00:00Z",
            labels.ENV_VARIABLES: json.dumps({"env": "dev"}),
            labels.ENV_UPSTREAM_OUTPUTS: json.dumps({"extract": {"rows": "12"}}),
        },
        timeout_seconds=None,
        ready_at=None,
    )


async def finished(executor: LocalExecutor, block: str) -> Observation:
    """Wait (on the executor's change notification, not a timer) until the block is done."""
    async with asyncio.timeout(30):
        while True:
            obs = executor.observe()[block]
            if obs.state != AttemptState.RUNNING:
                return obs
            await executor.wait()


@pytest.fixture
async def executor(tmp_path: Path):  # type: ignore[no-untyped-def]
    ex = LocalExecutor(tmp_path / "work", grace_seconds=2)
    yield ex
    await ex.close()


async def test_block_process_gets_the_contract_environment(executor: LocalExecutor) -> None:
    code = (
        "import json, os\n"
        "names = [n for n in os.environ if n.startswith('RUNWRIGHT_')] + ['TARGET']\n"
        "env = {n: os.environ[n] for n in names}\n"
        "json.dump({'outputs': env}, open(os.environ['RUNWRIGHT_OUTPUT_PATH'], 'w'))\n"
    )
    await executor.start(action("extract", code, env=[EnvVar(name="TARGET", value="prod")]))
    obs = await finished(executor, "extract")
    assert obs.state == AttemptState.SUCCEEDED, obs.message
    env = obs.outputs
    assert env[labels.ENV_RUN] == "run-x"
    assert env[labels.ENV_PIPELINE] == "pipe"
    assert env[labels.ENV_BLOCK] == "extract"
    assert env[labels.ENV_ATTEMPT] == "1"
    assert env[labels.ENV_EXECUTION_DATE] == "2026-11-21T02:00:00Z"
    assert json.loads(env[labels.ENV_VARIABLES]) == {"env": "dev"}
    assert json.loads(env[labels.ENV_UPSTREAM_OUTPUTS]) == {"extract": {"rows": "12"}}
    assert env[labels.ENV_OUTPUT_PATH].endswith("run-x-extract-1.output.json")
    assert env["TARGET"] == "prod"


async def test_value_from_env_is_skipped_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    executor = LocalExecutor(tmp_path, warn=warnings.append)
    secret = EnvVar(name="TOKEN", value_from={"secretKeyRef": {"name": "s", "key": "k"}})
    code = "import os, sys; sys.exit(1 if 'TOKEN' in os.environ else 0)"
    await executor.start(action("load", code, env=[secret]))
    obs = await finished(executor, "load")
    assert obs.state == AttemptState.SUCCEEDED
    assert warnings == [
        "load: env TOKEN uses valueFrom, which needs a cluster; it is not set in local mode"
    ]


async def test_outputs_and_metrics_are_read_back_from_the_output_file(
    executor: LocalExecutor,
) -> None:
    code = (
        "import json, os, sys\n"
        "out = {'outputs': {'rows': sys.argv[1]}, 'metrics': {'itemsProcessed': 12, 'ratio': 0.5}}\n"
        "json.dump(out, open(os.environ['RUNWRIGHT_OUTPUT_PATH'], 'w'))\n"
    )
    await executor.start(action("extract", code, args=["12"]))
    obs = await finished(executor, "extract")
    assert obs.state == AttemptState.SUCCEEDED
    assert obs.exit_code == 0
    assert obs.outputs == {"rows": "12"}
    assert obs.metrics == {"itemsProcessed": 12.0, "ratio": 0.5}
    assert obs.finished_at is not None and obs.started_at is not None


async def test_a_block_that_writes_nothing_succeeds_with_no_outputs(
    executor: LocalExecutor,
) -> None:
    await executor.start(action("noop", "pass"))
    obs = await finished(executor, "noop")
    assert (obs.state, obs.outputs, obs.metrics) == (AttemptState.SUCCEEDED, {}, {})


async def test_nonzero_exit_fails_with_the_last_lines_of_the_log(
    executor: LocalExecutor,
) -> None:
    code = (
        "import sys\n"
        "for i in range(15): print(f'line {i}')\n"
        "print('boom: the database is gone', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    await executor.start(action("load", code))
    obs = await finished(executor, "load")
    assert obs.state == AttemptState.FAILED
    assert obs.exit_code == 3
    assert obs.reason == "Error"
    lines = obs.message.splitlines()
    assert len(lines) == 10
    assert lines[-1] == "boom: the database is gone"
    assert "line 0" not in obs.message


async def test_invalid_output_json_fails_an_attempt_that_exited_zero(
    executor: LocalExecutor,
) -> None:
    code = "import os; open(os.environ['RUNWRIGHT_OUTPUT_PATH'], 'w').write('{not json')"
    await executor.start(action("extract", code))
    obs = await finished(executor, "extract")
    assert obs.state == AttemptState.FAILED
    assert obs.reason == "InvalidOutput"
    assert "RUNWRIGHT_OUTPUT_PATH: not valid JSON" in obs.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"outputs": {"rows": 12}}', '"outputs" must map names to strings'),
        ('{"metrics": {"items": "many"}}', '"metrics" must map names to numbers'),
        ('{"metrics": {"items": true}}', '"metrics" must map names to numbers'),
        ('["rows"]', "must be one JSON object"),
        ('{"output": {}}', 'unknown key "output" (did you mean "outputs"?)'),
        ('{"outputs": {"x": "' + "a" * 5000 + '"}}', "over the 4096-byte limit"),
    ],
    ids=[
        "non-string-output",
        "non-numeric-metric",
        "boolean-metric",
        "not-an-object",
        "typo",
        "too-big",
    ],
)
def test_output_file_contract_violations_are_explained(text: str, words: str) -> None:
    with pytest.raises(OutputError) as info:
        parse_output(text)
    assert words in str(info.value)


async def test_missing_command_is_a_failed_attempt_not_a_crash(executor: LocalExecutor) -> None:
    await executor.start(action("extract", "", command=["no-such-command-rw"]))
    obs = await finished(executor, "extract")
    assert obs.state == AttemptState.FAILED
    assert obs.exit_code == 127
    assert obs.reason == "CommandNotFound"
    assert obs.message == "command not found: no-such-command-rw"


async def test_a_block_without_command_fails_with_the_fix(executor: LocalExecutor) -> None:
    await executor.start(action("extract", "", command=[]))
    obs = await finished(executor, "extract")
    assert obs.state == AttemptState.FAILED
    assert "add one" in obs.message


async def test_starting_the_same_attempt_twice_is_a_no_op(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "starts.txt"
    code = f"open({str(marker)!r}, 'a').write('started\\n')"
    start = action("extract", code)
    await executor.start(start)
    await executor.start(start)
    await finished(executor, "extract")
    await executor.start(start)
    assert marker.read_text() == "started\n"


async def test_observe_reports_the_latest_attempt_of_each_block(executor: LocalExecutor) -> None:
    await executor.start(action("extract", "import sys; sys.exit(1)", attempt=1))
    await finished(executor, "extract")
    await executor.start(action("extract", "pass", attempt=2))
    obs = await finished(executor, "extract")
    assert (obs.attempt, obs.state) == (2, AttemptState.SUCCEEDED)


async def test_stop_kills_the_whole_process_group_including_children(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    fifo = tmp_path / "pids"
    os.mkfifo(fifo)
    # The block starts a child that ignores SIGTERM, reports both pids, then waits.
    code = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"with open({str(fifo)!r}, 'w') as f: f.write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    await executor.start(action("sensor", code))
    pids = await asyncio.wait_for(asyncio.to_thread(fifo.read_text), 30)
    parent, child = (int(p) for p in pids.split())
    assert not gone(parent) and not gone(child)
    await executor.stop("run-x-sensor-1")
    assert await eventually_gone(child)
    assert await eventually_gone(parent)
    obs = executor.observe()["sensor"]
    assert obs.state == AttemptState.FAILED
    assert obs.reason == "Stopped"
    assert obs.exit_code == 128 + 15


async def test_stop_is_idempotent_and_ignores_unknown_attempts(executor: LocalExecutor) -> None:
    await executor.start(action("extract", "import time; time.sleep(60)"))
    await executor.stop("run-x-extract-1")
    await executor.stop("run-x-extract-1")
    await executor.stop("never-started")
    assert executor.observe()["extract"].state == AttemptState.FAILED


async def test_close_kills_every_attempt_left(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path)
    for block in ("a", "b"):
        await executor.start(action(block, "import time; time.sleep(60)"))
    await executor.close()
    states = {b: o.state for b, o in executor.observe().items()}
    assert states == {"a": AttemptState.FAILED, "b": AttemptState.FAILED}


async def test_a_finished_attempt_sets_the_change_notification(executor: LocalExecutor) -> None:
    executor.observe()
    assert not executor.changed.is_set()
    await executor.start(action("extract", "pass"))
    await asyncio.wait_for(executor.wait(), 30)
    assert executor.observe()["extract"].state == AttemptState.SUCCEEDED
    assert not executor.changed.is_set()
