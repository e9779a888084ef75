"""Restricted-ready block pods: the defaults every block pod gets, and what a Pipeline overrides."""

from __future__ import annotations

from typing import Any

import pytest

from runwright.api.pipeline import PipelineSpec
from runwright.engine.block_start import pod_intent
from runwright.engine.plan import StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.job_manifest import build_job
from runwright.executors.kubernetes import _refusal
from runwright.executors.pod_security import (
    AS_WRITTEN,
    RESTRICTED,
    PodDefaults,
    harden,
    parse_quantities,
)

RUN = RunRef(namespace="data", name="etl-x7k2p", uid="uid-1", pipeline="etl", trigger=None)
DEFAULTS = PodDefaults(requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"})


def pod_of(template: dict[str, Any], defaults: PodDefaults | None = DEFAULTS, **block: Any) -> Any:
    """The pod spec of the Job of block `a` of a Pipeline with this template."""
    spec = PipelineSpec.model_validate(
        {"template": {"image": "img:1", **template}, "blocks": [{"name": "a", **block}]}
    )
    action = StartBlock(
        block="a",
        attempt=1,
        name="etl-x7k2p-a-1",
        image="img:1",
        command=["run"],
        args=[],
        env=[],
        contract={},
        timeout_seconds=None,
        ready_at=None,
        **pod_intent(spec.template, spec.blocks[0]),
    )
    return build_job(RUN, action, defaults)["spec"]["template"]["spec"]


def test_a_pipeline_that_asks_nothing_gets_a_pod_security_restricted_pod() -> None:
    pod = pod_of({})
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False


def test_a_block_without_resources_gets_the_default_requests_and_limits() -> None:
    (container,) = pod_of({})["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_a_block_keeps_its_own_resources_and_gets_defaults_only_for_the_rest() -> None:
    (container,) = pod_of({}, resources={"requests": {"cpu": "2"}})["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_a_default_never_contradicts_what_the_block_sets() -> None:
    # A memory request over the default limit gets no default limit, and a limit
    # without a request gets no default request (Kubernetes makes it the limit).
    (big,) = pod_of({}, resources={"requests": {"memory": "1Gi"}})["containers"]
    assert big["resources"] == {"requests": {"cpu": "100m", "memory": "1Gi"}}
    (capped,) = pod_of({}, resources={"limits": {"memory": "64Mi"}})["containers"]
    assert capped["resources"] == {"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}}


def test_the_template_security_contexts_win_field_by_field() -> None:
    pod = pod_of(
        {
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
            "containerSecurityContext": {
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    )
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 65532,
        "fsGroup": 2000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }


def test_a_template_asking_for_root_gets_no_non_root_defaults_to_contradict_it() -> None:
    pod = pod_of({"securityContext": {"runAsUser": 0}})
    assert pod["securityContext"] == {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}


def test_the_token_is_mounted_only_when_the_template_asks() -> None:
    assert pod_of({"automountServiceAccountToken": True})["automountServiceAccountToken"] is True
    assert pod_of({})["automountServiceAccountToken"] is False


def test_as_written_leaves_the_pod_as_the_pipeline_wrote_it() -> None:
    pod = pod_of({"securityContext": {"runAsNonRoot": True}}, None)
    assert pod["securityContext"] == {"runAsNonRoot": True}
    assert "automountServiceAccountToken" not in pod and "enableServiceLinks" not in pod
    (container,) = pod["containers"]
    assert "securityContext" not in container and "resources" not in container
    # The template's explicit asks are still honoured without hardening.
    explicit = pod_of({"automountServiceAccountToken": False}, AS_WRITTEN)
    assert explicit["automountServiceAccountToken"] is False


def test_harden_never_changes_its_input() -> None:
    spec = {"containers": [{"name": "block", "image": "i"}], "securityContext": {"fsGroup": 1}}
    before = repr(spec)
    harden(spec, RESTRICTED)
    assert repr(spec) == before


def test_quantities_parse_and_bad_ones_name_the_flag_and_the_fix() -> None:
    assert parse_quantities("cpu=100m, memory=128Mi", "--default-requests") == {
        "cpu": "100m",
        "memory": "128Mi",
    }
    assert parse_quantities("", "--default-limits") == {}
    with pytest.raises(ValueError, match=r"--default-limits 'memory': 'memory' is not NAME="):
        parse_quantities("memory", "--default-limits")


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (403, 'pods "x" is forbidden: violates PodSecurity "restricted:latest": ...', True),
        (422, "ValidatingAdmissionPolicy 'p' denied request: ...", True),
        (403, 'pods "x" is forbidden: error looking up service account data/etl', True),
        (403, 'pods "x" is forbidden: exceeded quota: q, requested: pods=1', False),
        (
            403,
            'pods "x" is forbidden: User "system:serviceaccount:rw:rw" cannot create resource '
            '"pods" in API group "" in the namespace "data"',
            False,
        ),
        (409, "already exists", False),
        (429, "too many requests", False),
        (500, "etcd", False),
        (None, "connection refused", False),
    ],
)
def test_only_lasting_refusals_fail_an_attempt(
    status: int | None, message: str, refused: bool
) -> None:
    assert _refusal(status, message) is refused
