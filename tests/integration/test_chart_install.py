"""The Helm chart against the real API server, and its RBAC proven by the operator itself.

- The rendered chart (CRDs included) passes `kubectl apply --dry-run=server`: every
  object is admitted and strictly validated by the API server, for the default values
  (cluster-wide) and for `watchNamespaces: [ns]`. (`helm lint --strict` is a unit test,
  tests/unit/test_chart.py.)
- `helm install` into a fresh namespace; the chart's Deployment gets a kwok-simulated
  pod (no image is ever pulled): what matters is that every object is accepted. The
  operator then runs as a subprocess authenticated with a token of the chart's
  ServiceAccount (`kubectl create token`), so it has exactly the chart's permissions,
  and must pass the core scenario (a diamond run, a run made by a Once trigger, a run
  made through the API-trigger endpoint, whose token lives in a Secret) without a
  single 403 in its log.
- With a narrowed Role, the operator says which permission is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright import labels
from tests.unit.chart import CHART, helm

from .kube import Cluster
from .operator_fixture import LOG_DIR, Operator, Operators, Runs, block, pipeline, pod, template

pytestmark = pytest.mark.integration

#: What the operator's log must never contain when the chart's RBAC is enough (kopf
#: says "Not enough permissions to watch ..." for a watch it may not make).
DENIED = re.compile(r"\b403\b|forbidden|permission", re.IGNORECASE)


#: The namespace label a release's admission policy binding selects (tests only).
RELEASE_LABEL = "runwright-test/chart-release"


def helm_run(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def render(namespace: str, *sets: str) -> str:
    args = [helm(), "template", "rw", str(CHART), "--namespace", namespace, "--include-crds"]
    for value in sets:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("watched", [False, True], ids=["all-namespaces", "watch-namespaces"])
def test_the_rendered_chart_passes_a_server_side_dry_run(
    cluster: Cluster, ns: str, watched: bool
) -> None:
    sets = [f"operator.watchNamespaces={{{ns}}}"] if watched else []
    manifest = render(ns, *sets)
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(manifest) if d)
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest, check=False)
    assert res.ok, res.stderr
    accepted = [line for line in res.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(kinds), res.stdout
    assert kinds.count("CustomResourceDefinition") == 3
    # The Lease's Role and binding always; a Role and binding per watched namespace.
    assert kinds.count("Role") == kinds.count("RoleBinding") == (2 if watched else 1)


# ----- helm install, and the operator with the chart's ServiceAccount -----------------------


class Release:
    """One `helm install` of the chart into its own namespace; uninstalled at the end."""

    def __init__(self, cluster: Cluster, name: str, namespace: str) -> None:
        self.cluster, self.name, self.namespace = cluster, name, namespace
        self.fullname = f"{name}-runwright"

    def install(self, *sets: str) -> None:
        # The admission policy is cluster-scoped: on this shared control plane it binds only
        # the namespaces labelled for this release (the fixture labels the test's).
        selector = f"admissionPolicy.namespaceSelector.matchLabels.{RELEASE_LABEL}={self.name}"
        args = ["install", self.name, str(CHART), "-n", self.namespace, "--set", selector]
        for value in sets:
            args += ["--set", value]
        out = helm_run(self.cluster, *args)
        assert out.returncode == 0, out.stdout + out.stderr

    def uninstall(self) -> None:
        helm_run(self.cluster, "uninstall", self.name, "-n", self.namespace, "--wait=false")

    def kubeconfig(self, path: Path, namespace: str) -> Path:
        """A kubeconfig: the cluster's server and CA, and a token of the chart's ServiceAccount."""
        token = self.cluster.kubectl(
            "create", "token", self.fullname, "-n", self.namespace, "--duration=1h"
        ).stdout.strip()
        config = yaml.safe_load(self.cluster.kubeconfig.read_text())
        (server,) = config["clusters"]
        config["users"] = [{"name": "chart-sa", "user": {"token": token}}]
        context = {"cluster": server["name"], "user": "chart-sa", "namespace": namespace}
        config["contexts"] = [{"name": "chart-sa", "context": context}]
        config["current-context"] = "chart-sa"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def operator(
        self, operators: Operators, tmp_path: Path, namespace: str, *args: str
    ) -> Operator:
        """`runwright operator -n NAMESPACE ARGS` as the chart's ServiceAccount, healthy."""
        as_sa = Cluster(
            self.kubeconfig(tmp_path / "sa-kubeconfig", namespace),
            self.cluster.kubectl_bin,
            log_dir=None,
        )
        # The Lease lives in the release namespace, as POD_NAMESPACE says in the pod.
        op = Operator(
            as_sa,
            [namespace],
            [*args, "--leader-election-namespace", self.namespace],
            log_path=LOG_DIR / f"{namespace}-chart.log",
        )
        op.log_path.unlink(missing_ok=True)
        operators.started.append(op)  # stopped at the end, its log in a failure report
        op.start()
        return op


