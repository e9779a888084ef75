"""The Pipeline resource: a DAG of blocks (containers) and the defaults they run with."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from runwright.api.common import (
    DNS1123_LABEL,
    MAX_SECONDS,
    Condition,
    Model,
    ObjectMeta,
    RunRecord,
    TimeoutStatus,
)
from runwright.api.fanout import ForEach
from runwright.api.kube_types import (
    MAX_VOLUMES,
    MOUNTS_NAME_VOLUMES,
    Annotations,
    EnvName,
    Labels,
    Resources,
    VariableMap,
    Volume,
    VolumeMount,
    is_frozen,
    rule,
)
from runwright.api.notifications import MAX_NOTIFICATIONS, Notification

#: Hard bounds keep the CRD's CEL rules inside the API server's cost budget. The CRD
#: keeps only rules whose cost grows linearly with the blocks (each block's own fields);
#: the rules that compare blocks with each other (every upstream names a block, no
#: cycles) cost blocks x blocks x upstreams and are checked by the operator instead,
#: which says so in the Pipeline's Ready condition (engine.dag). Names stay unique at
#: apply time through the list-map key (no CEL cost). Measured on the bundled API
#: server: with maxItems 1,000 the old "every upstream names a block" rule is refused
#: at CRD install (estimated cost 6.4x the budget); the rules kept accept 1,000 blocks
#: x 50 upstreams of 55-character names (3.05 MB), where the API server's 3 MiB
#: request limit binds before CEL does. tests/integration/test_limits.py applies both
#: bounds and one past each.
MAX_BLOCKS = 1000
MAX_UPSTREAM = 50
#: spec.finally holds a few cleanup/notify blocks; kept small so its CEL rules (and the
#: block schema's own, counted once more per finally block) stay cheap.
MAX_FINALLY = 10

K8sObject = dict[str, Any]

#: A block name: a DNS-1123 label. Bounded so the CRD's CEL rules have a bounded cost.
BlockName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL)]


def _no_duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f'"{name}" is listed twice; list each upstream block once')
        seen.add(name)
    return names


class EnvVar(Model):
    """An environment variable of a block; `value` may hold {{ }} templates."""

    name: EnvName = Field(
        description='Variable name: letters, digits, "_", "-" and ".", not starting with a digit.'
    )
    value: str | None = Field(
        default=None,
        description="Value; may use {{ variables.X }}, {{ run.* }} and upstream outputs.",
    )
    value_from: K8sObject | None = Field(
        default=None,
        description="A Kubernetes EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef...).",
    )


class PodTemplate(Model):
    """Pod-level defaults every block inherits; plain Kubernetes types."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [MOUNTS_NAME_VOLUMES]})

    image: str | None = Field(
        default=None,
        json_schema_extra={"minLength": 1},
        description="Default container image for blocks.",
    )
    service_account_name: str | None = Field(
        default=None, description="ServiceAccount the block pods run as."
    )
    env: list[EnvVar] = Field(default_factory=list, description="Environment for every block.")
    env_from: list[K8sObject] = Field(
        default_factory=list, description="Kubernetes EnvFromSource list for every block."
    )
    resources: Resources | None = Field(
        default=None, description="Default Kubernetes ResourceRequirements."
    )
    node_selector: Labels = Field(
        default_factory=dict, description="Node labels the block pods must match."
    )
    tolerations: list[K8sObject] = Field(default_factory=list, description="Pod tolerations.")
    affinity: K8sObject | None = Field(default=None, description="Kubernetes Affinity.")
    image_pull_secrets: list[K8sObject] = Field(
        default_factory=list, description="Secrets used to pull images."
    )
    security_context: K8sObject | None = Field(
        default=None,
        description="Kubernetes PodSecurityContext; its fields win over the operator's "
        "restricted defaults (runAsNonRoot, runAsUser 65532, RuntimeDefault seccomp).",
    )
    container_security_context: K8sObject | None = Field(
        default=None,
        description="Kubernetes SecurityContext of every block container; its fields win over "
        "the restricted defaults (allowPrivilegeEscalation false, capabilities drop ALL). "
        "Admission policy decides what a namespace may ask for (docs/security.md).",
    )
    automount_service_account_token: bool | None = Field(
        default=None,
        description="Mount the ServiceAccount's API token in block pods; default false.",
    )
    volumes: list[Volume] = Field(
        default_factory=list,
        max_length=MAX_VOLUMES,
        description="Pod volumes: each a name and exactly one source.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        max_length=MAX_VOLUMES,
        description="Volume mounts of every block container; each names one of volumes.",
    )
    labels: Labels = Field(default_factory=dict, description="Extra labels on block pods.")
    annotations: Annotations = Field(
        default_factory=dict, description="Extra annotations on block pods."
    )

    @model_validator(mode="after")
    def _mounts_name_volumes(self, info: ValidationInfo) -> PodTemplate:
        """A mount of a volume the pod does not have fails only when the Job is created."""
        if is_frozen(info):
            return self
        volumes = {v.get("name") for v in self.volumes}
        for mount in self.volume_mounts:
            if mount.get("name") not in volumes:
                raise ValueError(
                    f'volumeMounts: "{mount.get("name")}" names no volume of template.volumes'
                )
        return self


