"""The PipelineRun resource: one execution of a Pipeline, and everything observed of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from runwright.api.common import (
    DNS1123_SUBDOMAIN,
    LATEST_DATE,
    MAX_SECONDS,
    Condition,
    LocalObjectReference,
    Model,
    ObjectMeta,
    Time,
    TimeoutStatus,
)
from runwright.api.fanout import FanOutStatus
from runwright.api.kube_types import FROZEN, VariableMap
from runwright.api.notifications import MAX_DELIVERIES, NotificationStatus
from runwright.api.pipeline import PipelineSpec
from runwright.api.trigger import RunPhase


class TriggeredBy(StrEnum):
    """What created the run."""

    MANUAL = "Manual"
    SCHEDULE = "Schedule"
    ONCE = "Once"
    ALWAYS_ON = "AlwaysOn"
    EVENT = "Event"
    API = "API"
    RERUN = "Rerun"


class RetryMode(StrEnum):
    """Which blocks an in-place retry runs again."""

    INCOMPLETE = "Incomplete"
    FROM_BLOCK = "FromBlock"


class PipelineSpecSource(StrEnum):
    """Which Pipeline spec a retry or a rerun runs: the run's frozen copy, or the live one."""

    FROZEN = "Frozen"
    CURRENT = "Current"


#: How many attempts `status.blocks.NAME.attempts` keeps (the latest ones).
MAX_ATTEMPT_HISTORY = 10


class RetryRequest(Model):
    """Ask for an in-place retry of a finished run; bump `id` to ask again."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.mode != 'FromBlock' || has(self.fromBlock)",
                    "message": "spec.retry.fromBlock is required when spec.retry.mode is FromBlock",
                    "fieldPath": ".fromBlock",
                }
            ]
        }
    )

    id: str = Field(min_length=1, description="Any new value asks for one more retry.")
    mode: RetryMode = Field(
        default=RetryMode.INCOMPLETE,
        description="Incomplete: every block not Succeeded/ConditionFailed. FromBlock: fromBlock "
        "and everything downstream of it.",
    )
    from_block: str | None = Field(default=None, description="For mode FromBlock: the block.")
    pipeline_spec: PipelineSpecSource = Field(
        default=PipelineSpecSource.FROZEN,
        description="Frozen: run the spec frozen at start. Current: re-freeze from the Pipeline "
        "as it is now (blocks still Succeeded keep their state and outputs, new blocks start "
        "Pending, blocks gone from the Pipeline leave the run).",
    )


class RerunReference(Model):
    """The earlier run a rerun repeats, and which Pipeline spec it runs."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description="Name of the earlier PipelineRun in the same namespace.",
    )
    pipeline_spec: PipelineSpecSource = Field(
        default=PipelineSpecSource.FROZEN,
        description="Frozen: the earlier run's frozen spec. Current: the Pipeline as it is now "
        "(the earlier run's variables and executionDate still apply).",
    )


