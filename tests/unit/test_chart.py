"""The Helm chart: it lints, renders, is least-privilege and locked down, and documents its values."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from runwright.cli.main import build_parser
from tests.unit.chart import CHART, ROOT, helm, of_kind, render

WATCHED = ("operator.watchNamespaces={a,b}",)


def test_helm_lint_strict_passes() -> None:
    out = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_chart_crds_are_the_generated_crds_byte_for_byte() -> None:
    generated = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == generated
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name


def test_default_values_render_the_operator_cluster_wide() -> None:
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Service",
            "Service",
            "Deployment",
            "ConfigMap",
        ]
    )
    args = container(objects)["args"]
    assert "--all-namespaces" in args and "--namespace" not in args


def test_watched_namespaces_get_a_role_each_and_no_namespaced_cluster_role() -> None:
    objects = render(*WATCHED)
    roles = of_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["a", "b"]
    assert sorted(b["metadata"]["namespace"] for b in of_kind(objects, "RoleBinding")) == ["a", "b"]
    (cluster_role,) = of_kind(objects, "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "namespaces",
        "customresourcedefinitions",
    }
    args = container(objects)["args"]
    assert args[args.index("--namespace") + 1] == "a"
    assert "--all-namespaces" not in args


def rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for o in objects if o["kind"] in ("Role", "ClusterRole") for rule in o["rules"]]


@pytest.mark.parametrize("sets", [(), WATCHED], ids=["all-namespaces", "watched"])
def test_rbac_has_no_wildcards_and_no_write_beyond_what_the_operator_does(
    sets: tuple[str, ...],
) -> None:
    granted: dict[str, set[str]] = {}
    for rule in rules(render(*sets)):
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    assert granted == {
        "runwright.dev/pipelineruns": {"get", "list", "watch", "create", "patch", "delete"},
        "runwright.dev/pipelineruns/status": {"patch"},
        "runwright.dev/pipelines": {"get", "list", "watch"},
        "runwright.dev/pipelines/status": {"patch"},
        "runwright.dev/triggers": {"get", "list", "watch"},
        "runwright.dev/triggers/status": {"patch"},
        "batch/jobs": {"list", "watch", "create", "delete"},
        "/pods": {"list", "watch", "create", "delete"},  # the Pod executor
        "/events": {"create"},
        "events.k8s.io/events": {"create", "patch"},
        "/secrets": {"get"},
        "/namespaces": {"list", "watch"},
        "apiextensions.k8s.io/customresourcedefinitions": {"list", "watch"},
    }


def test_bindings_name_the_chart_service_account() -> None:
    objects = render(*WATCHED)
    (account,) = of_kind(objects, "ServiceAccount")
    for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding"):
        (subject,) = binding["subjects"]
        assert subject["name"] == account["metadata"]["name"]
        assert subject["namespace"] == "runwright-system"


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = of_kind(objects, "Deployment")
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return found


def test_the_deployment_is_one_replica_recreated_and_locked_down() -> None:
    objects = render()
    spec = deployment(objects)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(objects)
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_the_only_writable_place_is_an_empty_dir_on_tmp() -> None:
    objects = render()
    c = container(objects)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    volumes = deployment(objects)["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["name"] == "tmp" and "emptyDir" in volumes[0]


def test_liveness_is_healthz_on_8080_and_services_expose_8080_and_8081() -> None:
    objects = render()
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http-metrics": 8080, "http-api": 8081}
    probe = c["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8080
    services = {s["metadata"]["name"]: s["spec"]["ports"][0] for s in of_kind(objects, "Service")}
    assert services["rw-runwright-metrics"]["port"] == 8080
    assert services["rw-runwright-api"]["port"] == 8081


def test_the_container_args_are_flags_runwright_operator_accepts() -> None:
    for sets in ((), WATCHED, ("operator.verbose=true", "operator.maxConcurrentBlocks=0")):
        c = container(render(*sets))
        assert "command" not in c  # the image's ENTRYPOINT is `runwright operator`
        args = build_parser().parse_args(["operator", *c["args"]])
        assert args.executor == "pod"
        assert args.log_format == "json"


def test_dashboards_configmap_carries_the_sidecar_label_and_every_dashboard() -> None:
    (configmap,) = of_kind(render(), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert sorted(configmap["data"]) == files
    for name in files:
        assert json.loads(configmap["data"][name])["uid"].startswith("runwright-")


def test_prometheus_rule_and_service_monitor_are_optional_and_match_the_rules_file() -> None:
    assert not of_kind(render(), "PrometheusRule")
    objects = render("prometheusRule.enabled=true", "serviceMonitor.enabled=true")
    (rule,) = of_kind(objects, "PrometheusRule")
    source = yaml.safe_load((CHART / "files" / "runwright.rules.yaml").read_text())
    assert rule["spec"] == source
    (monitor,) = of_kind(objects, "ServiceMonitor")
    (metrics_service,) = [
        s for s in of_kind(objects, "Service") if s["metadata"]["name"].endswith("-metrics")
    ]
    # The alerts look for job="runwright": the job is named after this label's value.
    assert metrics_service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "runwright"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= metrics_service["metadata"]["labels"].items()


def test_the_values_schema_rejects_an_unknown_key() -> None:
    args = [helm(), "template", "rw", str(CHART), "--set", "operator.maxConcurentBlocks=3"]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode != 0
    assert "maxConcurentBlocks" in out.stderr


def leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the values a user sets (a non-empty map is documented by its keys)."""
    found: list[str] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "resources":
            found.extend(leaves(value, path + "."))
        else:
            found.append(path)
    return found


def test_every_value_is_documented_in_the_chart_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    missing = [k for k in leaves(values) if f"`{k}`" not in readme]
    assert not missing, f"charts/runwright/README.md does not mention {missing}"


def test_every_value_is_in_the_values_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], props: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            assert key in props, f"{prefix}{key} is not in values.schema.json"
            if isinstance(value, dict) and "properties" in props[key]:
                walk(value, props[key]["properties"], f"{prefix}{key}.")

    walk(values, schema["properties"], "")
