"""Issue 10 item 14: every `sh` command block in the README and docs/ works as written.

Blocks that need no cluster (`runwright run` / `runwright validate` on the examples)
are run here, line by line, exactly as written, from the repository root, and must
exit 0. Blocks that need a cluster, a long build or a network name are listed in
CLUSTER with the reason; a new `sh` block that is neither runnable here nor listed
fails the test, so every command block a user can copy is accounted for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LOCAL_COMMAND = re.compile(r"^\.venv/bin/runwright (run|validate) ")

#: Blocks left to the control plane (tests/integration), keyed by their first line.
CLUSTER = {
    "make demo    # the example pipelines run by the operator on a local control plane": (
        "builds and starts the control plane; the demo itself is tests of hack/demo.py"
    ),
    "export KUBECONFIG=$PWD/.cluster/kubeconfig PATH=$PWD/.cluster/bin:$PATH   # or any cluster": (
        "the operator quick-start: run by tests/integration/test_readme.py"
    ),
    "kubectl create namespace runwright-system": "Helm install into a cluster",
    'curl -X POST -H "Authorization: Bearer $TOKEN" \\': (
        "an API trigger of a running operator (tests/integration/test_api_trigger.py)"
    ),
    "make tools          # build what is missing, link into .cluster/bin/": (
        "builds Kubernetes from source (minutes) and starts the control plane"
    ),
    "RUNWRIGHT_TEST_KUBECONFIG=~/.kube/config make test-integration": "another cluster",
}


def _sh_blocks(page: Path) -> list[list[str]]:
    """The `sh` fenced blocks of a page, as lists of lines."""
    blocks = re.findall(r"^```sh\n(.*?)^```", page.read_text(), flags=re.M | re.S)
    return [block.splitlines() for block in blocks]


def _commands(block: list[str]) -> list[str]:
    return [line for line in block if line.strip() and not line.lstrip().startswith("#")]


def _is_local(block: list[str]) -> bool:
    commands = _commands(block)
    return bool(commands) and all(LOCAL_COMMAND.match(c) for c in commands)


def _all_blocks() -> list[tuple[str, list[str]]]:
    return [(page.name, block) for page in PAGES for block in _sh_blocks(page)]


LOCAL_LINES = [
    pytest.param(line, id=line.removeprefix(".venv/bin/"))
    for _, block in _all_blocks()
    if _is_local(block)
    for line in _commands(block)
]


def test_every_command_block_is_run_here_or_left_to_the_cluster_with_a_reason() -> None:
    unaccounted = [
        f"{page}: {block[0]}"
        for page, block in _all_blocks()
        if not _is_local(block) and block[0] not in CLUSTER
    ]
    assert not unaccounted, f"sh blocks neither run by this test nor in CLUSTER: {unaccounted}"
    first_lines = {block[0] for _, block in _all_blocks()}
    stale = [line for line in CLUSTER if line not in first_lines]
    assert not stale, f"CLUSTER lists blocks the docs no longer have: {stale}"


def test_the_readme_has_local_commands_to_run() -> None:
    lines = [str(param.values[0]) for param in LOCAL_LINES]
    verbs = {match.group(1) for match in map(LOCAL_COMMAND.match, lines) if match}
    assert verbs == {"run", "validate"}


@pytest.mark.parametrize("line", LOCAL_LINES)
def test_local_commands_work_as_written(line: str, tmp_path: Path) -> None:
    runwright = ROOT / ".venv" / "bin" / "runwright"
    assert runwright.exists(), "the README's commands need `make install` (.venv/bin/runwright)"
    env = {**os.environ, "RUNWRIGHT_CACHE": str(tmp_path)}
    # The README's own line, run as a user would run it.
    done = subprocess.run(
        ["bash", "-c", line],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stderr[-2000:]}"
    if " -o json" in line:
        run = json.loads(done.stdout)
        assert run["status"]["phase"] == "Succeeded"
    if " run " in line:
        assert "logs: " + str(tmp_path / "runs") in done.stderr
