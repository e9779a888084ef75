"""The chart's `server.enabled`: the web Runs view as its own Deployment, with no permissions."""

from __future__ import annotations

from typing import Any

from .chart import render


def _named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def test_the_server_is_off_by_default() -> None:
    assert not [o for o in render() if o["metadata"]["name"].endswith("-server")]


def test_server_enabled_renders_a_deployment_and_service_of_runwright_server() -> None:
    objects = render(
        "server.enabled=true", "server.readOnly=true", "server.archive.secretName=archive"
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
    objects = render("server.enabled=true")
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
    objects = render("server.enabled=true")
    _named(objects, "ServiceAccount", "rw-runwright-server")
    bound = [
        subject["name"]
        for o in objects
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for subject in o.get("subjects", [])
    ]
    assert "rw-runwright-server" not in bound