class PipelineRunSpec(Model):
    """What to run: which pipeline, with which inputs, and requests to the running run."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.pipelineRef == oldSelf.pipelineRef",
                    "message": "spec.pipelineRef is immutable: create a new PipelineRun instead",
                    "fieldPath": ".pipelineRef",
                },
                {
                    "rule": "!has(self.executionDate) "
                    f"|| timestamp(self.executionDate) < timestamp('{LATEST_DATE}')",
                    "message": f"spec.executionDate must be before {LATEST_DATE}",
                    "fieldPath": ".executionDate",
                    "reason": "FieldValueInvalid",
                },
            ]
        }
    )

    pipeline_ref: LocalObjectReference = Field(description="The pipeline to run.")
    variables: VariableMap = Field(
        default_factory=dict, description="Override trigger and pipeline variables."
    )
    execution_date: Time | None = Field(
        default=None, description="The logical date of the run; default: creation time."
    )
    trigger_ref: LocalObjectReference | None = Field(
        default=None, description="The trigger that made this run, if any."
    )
    triggered_by: TriggeredBy = Field(default=TriggeredBy.MANUAL, description="What made the run.")
    cancel: bool = Field(default=False, description="Set true to cancel the run.")
    skip_finally: bool | None = Field(
        default=None,
        description="True: the Pipeline's finally blocks do not run, and running ones are "
        "stopped (Cancelled); with cancel it ends the run at once (Tekton's Cancelled, "
        "Argo's terminate). Unset or false: cancel and timeout still run finally "
        "(docs/finally.md).",
    )
    retry: RetryRequest | None = Field(default=None, description="In-place retry request.")
    rerun_of: RerunReference | None = Field(
        default=None,
        description="Run again with the same inputs as this earlier run (triggeredBy is then "
        "Rerun unless set).",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SECONDS,
        description="Overrides the pipeline's (and trigger's) timeout.",
    )
    timeout_status: TimeoutStatus | None = Field(
        default=None, description="Overrides the pipeline's (and trigger's) timeoutStatus."
    )
    sla_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SECONDS,
        description="Overrides the pipeline's (and trigger's) SLA.",
    )

    @field_validator("execution_date")
    @classmethod
    def _not_too_late(cls, value: datetime | None) -> datetime | None:
        """Durations are added to it: a date near the year 9999 would overflow."""
        if value is not None and value >= datetime.fromisoformat(LATEST_DATE):
            raise ValueError(f"must be before {LATEST_DATE}")
        return value

    @model_validator(mode="after")
    def _rerun_is_triggered_by_rerun(self) -> PipelineRunSpec:
        """A rerun that does not say what made it was made by a rerun request."""
        if self.rerun_of is not None and "triggered_by" not in self.model_fields_set:
            self.triggered_by = TriggeredBy.RERUN
        return self


class BlockPhase(StrEnum):
    """The phase of one block within a run."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    RETRYING = "Retrying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    UPSTREAM_FAILED = "UpstreamFailed"
    CONDITION_FAILED = "ConditionFailed"

    @property
    def finished(self) -> bool:
        """True once nothing more will happen to the block (until a retry request)."""
        return self in _FINISHED_BLOCK_PHASES


_FINISHED_BLOCK_PHASES = frozenset(
    {
        BlockPhase.SUCCEEDED,
        BlockPhase.FAILED,
        BlockPhase.CANCELLED,
        BlockPhase.UPSTREAM_FAILED,
        BlockPhase.CONDITION_FAILED,
    }
)


class AttemptRecord(Model):
    """One attempt of a block, as `kubectl get -o yaml` tells the retry story."""

    attempt: int = Field(ge=1, description="The attempt number (1 = first).")
    phase: BlockPhase = Field(description="Running, or how the attempt ended.")
    reason: str = Field(default="", description="CamelCase cause of how it ended.")
    exit_code: int | None = Field(default=None, description="The attempt's exit code.")
    started_at: Time | None = Field(default=None, description="When the attempt started.")
    completed_at: Time | None = Field(default=None, description="When the attempt ended.")


class BlockStatus(Model):
    """What happened to one block of the run."""

    phase: BlockPhase = Field(default=BlockPhase.PENDING, description="The block's phase.")
    attempt: int = Field(
        default=0, ge=0, description="The latest attempt number (1 = first); 0 = never started."
    )
    retries: int = Field(
        default=0, ge=0, description="Automatic retries used since the run (or retry) began."
    )
    job: str | None = Field(default=None, description="The Job (or process) of the latest attempt.")
    ready_at: Time | None = Field(
        default=None, description="When the block became ready to start (for start latency)."
    )
    started_at: Time | None = Field(default=None, description="When the latest attempt started.")
    completed_at: Time | None = Field(default=None, description="When the block finished.")
    next_attempt_at: Time | None = Field(
        default=None, description="While Retrying: when the next attempt may start."
    )
    exit_code: int | None = Field(default=None, description="Exit code of the latest attempt.")
    reason: str = Field(default="", description="CamelCase cause of the phase, e.g. Timeout.")
    message: str = Field(default="", description="The last lines of the error for a failure.")
    outputs: dict[str, str] = Field(
        default_factory=dict, description="Outputs the block reported (string values)."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Numeric metrics the block reported."
    )
    attempts: list[AttemptRecord] = Field(
        default_factory=list,
        max_length=MAX_ATTEMPT_HISTORY,
        description=f"The latest attempts, oldest first (at most {MAX_ATTEMPT_HISTORY}; fewer "
        "in a run of over 160 blocks, down to the latest one, so its status stays bounded).",
    )
    items: FanOutStatus | None = Field(
        default=None, description="A forEach block's items (bounded: see FanOutStatus)."
    )


