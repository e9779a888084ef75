"""Kubernetes-shaped fields checked as Kubernetes would check them, at apply time.

A Pipeline carries pieces of pod specs (resources, labels, env, volumes) that the
API server accepts as free-form objects and refuses only later, when the operator
creates the Job: the run then fails far from the mistake. Each type here checks its
value twice from one definition of the rule: in pydantic (so `runwright validate`
and the operator's Ready condition name the field) and in the CRD schema (a
pattern, or a CEL rule of bounded cost), so `kubectl apply` refuses it at once.
The Python value stays a plain dict: the Job builder passes it through as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, JsonValue, ValidationInfo, WithJsonSchema

K8sObject = dict[str, Any]

#: An environment variable name, as Kubernetes has always accepted it (portable to every
#: version; newer API servers accept more, but a Pipeline should run on all of them).
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: A resource quantity (the API server's own pattern: "100m", "1.5Gi", "2", "1e3").
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: A label value: at most 63 characters, alphanumeric at both ends.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
#: A label or annotation key: an optional DNS-subdomain prefix and a name.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Bounds that keep the CEL rules below inside the API server's cost budget.
MAX_LABELS = 64
MAX_VOLUMES = 64
#: The volume sources of core/v1 Volume: a volume names exactly one.
VOLUME_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
)


#: Validation context of a run's frozen copy of a Pipeline spec (status.pipelineSpec): it
#: was accepted when it was frozen, and a rule added since must not make a stored run
#: unreadable (the operator reads every run, finished ones too, at start).
FROZEN = "runwright.frozen"

T = TypeVar("T")


def is_frozen(info: ValidationInfo) -> bool:
    """True when validating a stored run's frozen spec (the rules here are skipped)."""
    return bool(info.context and info.context.get(FROZEN))


def rule(check: Callable[[T], T]) -> AfterValidator:
    """`check` as a pydantic validator, skipped for a frozen copy (FROZEN)."""

    def validate(value: T, info: ValidationInfo) -> T:
        return value if is_frozen(info) else check(value)

    return AfterValidator(validate)


def _free(description: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": description,
    }


# ----- environment variable names ----------------------------------------------------


def _env_name(name: str) -> str:
    if not re.fullmatch(ENV_NAME, name):
        raise ValueError(
            f'"{name}" is not a valid environment variable name: use letters, digits, "_", '
            '"-" and ".", not starting with a digit'
        )
    return name


EnvName = Annotated[
    str,
    rule(_env_name),
    Field(min_length=1, json_schema_extra={"pattern": ENV_NAME, "maxLength": 253}),
]

# ----- resources ---------------------------------------------------------------------

_QUANTITY_SCHEMA = {
    "description": 'A quantity: "500m", "1.5", "256Mi", "2Gi" or a whole number.',
    "pattern": QUANTITY,
    "x-kubernetes-int-or-string": True,
}
_RESOURCES_SCHEMA = {
    "type": "object",
    "properties": {
        "limits": {
            "type": "object",
            "additionalProperties": _QUANTITY_SCHEMA,
            "description": "Most of each resource the container may use, e.g. cpu: 500m.",
        },
        "requests": {
            "type": "object",
            "additionalProperties": _QUANTITY_SCHEMA,
            "description": "Resources the scheduler reserves, e.g. memory: 256Mi.",
        },
        "claims": {
            "type": "array",
            "items": _free("A ResourceClaim of the pod this container uses."),
            "description": "Dynamic resource claims (DRA), as Kubernetes has them.",
        },
    },
}


def _resources(value: K8sObject) -> K8sObject:
    unknown = sorted(set(value) - {"limits", "requests", "claims"})
    if unknown:
        raise ValueError(f'unknown field "{unknown[0]}"; resources has limits, requests, claims')
    for part in ("limits", "requests"):
        quantities = value.get(part) or {}
        if not isinstance(quantities, Mapping):
            raise ValueError(f"{part} must be a map of resource name to quantity")
        for resource, quantity in quantities.items():
            ok = isinstance(quantity, int) and not isinstance(quantity, bool)
            ok = ok or (isinstance(quantity, str) and re.fullmatch(QUANTITY, quantity) is not None)
            if not ok:
                raise ValueError(
                    f"{part}.{resource}: {quantity!r} is not a quantity; write e.g. "
                    '"500m", "1.5", "256Mi" or "2Gi" (a string; a bare number only when whole)'
                )
    return value


Resources = Annotated[K8sObject, rule(_resources), WithJsonSchema(_RESOURCES_SCHEMA)]

