"""Finally blocks in local mode: examples/finally-cleanup.yaml, and Ctrl-C twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNWRIGHT = str(Path(sys.executable).parent / "runwright")
EXAMPLE = "examples/finally-cleanup.yaml"


def run_example(*args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [RUNWRIGHT, "run", EXAMPLE, "-o", "json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)["status"]


def test_the_example_cleans_up_after_a_failed_load_and_stays_failed() -> None:
    code, status = run_example("--var", "fail=yes")
    assert code == 1
    assert status["phase"] == "Failed"
    assert status["reason"] == "BlockFailed"
    assert status["failedBlock"] == "load"
    phases = {name: b["phase"] for name, b in status["blocks"].items()}
    assert phases == {
        "extract": "Succeeded",
        "load": "Failed",
        "cleanup": "Succeeded",
        "alert": "Succeeded",
    }
    assert status["finally"]["runPhase"] == "Failed"
    assert status["finally"]["failedBlocks"] == ["load"]
    scratch = status["blocks"]["extract"]["outputs"]["scratch"]
    assert not Path(scratch).exists(), "cleanup removes the scratch directory"


def test_the_example_cleans_up_after_success_without_alerting() -> None:
    code, status = run_example()
    assert code == 0
    assert status["phase"] == "Succeeded"
    assert status["blocks"]["cleanup"]["phase"] == "Succeeded"
    assert status["blocks"]["alert"]["phase"] == "ConditionFailed"
    assert not Path(status["blocks"]["extract"]["outputs"]["scratch"]).exists()


def test_ctrl_c_runs_finally_and_a_second_ctrl_c_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: slow}\n"
        "spec:\n  blocks:\n  - name: wait\n"
        "    command: [python3, -c, 'import time; time.sleep(60)']\n"
        "  finally:\n  - name: cleanup\n"
        "    command: [python3, -c, 'import time; time.sleep(60)']\n"
    )
    proc = subprocess.Popen(
        [RUNWRIGHT, "run", str(path), "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # each signal once the step before it shows: no sleeping
            if "BlockStarted wait" in line:
                proc.send_signal(signal.SIGINT)
            if "BlockStarted cleanup" in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    status = json.loads(out)["status"]
    assert status["phase"] == "Cancelled"
    assert status["blocks"]["wait"]["phase"] == "Cancelled"
    assert status["blocks"]["cleanup"]["phase"] == "Cancelled"
    assert status["blocks"]["cleanup"]["reason"] == "SkipFinally"
    assert status["finally"]["phase"] == "Skipped"
