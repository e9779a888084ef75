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
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            # Leader election (issue 11): the Lease's Role and binding, the PDB of 2 replicas.
            "Role",
            "RoleBinding",
            "PodDisruptionBudget",
            "PersistentVolumeClaim",  # issue 12: the run archive's SQLite file
        ]
    )
    args = container(objects)["args"]
    assert "--all-namespaces" in args and "--namespace" not in args


def test_watched_namespaces_get_a_role_each_and_no_namespaced_cluster_role() -> None:
    objects = [o for o in render(*WATCHED) if not is_leader_election(o)]
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


def is_leader_election(o: dict[str, Any]) -> bool:
    """The Lease's Role and RoleBinding (in the release namespace, whatever is watched)."""
    return bool(o["metadata"]["name"].endswith("-leader-election"))


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
        # Only the Lease is named: the one object whose name the operator knows up front.
        assert "resourceNames" not in rule or rule["resources"] == ["leases"]
        assert "nonResourceURLs" not in rule
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
        "/pods": {"list", "watch", "create", "delete"},  # the Pod executor; the dry run
        "/events": {"create", "list"},  # list: the run archive stores a run's Events
        "/pods/log": {"get"},  # the run archive stores each attempt's log tail
        "events.k8s.io/events": {"create", "patch"},
        "/secrets": {"get"},
        "/namespaces": {"list", "watch"},
        "apiextensions.k8s.io/customresourcedefinitions": {"list", "watch"},
        "coordination.k8s.io/leases": {"get", "create", "update"},
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


def test_the_deployment_is_two_replicas_rolled_and_locked_down() -> None:
    # Issue 11 replaced one Recreate replica by two under leader election.
    objects = render()
    spec = deployment(objects)["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
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
    objects = render("archive.type=none")  # issue 12: the archive's volume is tested below
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


# ----- leader election (issue 11) ---------------------------------------------------------


def test_the_lease_role_is_in_the_release_namespace_only_and_names_the_lease() -> None:
    for sets in ((), WATCHED):
        objects = render(*sets)
        (role,) = [o for o in of_kind(objects, "Role") if is_leader_election(o)]
        assert role["metadata"]["namespace"] == "runwright-system"
        assert role["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["runwright-operator"],
                "verbs": ["get", "update"],
            },
        ]
        (binding,) = [o for o in of_kind(objects, "RoleBinding") if is_leader_election(o)]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        leases = [
            r for o in objects if o["kind"] == "ClusterRole" for r in o["rules"]
            if "leases" in r["resources"]
        ]  # fmt: skip
        assert leases == []  # never cluster-wide


def test_the_pod_finds_its_namespace_and_its_election_flags_parse() -> None:
    c = container(render())
    env = {e["name"]: e.get("valueFrom") for e in c["env"]}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    args = build_parser().parse_args(["operator", *c["args"]])
    assert args.leader_elect is True
    assert (args.qps, args.burst) == (100, 200)
    assert (
        args.leader_election_lease_duration,
        args.leader_election_renew_deadline,
        args.leader_election_retry_period,
    ) == (10, 7, 1.5)  # a takeover within 15 s of a kill (issue 11)
    off = container(render("leaderElection.enabled=false", "replicaCount=1"))
    assert build_parser().parse_args(["operator", *off["args"]]).leader_elect is False
    objects = render("leaderElection.enabled=false")
    assert not [o for o in objects if is_leader_election(o)]


def test_readiness_is_readyz_and_replicas_prefer_different_nodes() -> None:
    # PostgreSQL: with the SQLite archive the replicas share a node (test below).
    pg = ("archive.type=postgresql", "archive.postgresql.existingSecret=pg")
    objects = render(*pg)
    c = container(objects)
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    pod = deployment(objects)["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    selector = deployment(objects)["spec"]["selector"]["matchLabels"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    hard = deployment(render("podAntiAffinity=hard", *pg))["spec"]["template"]["spec"]["affinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in hard["podAntiAffinity"]
    none = deployment(render("podAntiAffinity=none", *pg))["spec"]["template"]["spec"]
    assert "affinity" not in none


def test_a_pod_disruption_budget_keeps_one_replica_through_a_drain() -> None:
    objects = render()
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == deployment(objects)["spec"]["selector"]["matchLabels"]
    )
    assert of_kind(render("replicaCount=1"), "PodDisruptionBudget") == []


# ----- the run archive (issue 12) ----------------------------------------------------------


def env_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


def test_the_default_archive_is_sqlite_on_a_kept_persistent_volume_claim() -> None:
    objects = render()
    (claim,) = of_kind(objects, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "rw-runwright-archive"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "archive": "/var/lib/runwright"}
    volumes = {v["name"]: v for v in deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["archive"]["persistentVolumeClaim"] == {"claimName": "rw-runwright-archive"}
    env = env_of(objects)
    assert env["RUNWRIGHT_ARCHIVE"] == "sqlite:////var/lib/runwright/archive.db"
    assert env["RUNWRIGHT_ARCHIVE_LOG_BYTES"] == "1048576"


def test_an_existing_claim_is_used_and_none_is_created() -> None:
    objects = render("archive.sqlite.existingClaim=history")
    assert of_kind(objects, "PersistentVolumeClaim") == []
    volumes = {v["name"]: v for v in deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["archive"]["persistentVolumeClaim"] == {"claimName": "history"}


def test_postgresql_takes_its_url_from_a_secret_and_needs_no_volume() -> None:
    objects = render("archive.type=postgresql", "archive.postgresql.existingSecret=pg")
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert env_of(objects)["RUNWRIGHT_ARCHIVE"] == {"secretKeyRef": {"name": "pg", "key": "url"}}
    assert [m["name"] for m in container(objects)["volumeMounts"]] == ["tmp"]


def test_postgresql_without_a_secret_is_refused_naming_the_value() -> None:
    args = [helm(), "template", "rw", str(CHART), "--set", "archive.type=postgresql"]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode != 0
    assert "archive.postgresql.existingSecret" in out.stderr


def test_archive_none_turns_it_off() -> None:
    objects = render("archive.type=none")
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert env_of(objects)["RUNWRIGHT_ARCHIVE"] == "none"


def test_sqlite_replicas_share_a_node_and_postgresql_replicas_spread() -> None:
    """A ReadWriteOnce claim mounts on one node: replicas elsewhere would never start."""
    sqlite = deployment(render())["spec"]["template"]["spec"]["affinity"]
    assert "podAntiAffinity" not in sqlite
    (term,) = sqlite["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    pg = render("archive.type=postgresql", "archive.postgresql.existingSecret=pg")
    spread = deployment(pg)["spec"]["template"]["spec"]["affinity"]
    assert "podAffinity" not in spread and "podAntiAffinity" in spread