class FinallyPhase(StrEnum):
    """Where a run's finally blocks are (`status.finally.phase`)."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


#: How many failed blocks `status.finally.failedBlocks` (and {{ run.failedBlocks }}) name.
MAX_FAILED_BLOCKS = 50


class FinallyStatus(Model):
    """The DAG's outcome, kept while the finally blocks run, and how they did."""

    phase: FinallyPhase = Field(description="Running, Succeeded, Failed or Skipped.")
    run_phase: RunPhase = Field(
        description="How the blocks of spec.blocks ended ({{ run.phase }}): the run's phase "
        "once finally is done, except that a finally failure fails a Succeeded run."
    )
    reason: str = Field(default="", description="The DAG's reason ({{ run.reason }}).")
    message: str = Field(default="", description="The DAG's message.")
    failed_blocks: list[str] = Field(
        default_factory=list,
        max_length=MAX_FAILED_BLOCKS,
        description="Blocks of spec.blocks that Failed ({{ run.failedBlocks }}), in DAG "
        f"order, at most {MAX_FAILED_BLOCKS}.",
    )
    started_at: Time | None = Field(default=None, description="When the finally blocks began.")
    completed_at: Time | None = Field(default=None, description="When they were all done.")


class PipelineRunStatus(Model):
    """Everything observed of the run; written only by the operator."""

    observed_generation: int | None = Field(default=None, description="Generation described.")
    phase: RunPhase | None = Field(
        default=None, description="Pending, Queued, Running, Succeeded, Failed or Cancelled."
    )
    reason: str = Field(
        default="", description="CamelCase cause, e.g. Timeout, BlockFailed, ConcurrencyLimit."
    )
    message: str = Field(default="", description="Human-readable details.")
    execution_date: Time | None = Field(
        default=None, description="The run's logical date, resolved at start."
    )
    started_at: Time | None = Field(
        default=None, description="When the run (or its latest retry) started running."
    )
    completed_at: Time | None = Field(default=None, description="When the run finished.")
    duration_seconds: int | None = Field(
        default=None, description="completedAt - startedAt, in whole seconds."
    )
    duration: str | None = Field(
        default=None, description='durationSeconds in human units, e.g. "1m32s".'
    )
    progress: str | None = Field(
        default=None,
        description="Blocks completed successfully (Succeeded, ConditionFailed, or failed under "
        'allowFailure) / all blocks: "2/4".',
    )
    failed_block: str | None = Field(
        default=None, description="The first block (in DAG order) that failed the run."
    )
    sla_missed: bool = Field(default=False, description="The run was unfinished past its SLA.")
    timed_out: bool = Field(default=False, description="The run exceeded its timeout.")
    retry_id: str | None = Field(default=None, description="The last retry request handled.")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Resolved variables: pipeline < trigger < run."
    )
    pipeline_generation: int | None = Field(
        default=None,
        description="The Pipeline's metadata.generation the run (or its latest retry) froze.",
    )
    pipeline_spec: PipelineSpec | None = Field(
        default=None,
        description="Frozen copy of the Pipeline's spec taken at start; edits to the Pipeline "
        "never change a run in flight.",
    )
    blocks: dict[str, BlockStatus] = Field(
        default_factory=dict, description="Each block's status, by block name."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Sums of the numeric block metrics."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Run conditions.")
    notifications: list[NotificationStatus] = Field(
        default_factory=list,
        max_length=MAX_DELIVERIES,
        description="Each notification of this run: its event, target and delivery state.",
    )
    finally_: FinallyStatus | None = Field(
        default=None,
        alias="finally",
        description="Set once the blocks are done and the Pipeline has finally blocks: the "
        "DAG's outcome while they run, then how they ended.",
    )

    @field_validator("pipeline_spec", mode="wrap")
    @classmethod
    def _frozen_as_stored(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A frozen spec stays readable when rules were added after it was frozen."""
        try:
            return handler(value)
        except ValidationError:
            if not isinstance(value, dict):
                raise
            return PipelineSpec.model_validate(value, context={FROZEN: True})


class PipelineRun(Model):
    """A PipelineRun manifest."""

    api_version: Literal["runwright.dev/v1alpha1"] = "runwright.dev/v1alpha1"
    kind: Literal["PipelineRun"] = "PipelineRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineRunSpec
    status: PipelineRunStatus | None = None
