"""The chart's web server (`server.enabled`) against the real API server and its admission.

- Both placements pass `kubectl apply --dry-run=server` (SQLite: a container of the
  operator's pod; PostgreSQL: a Deployment of its own).
- Installed with the SQLite archive, the operator's pod that the API server admits
  (kwok simulates it; no image is pulled) has the `server` container, and the
  ServiceAccount admission plugin, which mounts the pod's token into every container
  that has nothing at that path, gave the operator its token and the server none: the
  server's path holds only the cluster's CA.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .kube import Cluster
from .test_chart_install import Release, release, render

__all__ = ["release"]  # fixture

pytestmark = pytest.mark.integration

SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.mark.parametrize(
    "sets",
    [
        ["server.enabled=true"],
        [
            "server.enabled=true",
            "archive.type=postgresql",
            "archive.postgresql.existingSecret=pg",
        ],
    ],
    ids=["sqlite-beside-the-operator", "postgresql-own-deployment"],
)
def test_the_chart_with_the_server_passes_a_server_side_dry_run(
    cluster: Cluster, ns: str, sets: list[str]
) -> None:
    manifest = render(ns, *sets)
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest, check=False)
    assert res.ok, res.stderr
    accepted = [line for line in res.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(documents), res.stdout
    deployments = sorted(d["metadata"]["name"] for d in documents if d["kind"] == "Deployment")
    own = "archive.type=postgresql" in sets
    assert deployments == (["rw-runwright", "rw-runwright-server"] if own else ["rw-runwright"])


def test_beside_the_operator_the_admitted_pod_gives_the_server_no_token(
    release: Release,
) -> None:
    release.install("server.enabled=true")
    cluster = release.cluster

    def admitted_pod() -> dict[str, Any] | None:
        out = cluster.kubectl(
            "get", "pods", "-n", release.namespace, "-o", "json", "-l",
            f"app.kubernetes.io/instance={release.name},app.kubernetes.io/name=runwright",
        )  # fmt: skip
        items: list[dict[str, Any]] = out.json()["items"]
        return items[0] if items else None

    pod = cluster.wait_for("the operator's pod", admitted_pod)
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert sorted(containers) == ["operator", "server"]

    def at_sa_path(container: str) -> list[str]:
        mounts = containers[container].get("volumeMounts", [])
        return [m["name"] for m in mounts if m["mountPath"] == SA_PATH]

    (token_volume,) = at_sa_path("operator")
    assert token_volume.startswith("kube-api-access-"), "the operator keeps its token"
    assert at_sa_path("server") == ["server-ca"], "the server gets the CA only"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    sources = volumes["server-ca"]["projected"]["sources"]
    assert [s.get("configMap", {}).get("name") for s in sources] == ["kube-root-ca.crt"]
    assert not any("serviceAccountToken" in s for s in sources)
    archive_claims = {
        m["name"] for c in containers.values() for m in c.get("volumeMounts", [])
        if m["mountPath"] == "/var/lib/runwright"
    }  # fmt: skip
    assert archive_claims == {"archive"}, "both containers mount the same claim"
    service = cluster.get("service", f"{release.fullname}-server", release.namespace)
    assert all(
        pod["metadata"]["labels"].get(k) == v for k, v in service["spec"]["selector"].items()
    )
