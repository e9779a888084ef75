"""The chart's ValidatingAdmissionPolicy on the real API server: what a Pipeline may ask for.

The chart's policy is rendered with a release name of its own and a namespaceSelector
on a label only this module's namespaces carry, so it judges nothing else on the
shared control plane, and it is deleted at the end. Each refusal is checked at
`kubectl apply` time, in the API server's words: the field and the fix.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from runwright import labels
from tests.unit.chart import CHART, helm

from .kube import Cluster

pytestmark = pytest.mark.integration

#: The label that makes a namespace subject to this module's copy of the policy.
SELECTOR_LABEL = "runwright-test/admission-policy"


@pytest.fixture(scope="module")
def policy(cluster: Cluster) -> Iterator[str]:
    """The chart's policy and binding, bound to namespaces labelled with the returned value."""
    # The shared control plane's CRDs are whichever branch applied them last: this
    # module needs this branch's (template.containerSecurityContext).
    cluster.apply_crds(CHART.parents[1] / "crds")
    tag = uuid.uuid4().hex[:8]
    rendered = subprocess.run(
        [
            helm(), "template", f"rwadm-{tag}", str(CHART), "--namespace", "runwright-system",
            "--show-only", "templates/admissionpolicy.yaml",
            "--set", f"admissionPolicy.namespaceSelector.matchLabels.{SELECTOR_LABEL}={tag}",
        ],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered) if d]
    assert kinds == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"], kinds
    cluster.kubectl("apply", "-f", "-", stdin=rendered)
    name = f"rwadm-{tag}-runwright-pod-template"
    try:
        # The policy's CEL compiles and type-checks against the CRDs with no warning.
        status = cluster.wait_for(
            "the policy's type check",
            lambda: (
                cluster.kubectl("get", "validatingadmissionpolicy", name, "-o", "json")
                .json()
                .get("status", {})
                .get("observedGeneration")
            ),
        )
        assert status
        checked = cluster.kubectl("get", "validatingadmissionpolicy", name, "-o", "json").json()
        assert not checked["status"].get("typeChecking", {}).get("expressionWarnings"), checked
        # The API server enforces a new binding once its informers have it: wait for that
        # with a server-side dry run, rather than racing the first test.
        probe = yaml.safe_dump(pipeline("probe", serviceAccountName="powerful"))
        for ns in guarded(cluster, tag):
            cluster.wait_for(
                "the policy to be enforced",
                lambda ns=ns: (
                    not cluster.kubectl(
                        "apply", "--dry-run=server", "-n", ns, "-f", "-", stdin=probe, check=False
                    ).ok
                ),
            )
        yield tag
    finally:
        cluster.kubectl("delete", "-f", "-", "--wait=false", stdin=rendered, check=False)


def guarded(cluster: Cluster, tag: str, **annotations: str) -> Iterator[str]:
    name = f"rw-adm-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        cluster.kubectl("label", "namespace", name, f"{SELECTOR_LABEL}={tag}")
        if annotations:
            cluster.kubectl(
                "annotate", "namespace", name, *(f"{k}={v}" for k, v in annotations.items())
            )
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def guarded_ns(cluster: Cluster, policy: str) -> Iterator[str]:
    """A namespace the policy applies to, with no annotation: the defaults."""
    yield from guarded(cluster, policy)


@pytest.fixture
def widened_ns(cluster: Cluster, policy: str) -> Iterator[str]:
    """A namespace whose admin allows ServiceAccount etl (and default)."""
    yield from guarded(
        cluster, policy, **{"runwright.dev/allowed-service-accounts": "default, etl"}
    )


def pipeline(name: str, **template: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {
            "template": {"image": "registry.invalid/block:1", **template},
            "blocks": [{"name": "a", "command": ["run"]}],
        },
    }


