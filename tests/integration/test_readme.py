"""Issue 10 item 14: the README's command blocks that need a cluster work as written on
the bundled control plane. Which test runs which block (or line), and why a few lines
are run by none, is listed once, in tests/unit/test_readme_commands.py (CLUSTER_BLOCKS,
CLUSTER_LINES); the blocks are read from the pages, never copied here.

Each block runs with bash, as written, but for the names a shared test cluster needs
changed (namespaces, release names, ports, hosts); each substitution is asserted to
apply, and to be the only change, so a README edit cannot silently escape its test.

- The operator quick-start (diamond-etl ends Succeeded), from a directory laid out like
  a clone (`.cluster/`, `crds/`, `examples/`, `.venv/`): the operator watches this
  test's namespace only (`-A` would reconcile other tests' runs) on free ports, and
  the kubeconfig's context points at this test's namespace.
- `make demo`, with RUNWRIGHT_TEST_KUBECONFIG naming the suite's control plane (the demo
  then never starts or stops one): exit 0, and the final table shows this demo's four
  runs only (an earlier demo's runs in `runwright-demo` are deleted first).
- The Helm blocks: `helm install` into a fresh namespace, then `helm upgrade` to two
  watched namespaces; the release is deployed, with the RBAC each mode promises.
- The API-trigger `curl` block (README and docs/endpoints.md): with the README's
  Trigger, its Secret and an operator, the answer is 201 and the run exists.
- The local control plane block (`make tools`, `make cluster-up`, `kubectl get nodes`,
  `make cluster-status`, `make cluster-logs`): only when the suite's cluster is this
  checkout's `.cluster/` (then the first two are no-ops); elsewhere it skips, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright import labels
from tests.unit.chart import helm
from tests.unit.test_readme_commands import CLUSTER_BLOCKS, CLUSTER_LINES, TESTS, sh_blocks

from .kube import Cluster
from .operator_fixture import Operator, Runs
from .test_chart_install import Release, helm_run

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
OPERATOR = ".venv/bin/runwright operator -A --executor local &"


def _quick_start() -> str:
    (block,) = blocks_run_by("test_the_operator_quick_start_runs_diamond_etl_to_success")
    return block


def blocks_run_by(test: str, page: Path = README) -> list[str]:
    """The page's blocks CLUSTER_BLOCKS gives to `test`, in page order."""
    return [
        "\n".join(block) + "\n"
        for block in sh_blocks(page)
        if CLUSTER_BLOCKS.get(block[0]) == TESTS + test
    ]


def lines_run_by(test: str) -> list[str]:
    """The README lines CLUSTER_LINES gives to `test`, in page order."""
    return [
        line
        for block in sh_blocks(README)
        for line in block
        if CLUSTER_LINES.get(line) == TESTS + test
    ]


def substituted(block: str, names: Mapping[str, str]) -> str:
    """`block` with each name replaced, asserting each applies and is the only change."""
    out = block
    for old, new in names.items():
        assert old in out, f"{old!r} is no longer in the block: update this test\n{block}"
        out = out.replace(old, new)
    back = out
    for old, new in names.items():
        back = back.replace(new, old)
    assert back == block, "a substitution changed more than its name"
    return out


