"""The chart's admission policy and block pod defaults, as rendered (the CEL itself runs on the
real API server in tests/integration/test_admission_policy.py)."""

from __future__ import annotations

from typing import Any

from tests.unit.chart import of_kind, render


def policy(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = of_kind(objects, "ValidatingAdmissionPolicy")
    return found


def args(objects: list[dict[str, Any]]) -> list[str]:
    (deployment,) = of_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    found: list[str] = container["args"]
    return found


def test_the_policy_and_its_binding_are_installed_by_default_and_deny() -> None:
    objects = render()
    (binding,) = of_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy(objects)["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"]  # every namespace
    assert policy(objects)["spec"]["failurePolicy"] == "Fail"


def test_the_policy_judges_pipelines_and_run_status_but_never_the_operator() -> None:
    spec = policy(render())["spec"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pipelines", "pipelineruns", "pipelineruns/status"]
    assert rule["operations"] == ["CREATE", "UPDATE"]
    conditions = {c["name"]: c["expression"] for c in spec["matchConditions"]}
    assert (
        conditions["not-the-operator"]
        == "request.userInfo.username != 'system:serviceaccount:runwright-system:rw-runwright'"
    )


def test_every_refusal_has_a_message_expression_naming_the_fix() -> None:
    for validation in policy(render())["spec"]["validations"]:
        assert validation["reason"] == "Forbidden"
        assert "ask an admin" in validation["messageExpression"], validation


def test_the_policy_can_be_turned_off_or_narrowed_to_some_namespaces() -> None:
    assert not of_kind(render("admissionPolicy.enabled=false"), "ValidatingAdmissionPolicy")
    (binding,) = of_kind(
        render("admissionPolicy.namespaceSelector.matchLabels.team=data"),
        "ValidatingAdmissionPolicyBinding",
    )
    assert binding["spec"]["matchResources"] == {
        "namespaceSelector": {"matchLabels": {"team": "data"}}
    }


def test_the_annotations_are_values() -> None:
    text = str(policy(render("admissionPolicy.serviceAccountsAnnotation=example.com/sas")))
    assert "example.com/sas" in text and "runwright.dev/allowed-service-accounts" not in text


def test_block_pod_defaults_reach_the_operator_flags() -> None:
    found = args(render())
    assert found[found.index("--pod-security") + 1] == "restricted"
    assert found[found.index("--default-requests") + 1] == "cpu=100m,memory=128Mi"
    assert found[found.index("--default-limits") + 1] == "memory=512Mi"
    changed = args(render("podDefaults.podSecurity=none", "podDefaults.limits.cpu=1"))
    assert changed[changed.index("--pod-security") + 1] == "none"
    assert changed[changed.index("--default-limits") + 1] == "cpu=1,memory=512Mi"