class OnLimit(StrEnum):
    """What a new run does when its pipeline already has pipelineRunLimit active runs."""

    WAIT = "Wait"
    SKIP = "Skip"


class Concurrency(Model):
    """Limits on how much of this pipeline runs at once."""

    block_run_limit: int | None = Field(
        default=None, ge=1, description="Blocks running at once inside one run; unset = no limit."
    )
    pipeline_run_limit: int | None = Field(
        default=None, ge=1, description="Active runs of this pipeline; unset = no limit."
    )
    on_limit: OnLimit = Field(
        default=OnLimit.WAIT,
        description="Wait: the new run is Queued. Skip: it ends Cancelled, reason ConcurrencyLimit.",
    )


class RetryPolicy(Model):
    """Automatic retries of a failed block; a block's policy overrides the pipeline's field by field."""

    limit: int | None = Field(
        default=None, ge=0, le=100, description="Extra attempts after the first (default 0)."
    )
    backoff_seconds: int | None = Field(
        default=None, ge=0, le=MAX_SECONDS, description="Delay before attempt 2 (default 10)."
    )
    backoff_factor: float | None = Field(
        default=None, ge=1, le=10, description="Multiplier per further attempt (default 2)."
    )
    max_backoff_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description="Upper bound of any one delay (default 300).",
    )


class Retention(Model):
    """How long finished runs are kept, per phase; unset = kept forever."""

    succeeded_seconds: int | None = Field(
        default=None, ge=0, le=MAX_SECONDS, description="Keep Succeeded runs."
    )
    failed_seconds: int | None = Field(
        default=None, ge=0, le=MAX_SECONDS, description="Keep Failed runs."
    )
    cancelled_seconds: int | None = Field(
        default=None, ge=0, le=MAX_SECONDS, description="Keep Cancelled runs."
    )


class ExecutorKind(StrEnum):
    """Where a Pipeline's blocks run in the cluster (`spec.executor`)."""

    POD = "Pod"
    JOB = "Job"


class BlockType(StrEnum):
    """What a block does; informational, shown as a label."""

    LOADER = "Loader"
    TRANSFORMER = "Transformer"
    EXPORTER = "Exporter"
    SENSOR = "Sensor"
    CUSTOM = "Custom"


class ConditionOperator(StrEnum):
    """How a `when` condition compares its rendered input."""

    IN = "In"
    NOT_IN = "NotIn"
    EQUALS = "Equals"
    NOT_EQUALS = "NotEquals"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class WhenCondition(Model):
    """One condition a block needs to run; false makes it ConditionFailed."""

    input: str = Field(
        description="A {{ }} template rendered at run time, e.g. {{ variables.env }}."
    )
    operator: ConditionOperator = Field(
        description="In/NotIn: input is (not) one of values. Equals/NotEquals: input is (not) "
        "values[0]. Exists/DoesNotExist: input is non-empty/empty."
    )
    values: list[str] = Field(default_factory=list, description="Values to compare with.")


class Block(Model):
    """One step of the pipeline: a container run as a Kubernetes Job (or a local process)."""

    # A rule of one block's own fields: its cost grows with the blocks, not their square.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.upstream) || !(self.name in self.upstream)",
                    "message": "a block cannot be its own upstream",
                    "fieldPath": ".upstream",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS1123_LABEL,
        description="DNS-1123 label, unique in the pipeline.",
    )
    type: BlockType = Field(default=BlockType.CUSTOM, description="Informational block type.")
    image: str | None = Field(
        default=None,
        json_schema_extra={"minLength": 1},
        description="Container image; default template.image.",
    )
    command: list[str] = Field(
        default_factory=list, description="Entrypoint; never run through a shell."
    )
    args: list[str] = Field(default_factory=list, description="Arguments; may use {{ }} templates.")
    env: list[EnvVar] = Field(
        default_factory=list, description="Extra environment; values may use {{ }} templates."
    )
    resources: Resources | None = Field(
        default=None, description="Kubernetes ResourceRequirements; default template.resources."
    )
    upstream: Annotated[list[BlockName], rule(_no_duplicates)] = Field(
        default_factory=list,
        max_length=MAX_UPSTREAM,
        description="Names of blocks that must succeed before this one starts (each once).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    when: list[WhenCondition] = Field(
        default_factory=list, description="Conditions that must all hold, else ConditionFailed."
    )
    retry: RetryPolicy | None = Field(
        default=None, description="Overrides spec.retry field by field."
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SECONDS,
        description="Limit of one attempt; an attempt over it fails (Timeout).",
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Extra labels on this block's pods (over template.labels).",
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description="Extra annotations on this block's pods (over template.annotations).",
    )
    allow_failure: bool = Field(
        default=False,
        description="True: this block's failure does not fail the run and downstream blocks "
        "still start.",
    )
    for_each: ForEach | None = Field(
        default=None,
        description="Fan-out: run the block once per item, each item its own attempt chain; "
        "downstream blocks wait for every item and read its outputs as JSON lists.",
    )


