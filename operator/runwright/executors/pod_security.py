"""Restricted-ready block pods: the hardening every block pod gets unless its Pipeline asks.

Pure (a pod spec in, a new pod spec out), so every rule is a unit test. By default a
block pod satisfies Pod Security "restricted" and is not BestEffort:

- pod securityContext: runAsNonRoot, runAsUser/runAsGroup 65532 (so images built to
  run as root still start under runAsNonRoot), seccompProfile RuntimeDefault;
- every container: allowPrivilegeEscalation false, capabilities drop ALL;
- automountServiceAccountToken false (a block that calls the API asks for its token
  with template.automountServiceAccountToken), enableServiceLinks false;
- default requests and limits (operator settings) for what the block sets none of.

What the Pipeline's template says wins, field by field (template.securityContext,
template.containerSecurityContext, template.automountServiceAccountToken,
resources): admission decides whether the namespace allows it (the chart's
ValidatingAdmissionPolicies, the namespace's Pod Security level), not the operator.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The non-root user and group a block runs as when its template names none: the
#: conventional "nonroot" id of distroless images, and runner-image's USER.
NONROOT_ID = 65532

#: The pod securityContext defaults; the template's own fields win.
POD_SECURITY_DEFAULTS: Mapping[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NONROOT_ID,
    "runAsGroup": NONROOT_ID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: Every container's securityContext defaults; template.containerSecurityContext wins.
CONTAINER_SECURITY_DEFAULTS: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class PodDefaults:
    """What the operator puts in a block pod that its Pipeline leaves unset.

    `requests` and `limits` are Kubernetes quantities by resource name (e.g.
    {"cpu": "100m", "memory": "128Mi"}); each applies to a container that sets no
    value for that resource. `harden` False turns the securityContext, token and
    service-link defaults off (an escape hatch for clusters that cannot run them).
    """

    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    harden: bool = True


#: The operator's default: hardened, no default resources.
RESTRICTED = PodDefaults()
#: No defaults at all: the pod exactly as its Pipeline wrote it.
AS_WRITTEN = PodDefaults(harden=False)


def parse_quantities(text: str, flag: str) -> dict[str, str]:
    """`cpu=100m,memory=128Mi` as a dict; ValueError naming `flag` and the fix otherwise.

    An empty text is no defaults. Values are checked by the API server (it knows every
    quantity form); here only the shape NAME=VALUE is.
    """
    found: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(
                f"{flag} {text!r}: {part!r} is not NAME=QUANTITY; write e.g. cpu=100m,memory=128Mi"
            )
        found[name.strip()] = value.strip()
    return found


def _merged(defaults: Mapping[str, Any], ours: Any) -> dict[str, Any]:
    """The defaults with the template's fields over them (one level: a field is whole)."""
    merged = copy.deepcopy(dict(defaults))
    if isinstance(ours, Mapping):
        merged.update(copy.deepcopy(dict(ours)))
    return merged


def _resources(current: Any, defaults: PodDefaults) -> dict[str, Any] | None:
    """A container's resources with the defaults added where it names no value.

    A limit the container sets without a request makes Kubernetes default the request
    to the limit; a default request above that limit would be refused, so a request
    default is skipped for a resource the container limits.
    """
    resources = copy.deepcopy(dict(current)) if isinstance(current, Mapping) else {}
    requests = dict(resources.get("requests") or {})
    limits = dict(resources.get("limits") or {})
    for name, value in defaults.limits.items():
        if name not in limits and name not in requests:
            limits[name] = value
    for name, value in defaults.requests.items():
        if name not in requests and name not in (resources.get("limits") or {}):
            requests[name] = value
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources or None


def harden(
    pod_spec: Mapping[str, Any],
    defaults: PodDefaults = RESTRICTED,
    *,
    container_security_context: Mapping[str, Any] | None = None,
    automount_service_account_token: bool | None = None,
) -> dict[str, Any]:
    """A copy of `pod_spec` with the restricted defaults under what it already says.

    `container_security_context` and `automount_service_account_token` are the
    template's (PodTemplate fields that have no place in a bare pod spec until here).
    The input is never changed.
    """
    spec = copy.deepcopy(dict(pod_spec))
    containers = [dict(c) for c in spec.get("containers") or []]
    for container in containers:
        if defaults.requests or defaults.limits:
            resources = _resources(container.get("resources"), defaults)
            if resources is not None:
                container["resources"] = resources
        if defaults.harden:
            container["securityContext"] = _merged(
                CONTAINER_SECURITY_DEFAULTS, container_security_context
            )
        elif container_security_context:
            container["securityContext"] = copy.deepcopy(dict(container_security_context))
    spec["containers"] = containers
    if defaults.harden:
        pod_context = _merged(POD_SECURITY_DEFAULTS, spec.get("securityContext"))
        if pod_context.get("runAsNonRoot") is False or pod_context.get("runAsUser") == 0:
            # Asking for root (runAsUser 0 or runAsNonRoot false) drops our non-root
            # defaults rather than contradicting them: admission judges the request.
            for key in ("runAsNonRoot", "runAsUser", "runAsGroup"):
                if key not in (spec.get("securityContext") or {}):
                    pod_context.pop(key, None)
        spec["securityContext"] = pod_context
        spec["automountServiceAccountToken"] = bool(automount_service_account_token)
        spec.setdefault("enableServiceLinks", False)
    elif automount_service_account_token is not None:
        spec["automountServiceAccountToken"] = automount_service_account_token
    return spec


__all__ = [
    "AS_WRITTEN",
    "CONTAINER_SECURITY_DEFAULTS",
    "NONROOT_ID",
    "POD_SECURITY_DEFAULTS",
    "RESTRICTED",
    "PodDefaults",
    "harden",
    "parse_quantities",
]
