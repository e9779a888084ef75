"""Pod Security "restricted" namespaces: the examples run, and a refused pod fails at once.

The namespace enforces `pod-security.kubernetes.io/enforce: restricted` (the API
server's PodSecurity admission, for real); kwok plays the kubelet. The examples run
as written except for the image and kwok's script, so every block pod the operator
makes passes the restricted profile. A Pipeline whose template asks for root makes
a pod admission refuses: the block fails with the API server's own words
(PodRejected), instead of a Job retrying FailedCreate forever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube import Cluster
from .operator_fixture import Operators, Runs, block, pipeline, pod, template

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: What kwok's pods report for the blocks whose outputs a downstream template reads.
OUTPUTS = {
    "extract": {"rows": "1200"},
    "clean": {"rows": "1150"},
    "enrich": {"columns": "region"},
    "fetch": {"records": "42"},
}
#: (example, variables, the phase its run ends in); flaky-retries' pods all succeed on kwok.
CASES = [
    ("diamond-etl", {}, "Succeeded"),
    ("conditional", {"env": "prod"}, "Succeeded"),
    ("flaky-retries", {}, "Succeeded"),
]


@pytest.fixture
def restricted(cluster: Cluster, ns: str) -> str:
    """The test namespace, enforcing Pod Security restricted."""
    cluster.kubectl(
        "label", "namespace", ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )  # fmt: skip
    return ns


def example(name: str) -> dict[str, Any]:
    """examples/NAME.yaml with the test image, each pod running 1s on kwok and reporting
    the outputs its downstream blocks read."""
    manifest: dict[str, Any] = next(
        d
        for d in yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text())
        if d and d.get("kind") == "Pipeline"
    )
    manifest["spec"]["template"].update(template(duration="1s"))
    for body in manifest["spec"]["blocks"]:
        if body["name"] in OUTPUTS:
            body.update(pod(outputs=OUTPUTS[body["name"]]))
    return manifest


def test_the_examples_run_to_their_end_in_a_restricted_namespace(
    restricted: str, operators: Operators, runs: Runs
) -> None:
    operators()
    for name, variables, _ in CASES:
        runs.apply(example(name))
        runs.start(f"{name}-1", name, **({"variables": variables} if variables else {}))
    for name, _, phase in CASES:
        run = runs.wait_finished(f"{name}-1")
        assert run["status"]["phase"] == phase, runs.describe(f"{name}-1", run)
    pods = json.loads(runs.cluster.kubectl("get", "pods", "-n", restricted, "-o", "json").stdout)[
        "items"
    ]
    assert pods, "no block pod was created"
    for made in pods:
        spec = made["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        (container,) = spec["containers"]
        assert container["resources"]["requests"], container  # not BestEffort
        assert made["status"].get("qosClass") != "BestEffort"


@pytest.mark.parametrize("executor", ["pod", "job"])
def test_a_pod_the_namespace_refuses_fails_its_block_at_once_in_the_servers_words(
    restricted: str, operators: Operators, runs: Runs, executor: str
) -> None:
    # The Pod executor's create is refused; the Job executor asks first (a dry run).
    operators("--executor", executor)
    root = {**template(duration="1s"), "securityContext": {"runAsUser": 0}}
    runs.apply(pipeline("as-root", [block("a"), block("b", "a")], root))
    name = runs.start("as-root-1", "as-root")
    run = runs.wait_finished(name)
    status = run["status"]
    assert status["phase"] == "Failed", runs.describe(name, run)
    a = status["blocks"]["a"]
    assert a["reason"] == "PodRejected", a
    refused = {"pod": "Pod as-root-1-a-1: ", "job": "the pod of Job as-root-1-a-1: "}[executor]
    assert a["message"].startswith(f"the API server refused {refused}"), a
    assert 'violates PodSecurity "restricted:latest"' in a["message"], a
    assert "runAsUser=0" in a["message"], a
    assert status["blocks"]["b"]["phase"] == "UpstreamFailed"
    # No Job was made to retry FailedCreate forever, and no pod exists.
    assert runs.job_names(name) == set()
    assert runs.cluster.kubectl("get", "pods", "-n", runs.ns, "-o", "name").stdout.strip() == ""


def test_a_service_account_that_does_not_exist_fails_the_block_at_once(
    ns: str, operators: Operators, runs: Runs
) -> None:
    # Not a Pod Security matter: the ServiceAccount admission plugin refuses the pod, and
    # a Job would retry FailedCreate forever all the same.
    operators()
    tmpl = {**template(duration="1s"), "serviceAccountName": "missing"}
    runs.apply(pipeline("no-sa", [block("a")], tmpl))
    name = runs.start("no-sa-1", "no-sa")
    run = runs.wait_finished(name)
    a = run["status"]["blocks"]["a"]
    assert (run["status"]["phase"], a["reason"]) == ("Failed", "PodRejected"), a
    assert 'serviceaccount "missing" not found' in a["message"], a
    assert runs.job_names(name) == set()