class PipelineSpec(Model):
    """What a Pipeline is: blocks, their DAG and the defaults every run uses."""

    # CEL rules the API server checks at `kubectl apply` time; the operator and
    # `runwright validate` say the same with a did-you-mean (engine.dag), and check
    # what CEL cannot afford at MAX_BLOCKS: upstream names exist, no cycles.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    # In a cluster every block is a container: it needs an image from
                    # somewhere (local mode runs commands and needs none).
                    "rule": "(has(self.template) && has(self.template.image)) "
                    "|| self.blocks.all(b, has(b.image))",
                    "message": "spec.blocks[].image: every block needs an image; set "
                    "spec.template.image, or image on each block",
                    "fieldPath": ".blocks",
                    "reason": "FieldValueRequired",
                },
                # spec.finally (docs/finally.md): names unique across both lists, and a
                # finally block waits only for other finally blocks (every block of
                # spec.blocks is done before any finally block starts).
                {
                    "rule": "!has(self.finally) || !sets.intersects("
                    "self.blocks.map(b, b.name), self.finally.map(f, f.name))",
                    "message": "spec.finally[].name: a finally block cannot have the name of a "
                    "block in spec.blocks; names are unique across blocks and finally",
                    "fieldPath": ".finally",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "!has(self.finally) || self.finally.all(f, !has(f.upstream) "
                    "|| sets.contains(self.finally.map(x, x.name), f.upstream))",
                    "message": "spec.finally[].upstream: may name only other finally blocks "
                    "(every block of spec.blocks has finished before finally starts)",
                    "fieldPath": ".finally",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "!has(self.finally) || self.finally.all(f, !has(f.upstream) "
                    "|| !(f.name in f.upstream))",
                    "message": "spec.finally[].upstream: a block cannot be its own upstream",
                    "fieldPath": ".finally",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "(has(self.template) && has(self.template.image)) "
                    "|| !has(self.finally) || self.finally.all(b, has(b.image))",
                    "message": "spec.finally[].image: every finally block needs an image; set "
                    "spec.template.image, or image on each finally block",
                    "fieldPath": ".finally",
                    "reason": "FieldValueRequired",
                },
            ]
        }
    )

    description: str | None = Field(default=None, description="What the pipeline does.")
    template: PodTemplate = Field(
        default_factory=PodTemplate, description="Pod-level defaults for every block."
    )
    variables: VariableMap = Field(
        default_factory=dict, description="Default runtime variables (string values)."
    )
    concurrency: Concurrency = Field(
        default_factory=Concurrency, description="Run and block concurrency limits."
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Default retry policy of every block."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=MAX_SECONDS, description="Limit of the whole run; unset = no limit."
    )
    timeout_status: TimeoutStatus = Field(
        default=TimeoutStatus.FAILED, description="Phase of a run that times out."
    )
    sla_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SECONDS,
        description="A run should finish within this of its executionDate.",
    )
    fail_fast: bool = Field(
        default=True,
        description="True: a failed block cancels the rest of the run. False: independent "
        "branches go on.",
    )
    retention: Retention = Field(
        default_factory=Retention, description="Delete finished runs after these many seconds."
    )
    notifications: list[Notification] = Field(
        default_factory=list,
        max_length=MAX_NOTIFICATIONS,
        description="Where to report the run's outcome and SLA misses: webhooks or Slack "
        "(docs/notifications.md).",
    )
    executor: ExecutorKind | None = Field(
        default=None,
        description="Pod: the operator creates each block attempt's pod itself. Job: a "
        "batch/v1 Job per attempt (e.g. to queue them with Kueue). Unset: the operator's "
        "--executor. Ignored by --executor local and `runwright run`.",
    )
    blocks: list[Block] = Field(
        min_length=1,
        max_length=MAX_BLOCKS,
        description="The blocks; a DAG through upstream. Names are unique.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    finally_: list[Block] = Field(
        default_factory=list,
        alias="finally",
        max_length=MAX_FINALLY,
        description="Blocks run once every block of spec.blocks is finished, whatever the "
        "outcome (also after a cancel or a timeout): cleanup, notification. Their templates "
        "may read {{ run.phase }}, {{ run.reason }}, {{ run.failedBlocks }} and any block's "
        "outputs; their upstream may name only other finally blocks. Names are unique "
        "across blocks and finally. See docs/finally.md.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class PipelineStatus(Model):
    """What the operator last observed of a Pipeline."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready True when valid; False with CycleDetected, UnknownUpstream, "
        "DuplicateBlock or InvalidTemplate.",
    )
    block_count: int | None = Field(default=None, description="Number of blocks.")
    active_runs: int | None = Field(default=None, description="Runs not yet finished.")
    last_run: RunRecord | None = Field(default=None, description="The most recent run.")


class Pipeline(Model):
    """A Pipeline manifest."""

    api_version: Literal["runwright.dev/v1alpha1"] = "runwright.dev/v1alpha1"
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec
    status: PipelineStatus | None = None
