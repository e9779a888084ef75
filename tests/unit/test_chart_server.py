"""The chart's `server.enabled`: the web Runs view, with no permissions of its own.

With PostgreSQL or no archive it is a Deployment of its own (`OWN` below); with the
SQLite archive (the default) a second container of the operator's pod, on the same
ReadWriteOnce claim.
"""

from __future__ import annotations

from typing import Any

from .chart import render

#: Values that give the server a Deployment of its own (no SQLite file to share).
OWN = "archive.type=none"


def _named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def test_the_server_is_off_by_default() -> None:
    assert not [o for o in render() if o["metadata"]["name"].endswith("-server")]


def test_server_enabled_renders_a_deployment_and_service_of_runwright_server() -> None:
    objects = render(
        "server.enabled=true", "server.readOnly=true", "server.archive.secretName=archive", OWN
    )
    deployment = _named(objects, "Deployment", "rw-runwright-server")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["runwright", "server"]
    assert container["args"] == [
        "--port",
        "8090",
        "--read-only",
        "--archive",
        "$(RUNWRIGHT_ARCHIVE_URL)",
    ]
    url = next(e for e in container["env"] if e["name"] == "RUNWRIGHT_ARCHIVE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "archive", "key": "url"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = _named(objects, "Service", "rw-runwright-server")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_operators_selectors_never_pick_the_server_pods() -> None:
    objects = render("server.enabled=true", OWN)
    pod_labels = _named(objects, "Deployment", "rw-runwright-server")["spec"]["template"][
        "metadata"
    ]["labels"]
    operator = _named(objects, "Deployment", "rw-runwright")
    selectors = [operator["spec"]["selector"]["matchLabels"]] + [
        o["spec"]["selector"]
        for o in objects
        if o["kind"] == "Service" and not o["metadata"]["name"].endswith("-server")
    ]
    for selector in selectors:
        assert not all(pod_labels.get(k) == v for k, v in selector.items()), selector


def test_the_servers_service_account_is_bound_to_no_role() -> None:
    objects = render("server.enabled=true", OWN)
    _named(objects, "ServiceAccount", "rw-runwright-server")
    bound = [
        subject["name"]
        for o in objects
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for subject in o.get("subjects", [])
    ]
    assert "rw-runwright-server" not in bound


SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def _ca_only(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """The container's ServiceAccount path holds the cluster's CA from a ConfigMap, no token."""
    mount = _mounts(container)[SA_PATH]
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["projected"]["sources"] == [
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    ]


def test_with_the_sqlite_archive_the_server_is_a_container_of_the_operators_pod() -> None:
    objects = render("server.enabled=true")
    assert not [o for o in objects if o["kind"] in ("Deployment", "ServiceAccount")
                and o["metadata"]["name"] == "rw-runwright-server"]  # fmt: skip
    pod = _named(objects, "Deployment", "rw-runwright")["spec"]["template"]["spec"]
    operator, server = pod["containers"]
    assert (operator["name"], server["name"]) == ("operator", "server")
    assert server["command"] == ["runwright", "server"]
    assert server["args"] == [
        "--port",
        "8090",
        "--archive",
        "sqlite:////var/lib/runwright/archive.db",
    ]
    # The same claim as the operator's (the file it writes), opened read-only by the server.
    archive = _mounts(server)["/var/lib/runwright"]
    assert archive["name"] == _mounts(operator)["/var/lib/runwright"]["name"] == "archive"
    claim = next(v for v in pod["volumes"] if v["name"] == "archive")
    assert claim["persistentVolumeClaim"]["claimName"] == "rw-runwright-archive"
    # The operator's token (mounted in every container by default) is hidden from the server.
    _ca_only(pod, server)
    assert SA_PATH not in _mounts(operator)
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert "RUNWRIGHT_ARCHIVE_URL" not in {e["name"] for e in server["env"]}
    service = _named(objects, "Service", "rw-runwright-server")
    labels = _named(objects, "Deployment", "rw-runwright")["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["targetPort"] == "http-web"
    assert "http-web" in {p["name"] for p in server["ports"]}


def test_with_postgresql_the_server_has_its_own_deployment_reading_the_archive_secret() -> None:
    objects = render(
        "server.enabled=true",
        "archive.type=postgresql",
        "archive.postgresql.existingSecret=pg",
        "archive.postgresql.secretKey=dsn",
    )
    operator_pod = _named(objects, "Deployment", "rw-runwright")["spec"]["template"]["spec"]
    assert [c["name"] for c in operator_pod["containers"]] == ["operator"]
    pod = _named(objects, "Deployment", "rw-runwright-server")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "rw-runwright-server"
    (server,) = pod["containers"]
    assert server["args"][-2:] == ["--archive", "$(RUNWRIGHT_ARCHIVE_URL)"]
    url = next(e for e in server["env"] if e["name"] == "RUNWRIGHT_ARCHIVE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}
    assert "/var/lib/runwright" not in _mounts(server)
    _ca_only(pod, server)
    account = _named(objects, "ServiceAccount", "rw-runwright-server")
    assert account["automountServiceAccountToken"] is False