def bash(
    script: str, env: Mapping[str, str], timeout: float = 300, *, stderr: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run README lines with `bash -e` from the repository root, as a user's shell would;
    stderr goes with stdout unless `stderr=False` (then it is apart: curl's progress meter)."""
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )


def cluster_env(cluster: Cluster, *bin_dirs: str) -> dict[str, str]:
    """The environment of a user whose kubectl (and helm) reach the suite's cluster."""
    dirs = [str(Path(cluster.kubectl_bin).parent), *bin_dirs]
    path = os.pathsep.join([*dirs, os.environ.get("PATH", "")])
    return {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PATH": path}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clone_like(tmp_path: Path, cluster: Cluster, ns: str) -> Path:
    """A directory with the files the block names, the kubeconfig defaulting to `ns`."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = ns
    (tmp_path / ".cluster").mkdir()
    (tmp_path / ".cluster" / "kubeconfig").write_text(yaml.safe_dump(config))
    (tmp_path / ".cluster" / "bin").symlink_to(Path(cluster.kubectl_bin).parent)
    for name in ("crds", "examples", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_the_operator_quick_start_runs_diamond_etl_to_success(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    block = _quick_start()
    assert OPERATOR in block, "the README's operator line changed: update this test"
    block = block.replace(
        OPERATOR,
        f".venv/bin/runwright operator -n {ns} --executor local "
        f"--health-port {_free_port()} --api-port {_free_port()} &",
    )
    workdir = _clone_like(tmp_path, cluster, ns)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["RUNWRIGHT_CACHE"] = str(tmp_path / "cache")
    proc = subprocess.Popen(
        ["bash", "-e", "-c", block],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the operator it starts is in our process group
    )
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        # The block's last line stops the operator; if the block failed before it,
        # this does (only the group this test started).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-4000:]
    assert "condition met" in out
    assert re.search(r"^diamond-etl-\w+\s+diamond-etl\s+Succeeded", out, re.M), out[-4000:]
    assert "RunSucceeded" in out  # kubectl describe shows the Events


# ----- make demo ---------------------------------------------------------------------------


def test_make_demo_runs_the_examples_on_the_control_plane(cluster: Cluster) -> None:
    (line,) = lines_run_by("test_make_demo_runs_the_examples_on_the_control_plane")
    env = cluster_env(cluster)
    # hack/demo.py's way to a running control plane that is not this checkout's own.
    env["RUNWRIGHT_TEST_KUBECONFIG"] = str(cluster.kubeconfig)
    done = bash(line, env, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-4000:]
    assert "[demo] every run ended as expected (5 runs)" in out, out[-4000:]
    # The table only: the archive's listing after it keeps earlier demos' runs too.
    table = out.split("$ kubectl get plr -n runwright-demo\n", 1)[1].split("\n$ ", 1)[0]
    rows = re.findall(
        r"^(diamond-etl|conditional|flaky-retries|fanout-files)-\w+\s+(\S+)\s+(\w+)", table, re.M
    )
    # Five runs, this demo's only: an earlier demo's runs were deleted first.
    assert sorted(rows) == [
        ("conditional", "conditional", "Succeeded"),
        ("conditional", "conditional", "Succeeded"),
        ("diamond-etl", "diamond-etl", "Succeeded"),
        ("fanout-files", "fanout-files", "Succeeded"),
        ("flaky-retries", "flaky-retries", "Succeeded"),
    ], table


# ----- the Helm blocks ---------------------------------------------------------------------


@pytest.fixture
def chart_names(cluster: Cluster, ns: str) -> Iterator[dict[str, str]]:
    """Names for the README's `runwright-system`, release `runwright` and namespaces `data`,
    `ml`: unique to this test (ClusterRoles are cluster-wide), none a part of another."""
    tag = ns.rsplit("-", 1)[-1]
    names = {
        "system": f"rw-sys-{tag}",
        "release": f"rw{tag}",
        "data": f"rw-data-{tag}",
        "ml": f"rw-ml-{tag}",
    }
    for watched in (names["data"], names["ml"]):
        cluster.kubectl("create", "namespace", watched)
    try:
        yield names
    finally:
        Release(cluster, names["release"], names["system"]).uninstall()
        for name in (names["system"], names["data"], names["ml"]):
            cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_the_helm_blocks_install_a_release(cluster: Cluster, chart_names: dict[str, str]) -> None:
    install, narrow = blocks_run_by("test_the_helm_blocks_install_a_release")
    system, rel = chart_names["system"], chart_names["release"]
    names = {
        "runwright-system": system,
        "helm install runwright ": f"helm install {rel} ",
        "helm upgrade runwright ": f"helm upgrade {rel} ",
        "{data,ml}": "{" + f"{chart_names['data']},{chart_names['ml']}" + "}",
    }
    env = cluster_env(cluster, str(Path(helm()).parent))
    release = Release(cluster, rel, system)

    def status() -> dict[str, object]:
        out = helm_run(cluster, "status", rel, "-n", system, "--output", "json")
        assert out.returncode == 0, out.stderr
        release_status = json.loads(out.stdout)
        return {"status": release_status["info"]["status"], "version": release_status["version"]}

    first = {k: v for k, v in names.items() if k in install}
    done = bash(substituted(install, first), env)
    assert done.returncode == 0, done.stdout
    assert status() == {"status": "deployed", "version": 1}
    # Every namespace: the operator's rules in a ClusterRole.
    assert cluster.kubectl("get", "clusterrole", release.fullname, check=False).ok

    second = {k: v for k, v in names.items() if k in narrow}
    done = bash(substituted(narrow, second), env)
    assert done.returncode == 0, done.stdout
    assert status() == {"status": "deployed", "version": 2}
    # Two namespaces: a Role in each, and no cluster-wide grant of the same rules.
    for watched in (chart_names["data"], chart_names["ml"]):
        assert cluster.kubectl("get", "role", release.fullname, "-n", watched, check=False).ok
    assert not cluster.kubectl("get", "clusterrole", release.fullname, check=False).ok


# ----- the API-trigger curl block ----------------------------------------------------------


def _api_trigger(ns: str) -> str:
    """The README's API Trigger (its `yaml` block), in this test's namespace."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.M | re.S)
    (trigger,) = [b for b in blocks if "kind: Trigger" in b and "type: API" in b]
    return substituted(str(trigger), {"namespace: data}": f"namespace: {ns}}}"})


def _ready(trigger: Mapping[str, Any] | None) -> bool:
    conditions = ((trigger or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.mark.operator_args("--executor", "local")
@pytest.mark.parametrize("page", ["README.md", "docs/endpoints.md"])
def test_the_curl_block_creates_a_run_of_an_api_trigger(
    cluster: Cluster, operator: Operator, runs: Runs, ns: str, page: str
) -> None:
    (block,) = blocks_run_by("test_the_curl_block_creates_a_run_of_an_api_trigger", ROOT / page)
    token = secrets.token_hex(16)
    cluster.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / "diamond-etl.yaml"))
    cluster.kubectl(
        "create", "secret", "generic", "api-token", "-n", ns, f"--from-literal=token={token}"
    )
    runs.apply(yaml.safe_load(_api_trigger(ns)))
    # Ready: the operator has the Trigger, its Pipeline and the Secret's key.
    cluster.wait_for("Trigger by-api Ready", lambda: _ready(runs.find("by-api", kind="trigger")))
    script = substituted(
        block,
        {
            "runwright-api.runwright-system:8081": f"127.0.0.1:{operator.api_port}",
            "/namespaces/data/": f"/namespaces/{ns}/",
        },
    )
    done = bash(script, {**os.environ, "TOKEN": token}, timeout=60, stderr=False)
    assert done.returncode == 0, done.stdout + done.stderr
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 201 Created"), done.stdout
    name = json.loads(body)["name"]
    # `<trigger>-api-<n>` since issue 11 (the API server arbitrates between replicas).
    assert re.fullmatch(r"by-api-api-\d+", name), body
    run = runs.get(name)
    assert run["spec"]["variables"] == {"date": "2026-11-21"}
    assert run["metadata"]["labels"][labels.TRIGGER] == "by-api"


# ----- the local control plane block -------------------------------------------------------


def test_the_local_control_plane_block_on_this_checkouts_cluster(cluster: Cluster) -> None:
    own = ROOT / ".cluster" / "kubeconfig"
    if cluster.kubeconfig.resolve() != own.resolve():
        pytest.skip(
            f"the suite's control plane ({cluster.kubeconfig}) is not this checkout's "
            f"{own}: make cluster-up would start a second one (CI runs this block)"
        )
    lines = lines_run_by("test_the_local_control_plane_block_on_this_checkouts_cluster")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    done = bash("\n".join(lines), env)
    out = done.stdout
    assert done.returncode == 0, out[-4000:]
    assert re.search(r"^kwok-node-0\s+Ready\b", out, re.M), out[-4000:]
    assert re.search(r"^kube-apiserver /readyz\s+ok$", out, re.M), out[-4000:]
    assert "==> " in out  # make cluster-logs: the tail of each component log
