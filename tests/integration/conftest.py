"""pytest wiring for the local Kubernetes control plane (hack/cluster.py).

One cluster per session: the one in RUNWRIGHT_TEST_KUBECONFIG when set, else
an already running, healthy `make cluster-up` cluster, else one started here
(and stopped at the end, because we started it). crds/ is applied once; each
test gets its own namespace; a failing test's report carries the tail of
every component log.

Under CI=true a cluster that cannot be had is a failure, never a skip.
Elsewhere the tests skip only when Go (needed to build the tools) is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import Cluster
from .operator_fixture import Operators, Runs, operator, operators

__all__ = ["operator", "operators"]  # fixtures, imported so every test module here has them

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = ROOT / ".cluster"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str, *, skippable: bool) -> None:
    if IN_CI or not skippable:
        pytest.fail(f"local control plane unavailable: {reason}", pytrace=False)
    pytest.skip(f"local control plane unavailable: {reason}")


def _hack(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "hack" / script), *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )


def _kubectl_binary() -> str | None:
    local = CLUSTER_DIR / "bin" / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    external = os.environ.get("RUNWRIGHT_TEST_KUBECONFIG")
    started_here = False
    if external:
        kubectl = _kubectl_binary()
        if kubectl is None:
            _unavailable("no kubectl for RUNWRIGHT_TEST_KUBECONFIG", skippable=False)
        c = Cluster(kubeconfig=Path(external), kubectl=str(kubectl), log_dir=None)
    else:
        if _hack("cluster.py", "status").returncode != 0:
            built = _hack("tools.py", "build")  # a no-op when the cache has them
            if built.returncode != 0:
                if shutil.which("go") is None:
                    _unavailable(
                        "Go is not installed, so etcd/kube-apiserver/kwok cannot be built "
                        "(install Go >= 1.26 or set RUNWRIGHT_TEST_KUBECONFIG)",
                        skippable=True,
                    )
                _unavailable(
                    f"hack/tools.py build failed:\n{built.stderr[-4000:]}", skippable=False
                )
            upped = _hack("cluster.py", "up")
            if upped.returncode != 0:
                logs = _hack("cluster.py", "logs", "60").stdout
                _hack("cluster.py", "down")
                _unavailable(f"hack/cluster.py up failed:\n{upped.stderr}\n{logs}", skippable=False)
            started_here = True
        c = Cluster(
            kubeconfig=CLUSTER_DIR / "kubeconfig",
            kubectl=str(CLUSTER_DIR / "bin" / "kubectl"),
            log_dir=CLUSTER_DIR,
        )
    try:
        # RUNWRIGHT_TEST_CRDS: try CRDs from another directory (e.g. before regenerating crds/)
        c.apply_crds(Path(os.environ.get("RUNWRIGHT_TEST_CRDS", ROOT / "crds")))
        yield c
    finally:
        if started_here:
            _hack("cluster.py", "down")


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace (with its default service account) for one test."""
    name = f"rw-it-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    cluster.wait_for(
        f"default service account in {name}",
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).ok,
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def runs(cluster: Cluster, ns: str) -> Runs:
    """Pipelines, runs, Jobs and Events of this test's namespace."""
    return Runs(cluster, ns)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "operator_args(*flags): extra `runwright operator` flags for this test"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed and "cluster" in getattr(item, "fixturenames", ()):
        logs = Cluster.tail_logs(CLUSTER_DIR, lines=30)
        if logs:
            report.sections.append(("control plane logs (tail)", logs))
    factory = getattr(item, "funcargs", {}).get("operators")
    if report.failed and isinstance(factory, Operators):
        for op in factory.started:
            report.sections.append((f"operator log (tail of {op.log_path})", op.log_tail(80)))
    return report
