"""Issue 10 item 14: the README's operator quick-start works as written on the bundled
control plane (diamond-etl ends Succeeded).

The block is taken from README.md and run with bash from a directory laid out like a
clone (`.cluster/`, `crds/`, `examples/`, `.venv/`), with two adaptations a shared
test cluster needs, each asserted to apply so a README edit cannot silently escape:
the operator watches this test's namespace only (`-A` would reconcile other tests'
runs) on free ports (8080/8081 may be taken), and the kubeconfig's context points at
this test's namespace.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import yaml

from .kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
FIRST_LINE = "export KUBECONFIG=$PWD/.cluster/kubeconfig PATH=$PWD/.cluster/bin:$PATH"
OPERATOR = ".venv/bin/runwright operator -A --executor local &"


def _quick_start() -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    (block,) = [b for b in blocks if b.startswith(FIRST_LINE)]
    return str(block)


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
