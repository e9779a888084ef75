"""Issue 10 item 14: every `sh` command block in the README and docs/ works as written.

Blocks that need no cluster (`runwright run` / `runwright validate` on the examples)
are run here, line by line, exactly as written, from the repository root, and must
exit 0. The others are accounted for below: a block run whole on the bundled control
plane (CLUSTER_BLOCKS), or line by line (CLUSTER_LINES), names the integration test
that runs it, and a line no test runs says why. A new `sh` block or line that is
neither runnable here nor listed fails the test, and so does a listed test that does
not exist, so every command a user can copy is accounted for.
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
TESTS = "tests/integration/test_readme.py::"
#: The reason of a line no test runs starts with this.
NOT_RUN = "not run: "
NESTED = (
    NOT_RUN + "what CI itself runs (.ci/run: `make test`); a test running it would run "
    "the suite inside itself"
)

#: Blocks run whole on the control plane, by their first line: the test that runs each.
CLUSTER_BLOCKS = {
    "export KUBECONFIG=$PWD/.cluster/kubeconfig PATH=$PWD/.cluster/bin:$PATH   # or any cluster": (
        TESTS + "test_the_operator_quick_start_runs_diamond_etl_to_success"
    ),
    "kubectl create namespace runwright-system": TESTS + "test_the_helm_blocks_install_a_release",
    "helm upgrade runwright charts/runwright -n runwright-system "
    "--set 'operator.watchNamespaces={data,ml}'": TESTS + "test_the_helm_blocks_install_a_release",
    'curl -i -X POST -H "Authorization: Bearer $TOKEN" \\': (
        TESTS + "test_the_curl_block_creates_a_run_of_an_api_trigger"
    ),
}

#: Lines of the other blocks: the test that runs the line, or why none does.
CLUSTER_LINES = {
    "make demo    # the example pipelines run by the operator on a local control plane": (
        TESTS + "test_make_demo_runs_the_examples_on_the_control_plane"
    ),
    "make test    # lint, type check, generated files fresh, unit and integration tests": NESTED,
    # The Prometheus Operator's CRDs are not on the bundled control plane, and
    # installing them would change a cluster other tests share.
    "helm upgrade runwright charts/runwright -n runwright-system --reuse-values \\": (
        NOT_RUN + "needs the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs"
    ),
    "  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true": (
        NOT_RUN + "the continuation of the line above"
    ),
    # The local control plane: safe to run only when the suite's cluster is this
    # checkout's .cluster/ (then make tools and make cluster-up are no-ops).
    "make tools          # build what is missing, link into .cluster/bin/": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "make cluster-up     # start the control plane (idempotent); writes .cluster/kubeconfig": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "export KUBECONFIG=$PWD/.cluster/kubeconfig PATH=$PWD/.cluster/bin:$PATH": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "kubectl get nodes   # one Ready node, kwok-node-0": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "make cluster-status # processes and /readyz": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "make cluster-logs   # tail of every component log": (
        TESTS + "test_the_local_control_plane_block_on_this_checkouts_cluster"
    ),
    "make cluster-down   # stop every process by its pid (idempotent)": (
        NOT_RUN + "it would stop the control plane the suite runs on"
    ),
    "make test           # lint, types, CRDs, unit + integration tests (builds tools when Go is present)": (
        NESTED
    ),
    "make test-integration": NESTED,
    "RUNWRIGHT_TEST_KUBECONFIG=~/.kube/config make test-integration": (
        NESTED + ", on another cluster"
    ),
}


def sh_blocks(page: Path) -> list[list[str]]:
    """The `sh` fenced blocks of a page, as lists of lines."""
    blocks = re.findall(r"^```sh\n(.*?)^```", page.read_text(), flags=re.M | re.S)
    return [block.splitlines() for block in blocks]


def _commands(block: list[str]) -> list[str]:
    return [line for line in block if line.strip() and not line.lstrip().startswith("#")]


def _is_local(block: list[str]) -> bool:
    commands = _commands(block)
    return bool(commands) and all(LOCAL_COMMAND.match(c) for c in commands)


def _all_blocks() -> list[tuple[str, list[str]]]:
    return [(page.name, block) for page in PAGES for block in sh_blocks(page)]


LOCAL_LINES = [
    pytest.param(line, id=line.removeprefix(".venv/bin/"))
    for _, block in _all_blocks()
    if _is_local(block)
    for line in _commands(block)
]


def _unaccounted(block: list[str]) -> list[str]:
    """The command lines of a block that neither this test nor CLUSTER_* accounts for."""
    if _is_local(block) or block[0] in CLUSTER_BLOCKS:
        return []
    return [line for line in _commands(block) if line not in CLUSTER_LINES]


def test_every_command_is_run_here_or_left_to_the_cluster_with_a_reason() -> None:
    unaccounted = [
        f"{page}: {line}" for page, block in _all_blocks() for line in _unaccounted(block)
    ]
    assert not unaccounted, f"sh lines neither run by this test nor in CLUSTER_*: {unaccounted}"
    first_lines = {block[0] for _, block in _all_blocks()}
    lines = {line for _, block in _all_blocks() for line in block}
    stale = [line for line in CLUSTER_BLOCKS if line not in first_lines]
    stale += [line for line in CLUSTER_LINES if line not in lines]
    assert not stale, f"CLUSTER_* lists lines the docs no longer have: {stale}"


def test_every_cluster_entry_names_an_existing_test_or_says_why_not() -> None:
    for entry in [*CLUSTER_BLOCKS.values(), *CLUSTER_LINES.values()]:
        if entry.startswith(NOT_RUN):
            continue
        module, _, name = entry.partition("::")
        assert f"def {name}(" in (ROOT / module).read_text(), f"no test {entry}"


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