@pytest.fixture
def release(cluster: Cluster, ns: str) -> Iterator[Release]:
    """A release named after the test namespace (its ClusterRoles are cluster-wide), installed
    into a fresh namespace of its own: the ServiceAccount lives apart from the runs."""
    namespace = f"{ns}-sys"
    cluster.kubectl("create", "namespace", namespace)
    rel = Release(cluster, f"rw{ns.rsplit('-', 1)[-1]}", namespace)
    cluster.kubectl("label", "namespace", ns, f"{RELEASE_LABEL}={rel.name}")
    try:
        yield rel
    finally:
        rel.uninstall()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def diamond() -> dict[str, Any]:
    return pipeline(
        "diamond",
        [
            block("a", **pod(outputs={"rows": "12"})),
            block("b", "a", args=["{{ blocks.a.outputs.rows }}"]),
            block("c", "a"),
            block("d", "b", "c"),
        ],
        template(duration="1s"),
    )


def post_api_run(op: Operator, ns: str, trigger: str, token: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{op.api_port}/v1/namespaces/{ns}/triggers/{trigger}/runs",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201
        name: str = json.load(resp)["name"]
        return name


def core_scenario(op: Operator, runs: Runs, ns: str) -> None:
    """A diamond run, a Once trigger's run and an API trigger's run all succeed; no 403."""
    runs.apply(diamond())
    runs.cluster.kubectl(
        "create", "secret", "generic", "api-token", "-n", ns, "--from-literal=token=s3cret"
    )
    for name, spec in (
        ("once", {"type": "Once"}),
        ("by-api", {"type": "API", "api": {"tokenSecretRef": {"name": "api-token", "key": "token"}}}),
    ):  # fmt: skip
        runs.apply(
            {
                "apiVersion": labels.API_VERSION,
                "kind": "Trigger",
                "metadata": {"name": name},
                "spec": {"pipelineRef": {"name": "diamond"}, **spec},
            }
        )
    runs.start("dia-1", "diamond")

    def once_run() -> str | None:
        body = runs.find("once", kind="trigger") or {}
        last: str | None = ((body.get("status") or {}).get("lastRun") or {}).get("name")
        return last

    api_run = runs.cluster.wait_for(
        "the API trigger's token Secret read (201)",
        lambda: _try_post(op, ns),
        timeout=30,
    )
    once = runs.cluster.wait_for("a run of the Once trigger", once_run, timeout=60)
    for name in ("dia-1", once, api_run):
        run = runs.wait_finished(name)
        assert run["status"]["phase"] == "Succeeded", runs.describe(name, run)
    assert runs.get(once)["metadata"]["labels"][labels.TRIGGER] == "once"
    assert runs.get(api_run)["metadata"]["labels"][labels.TRIGGER] == "by-api"

    log = op.log_path.read_text(errors="replace")
    denied = [line for line in log.splitlines() if DENIED.search(line)]
    assert not denied, "the chart's RBAC is not enough:\n" + "\n".join(denied)


def _try_post(op: Operator, ns: str) -> str | None:
    """The endpoint answers 404/409 until the operator has listed the trigger and its Secret."""
    try:
        return post_api_run(op, ns, "by-api", "s3cret")
    except urllib.error.HTTPError:
        return None


def test_cluster_wide_install_gives_the_operator_every_permission_it_uses(
    release: Release, operators: Operators, runs: Runs, ns: str, tmp_path: Path
) -> None:
    """Default values: the namespaced rules in a ClusterRole bound to the chart's account.

    The operator is still started with `-n <this test's namespace>` (not
    --all-namespaces, which the chart's Deployment passes): other tests' operators
    manage their own namespaces on this shared cluster. The ClusterRole grants in
    every namespace what a namespaced operator needs in one, plus the cluster-scoped
    reads both modes share, so this proves the cluster-wide RBAC for the calls made.
    """
    release.install()
    kinds = release.cluster.kubectl(
        "get", "clusterrole,clusterrolebinding", "-o", "name", "-l",
        f"app.kubernetes.io/instance={release.name}",
    ).stdout.split()  # fmt: skip
    assert sorted(kinds) == sorted(
        f"{k}.rbac.authorization.k8s.io/{release.fullname}{suffix}"
        for k in ("clusterrole", "clusterrolebinding")
        for suffix in ("", "-cluster")
    )
    assert release.cluster.kubectl("get", "role", "-n", ns, "-o", "name").stdout == ""
    # The admission policy is installed and binds this namespace; the operator's own
    # writes of the runs' frozen specs pass it (the core scenario would fail otherwise).
    policy = f"validatingadmissionpolicy/{release.fullname}-pod-template"
    assert release.cluster.kubectl("get", policy, check=False).ok
    op = release.operator(operators, tmp_path, ns)
    core_scenario(op, runs, ns)


def test_namespaced_install_gives_the_operator_every_permission_it_uses(
    release: Release, operators: Operators, runs: Runs, ns: str, tmp_path: Path
) -> None:
    """watchNamespaces: [ns]: a Role and RoleBinding in ns, and only the cluster-scoped reads
    (namespaces, CRDs) in a ClusterRole; the operator runs with `-n ns` like the chart's."""
    release.install(f"operator.watchNamespaces={{{ns}}}")
    assert release.cluster.kubectl("get", "role", release.fullname, "-n", ns, check=False).ok
    assert not release.cluster.kubectl("get", "clusterrole", release.fullname, check=False).ok
    op = release.operator(operators, tmp_path, ns)
    core_scenario(op, runs, ns)


# ----- a narrowed Role: the missing permission is named -----------------------------------


def narrow(cluster: Cluster, role: dict[str, Any], resource: str, verb: str) -> None:
    """Replace the Role with a copy of `role` whose rule for `resource` lacks `verb`."""
    rules = []
    for rule in role["rules"]:
        verbs = [v for v in rule["verbs"] if rule["resources"] != [resource] or v != verb]
        if verbs:
            rules.append({**rule, "verbs": verbs})
    meta = {k: role["metadata"][k] for k in ("name", "namespace")}
    body = {"apiVersion": role["apiVersion"], "kind": "Role", "metadata": meta, "rules": rules}
    cluster.kubectl("replace", "-f", "-", stdin=json.dumps(body))
    (subject,) = cluster.get("rolebinding", meta["name"], meta["namespace"])["subjects"]
    account = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    plural, _, sub = resource.partition("/")
    can_i = ["auth", "can-i", verb, plural, "-n", meta["namespace"], f"--as={account}"]
    can_i += [f"--subresource={sub}"] if sub else []
    cluster.wait_for(
        f"the API server to deny {verb} {resource}",
        lambda: cluster.kubectl(*can_i, check=False).stdout.strip() == "no",
    )


def test_a_narrowed_role_makes_the_operator_name_the_missing_permission(
    release: Release, operators: Operators, runs: Runs, ns: str, tmp_path: Path
) -> None:
    release.install(f"operator.watchNamespaces={{{ns}}}")
    cluster = release.cluster
    full = cluster.get("role", release.fullname, ns)
    account = f"system:serviceaccount:{release.namespace}:{release.fullname}"
    runs.apply(diamond())

    # No `create` on jobs: the block's attempt fails JobRejected, saying so.
    narrow(cluster, full, "jobs", "create")
    op = release.operator(operators, tmp_path, ns, "--executor", "job")  # asserts on Jobs
    runs.start("no-jobs", "diamond")
    run = runs.wait_finished("no-jobs")
    a = run["status"]["blocks"]["a"]
    assert (run["status"]["phase"], a["reason"]) == ("Failed", "JobRejected")
    missing = f"permission missing: create jobs in API group batch in namespace {ns} for {account}"
    assert missing in a["message"], a["message"]
    assert f"Job {ns}/no-jobs-a-1 not created: {missing}" in op.log_path.read_text()

    # No `patch` on pipelineruns/status: the reconcile fails, one line naming it.
    narrow(cluster, full, "pipelineruns/status", "patch")  # and `create` on jobs is back
    runs.start("no-status", "diamond")
    line = (
        f"reconcile of PipelineRun ('{ns}', 'no-status') failed: permission missing: "
        f"patch pipelineruns/status in API group runwright.dev in namespace {ns} for {account}"
    )
    cluster.wait_for(
        "the operator to log the missing status permission",
        lambda: line in op.log_path.read_text(errors="replace"),
        timeout=60,
    )
    assert "Traceback" not in op.log_path.read_text(errors="replace")
    assert "status" not in runs.get("no-status")
