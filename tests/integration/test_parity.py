"""Parity: every example pipeline ends the same under the operator as in local mode.

Local mode (`runwright run FILE -o json`) and the operator with `--executor local`
(blocks as local processes of the operator, state in the PipelineRun) share the
engine; this checks the controller around it adds nothing and loses nothing: the
same run phase and the same phase for every block.

The operator is a subprocess scoped to the test's namespace (hack/operator_process.py).
Waiting is polling with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright import labels

from .kube import Cluster
from .operator_fixture import Operator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUNWRIGHT = Path(sys.executable).parent / "runwright"
LOG_DIR = ROOT / ".cluster" / "operators"
FINISHED = ("Succeeded", "Failed", "Cancelled")
RUN_TIMEOUT = 120.0

#: (example file, run variables): every example, and conditional's other branch.
CASES = [
    ("diamond-etl.yaml", {}),
    ("conditional.yaml", {}),
    ("conditional.yaml", {"env": "dev"}),
    ("flaky-retries.yaml", {}),
]


def _case_id(case: tuple[str, dict[str, str]]) -> str:
    path, variables = case
    return Path(path).stem + "".join(f"-{k}={v}" for k, v in variables.items())


@pytest.fixture
def local_operator(cluster: Cluster, ns: str, tmp_path: Path) -> Iterator[Path]:
    """`runwright operator -n <ns> --executor local`; yields its log file."""
    args = ["--executor", "local", "--workdir", str(tmp_path / "blocks")]
    operator = Operator(cluster, [ns], args, LOG_DIR / f"{ns}-parity.log")
    try:
        operator.start()
        yield operator.log_path
    finally:
        operator.stop(timeout=30)


def phases(run: dict[str, Any]) -> tuple[str | None, dict[str, str | None]]:
    status = run.get("status") or {}
    blocks = {name: b.get("phase") for name, b in (status.get("blocks") or {}).items()}
    return status.get("phase"), blocks


def local_mode(path: Path, variables: dict[str, str]) -> dict[str, Any]:
    args = [str(RUNWRIGHT), "run", str(path), "-o", "json"]
    for key, value in variables.items():
        args += ["--var", f"{key}={value}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert proc.stdout, f"runwright run printed nothing (exit {proc.returncode}): {proc.stderr}"
    run: dict[str, Any] = json.loads(proc.stdout)
    return run


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_operator_matches_local_mode(
    cluster: Cluster, ns: str, local_operator: Path, case: tuple[str, dict[str, str]]
) -> None:
    file, variables = case
    path = ROOT / "examples" / file
    pipeline = next(
        d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Pipeline"
    )
    name = pipeline["metadata"]["name"]

    expected = phases(local_mode(path, variables))
    assert expected[0] in FINISHED, expected

    cluster.apply(path.read_text(), ns)
    spec: dict[str, Any] = {"pipelineRef": {"name": name}}
    if variables:
        spec["variables"] = variables
    run_name = f"{name}-parity"
    cluster.apply(
        {
            "apiVersion": labels.API_VERSION,
            "kind": "PipelineRun",
            "metadata": {"name": run_name},
            "spec": spec,
        },
        ns,
    )

    last: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal last
        last = cluster.get("pipelinerun", run_name, ns)
        return phases(last)[0] in FINISHED

    try:
        cluster.wait_for(f"{run_name} to finish", finished, timeout=RUN_TIMEOUT)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nstatus: {json.dumps(last.get('status'), default=str)[-3000:]}\n"
            f"operator log:\n{local_operator.read_text()[-3000:]}"
        ) from None
    assert phases(last) == expected, (
        f"operator (run phase, block phases) differ from local mode's\n"
        f"status: {json.dumps(last.get('status'), default=str)[-3000:]}"
    )