# ----- labels and annotations --------------------------------------------------------


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid label or annotation key (None when it is)."""
    prefix, _, name = key.rpartition("/")
    if re.fullmatch(QUALIFIED_NAME, key) is None or len(name) > 63 or len(prefix) > 253:
        return (
            f'"{key}" is not a valid key: an optional DNS prefix ("example.com/") and a name '
            'of at most 63 letters, digits, "-", "_" or ".", alphanumeric at both ends'
        )
    return None


def _key_rule(what: str) -> dict[str, Any]:
    return {
        # The size bound first: it caps what the regular expression has to read.
        "rule": f"self.all(k, k.size() <= 317 && k.matches(r'{QUALIFIED_NAME}'))",
        "message": f"every {what} key must be an optional DNS prefix and a name of at most 63 "
        'letters, digits, "-", "_" or ".", alphanumeric at both ends',
        "reason": "FieldValueInvalid",
    }


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        problem = key_problem(key)
        if problem is not None:
            raise ValueError(problem)
        if len(label) > 63 or re.fullmatch(LABEL_VALUE, label) is None:
            raise ValueError(
                f'{key}: "{label}" is not a valid label value: at most 63 letters, digits, '
                '"-", "_" or ".", alphanumeric at both ends (or empty)'
            )
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        problem = key_problem(key)
        if problem is not None:
            raise ValueError(problem)
    return value


Labels = Annotated[
    dict[str, str],
    rule(_labels),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_LABELS,
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE},
            "x-kubernetes-validations": [_key_rule("label")],
        }
    ),
]
Annotations = Annotated[
    dict[str, str],
    rule(_annotations),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_LABELS,
            "additionalProperties": {"type": "string"},
            "x-kubernetes-validations": [_key_rule("annotation")],
        }
    ),
]

# ----- variables ---------------------------------------------------------------------

#: Bounds of a variables map (Pipeline, Trigger, PipelineRun). A run copies its
#: variables into its status next to the frozen Pipeline spec, and the whole object must
#: stay under the API server's 1.5 MiB: a bigger map made every status write fail.
MAX_VARIABLES = 256
MAX_VARIABLE_CHARS = 64 * 1024
MAX_VARIABLES_CHARS = 256 * 1024


def _variables(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_VARIABLES:
        raise ValueError(f"at most {MAX_VARIABLES} variables")
    for name, text in value.items():
        if len(text) > MAX_VARIABLE_CHARS:
            raise ValueError(f"{name}: a value may be at most {MAX_VARIABLE_CHARS} characters")
    total = sum(len(k) + len(v) for k, v in value.items())
    if total > MAX_VARIABLES_CHARS:
        raise ValueError(
            f"{total} characters of variables; at most {MAX_VARIABLES_CHARS} in all (pass "
            "bulk data as a file or through a block's outputs)"
        )
    return value


VariableMap = Annotated[
    dict[str, str],
    rule(_variables),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_VARIABLES,
            "additionalProperties": {"type": "string", "maxLength": MAX_VARIABLE_CHARS},
            "x-kubernetes-validations": [
                {
                    "rule": f"self.map(k, k.size() + self[k].size()).sum() <= {MAX_VARIABLES_CHARS}",
                    "message": f"at most {MAX_VARIABLES_CHARS} characters of variables in all "
                    "(names and values)",
                    "reason": "FieldValueInvalid",
                }
            ],
        }
    ),
]

# ----- volumes -----------------------------------------------------------------------

_VOLUME_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 63,
            "pattern": DNS1123_LABEL,
            "description": "The volume's name, as volumeMounts name it.",
        },
        **{source: _free(f"A Kubernetes {source} volume source.") for source in VOLUME_SOURCES},
    },
    "x-kubernetes-validations": [
        {
            "rule": "["
            + ", ".join(f"has(self.{source})" for source in VOLUME_SOURCES)
            + "].exists_one(x, x)",
            "message": "a volume needs exactly one source (emptyDir, configMap, secret, "
            "persistentVolumeClaim, ...) besides its name",
            "reason": "FieldValueInvalid",
        }
    ],
}
_MOUNT_SCHEMA = {
    "type": "object",
    "required": ["name", "mountPath"],
    "properties": {
        "name": {"type": "string", "maxLength": 63, "description": "The volume to mount."},
        "mountPath": {
            "type": "string",
            "minLength": 1,
            "description": "Where in the container to mount it.",
        },
    },
    "x-kubernetes-preserve-unknown-fields": True,
}


def _volume(value: K8sObject) -> K8sObject:
    name = value.get("name")
    if not isinstance(name, str) or re.fullmatch(DNS1123_LABEL, name) is None or len(name) > 63:
        raise ValueError(f"a volume needs a name that is a DNS-1123 label, not {name!r}")
    unknown = sorted(set(value) - {"name", *VOLUME_SOURCES})
    if unknown:
        raise ValueError(f'volume "{name}": "{unknown[0]}" is not a volume source')
    if len(value) != 2:
        raise ValueError(
            f'volume "{name}" needs exactly one source (emptyDir, configMap, secret, '
            f"persistentVolumeClaim, ...), it has {len(value) - 1}"
        )
    return value


def _mount(value: K8sObject) -> K8sObject:
    for key in ("name", "mountPath"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise ValueError(f"a volume mount needs {key}")
    return value


Volume = Annotated[K8sObject, rule(_volume), WithJsonSchema(_VOLUME_SCHEMA)]
VolumeMount = Annotated[K8sObject, rule(_mount), WithJsonSchema(_MOUNT_SCHEMA)]

#: The CEL rule (on the pod template) that every mount names a volume of the template.
MOUNTS_NAME_VOLUMES: dict[str, JsonValue] = {
    "rule": "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) "
    "&& self.volumes.exists(v, v.name == m.name))",
    "message": "spec.template.volumeMounts[].name must name a volume in spec.template.volumes",
    "fieldPath": ".volumeMounts",
    "reason": "FieldValueInvalid",
}