REFUSED = {
    "service-account": (
        {"serviceAccountName": "powerful"},
        'spec.template.serviceAccountName: ServiceAccount "powerful" is not allowed for block '
        "pods in namespace {ns} (allowed: default); use one of those, or ask an admin to add it "
        "to the namespace annotation runwright.dev/allowed-service-accounts",
    ),
    "host-path": (
        {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
        "spec.template.volumes: hostPath volume(s) root give block pods the node's files; "
        "use emptyDir, a PersistentVolumeClaim or a ConfigMap, or ask an admin to annotate "
        'namespace {ns} with runwright.dev/allow-host-access="true"',
    ),
    "host-process": (
        {"securityContext": {"windowsOptions": {"hostProcess": True}}},
        "spec.template.securityContext.windowsOptions.hostProcess: host processes run on the "
        "node itself",
    ),
    "privileged": (
        {"containerSecurityContext": {"privileged": True}},
        "spec.template.containerSecurityContext.privileged: privileged containers own the node; "
        'remove it, or ask an admin to annotate namespace {ns} with runwright.dev/allow-privileged="true"',
    ),
    "privilege-escalation": (
        {"containerSecurityContext": {"allowPrivilegeEscalation": True}},
        "spec.template.containerSecurityContext.allowPrivilegeEscalation: true lets a process "
        "gain more privileges than it started with",
    ),
    "added-capabilities": (
        {"containerSecurityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_BIND_SERVICE"]}}},
        "spec.template.containerSecurityContext.capabilities.add: SYS_ADMIN (only "
        "NET_BIND_SERVICE may be added)",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_pipeline_asking_for_what_the_namespace_has_not_allowed_is_refused_at_apply(
    cluster: Cluster, guarded_ns: str, case: str
) -> None:
    template, message = REFUSED[case]
    res = cluster.apply(pipeline(case, **template), guarded_ns, check=False)
    assert not res.ok, f"{case}: accepted\n{res.stdout}"
    assert message.format(ns=guarded_ns) in res.stderr, res.stderr


def test_a_pipeline_asking_for_nothing_special_is_accepted(
    cluster: Cluster, guarded_ns: str
) -> None:
    for name, template in {
        "plain": {},
        "default-sa": {"serviceAccountName": "default"},
        "bind-port": {"containerSecurityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}},
        "scratch": {"volumes": [{"name": "scratch", "emptyDir": {}}]},
    }.items():
        res = cluster.apply(pipeline(name, **template), guarded_ns, check=False)
        assert res.ok, f"{name}: {res.stderr}"


def test_a_namespace_annotation_allows_more_service_accounts(
    cluster: Cluster, widened_ns: str
) -> None:
    assert cluster.apply(pipeline("etl", serviceAccountName="etl"), widened_ns, check=False).ok
    refused = cluster.apply(pipeline("admin", serviceAccountName="admin"), widened_ns, check=False)
    assert "(allowed: default, etl)" in refused.stderr, refused.stderr


def test_host_access_and_privilege_are_widened_per_namespace(cluster: Cluster, policy: str) -> None:
    for ns in guarded(
        cluster,
        policy,
        **{"runwright.dev/allow-host-access": "true", "runwright.dev/allow-privileged": "true"},
    ):
        for case, (template, _) in REFUSED.items():
            if case == "service-account":
                continue
            res = cluster.apply(pipeline(case, **template), ns, check=False)
            assert res.ok, f"{case}: {res.stderr}"


def test_an_edit_that_adds_a_refused_field_is_refused_too(
    cluster: Cluster, guarded_ns: str
) -> None:
    cluster.apply(pipeline("edited"), guarded_ns)
    res = cluster.apply(pipeline("edited", serviceAccountName="powerful"), guarded_ns, check=False)
    assert 'ServiceAccount "powerful" is not allowed' in res.stderr, res.stderr


def test_a_run_whose_frozen_spec_is_rewritten_by_a_user_is_refused(
    cluster: Cluster, guarded_ns: str
) -> None:
    # A PipelineRun's status.pipelineSpec is what its blocks run: written by the
    # operator from an admitted Pipeline, and judged like one when anyone else writes it.
    cluster.apply(pipeline("frozen"), guarded_ns)
    run = {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": "frozen-1"},
        "spec": {"pipelineRef": {"name": "frozen"}},
    }
    cluster.apply(run, guarded_ns)
    spec = pipeline("frozen", serviceAccountName="powerful")["spec"]
    res = cluster.kubectl(
        "patch", "pipelinerun", "frozen-1", "-n", guarded_ns, "--subresource=status",
        "--type=merge", "-p", yaml.safe_dump({"status": {"pipelineSpec": spec}}),
        check=False,
    )  # fmt: skip
    assert not res.ok
    assert (
        'status.pipelineSpec.template.serviceAccountName: ServiceAccount "powerful" is not '
        "allowed" in res.stderr
    ), res.stderr
