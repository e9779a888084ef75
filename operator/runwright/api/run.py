"""The PipelineRun resource: one execution of a Pipeline, and everything observed of it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from runwright.api.common import (
    Condition,
    LocalObjectReference,
    Model,
    ObjectMeta,
    Time,
    TimeoutStatus,
)
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


class PipelineRunSpec(Model):
    """What to run: which pipeline, with which inputs, and requests to the running run."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.pipelineRef == oldSelf.pipelineRef",
                    "message": "spec.pipelineRef is immutable: create a new PipelineRun instead",
                    "fieldPath": ".pipelineRef",
                }
            ]
        }
    )

    pipeline_ref: LocalObjectReference = Field(description="The pipeline to run.")
    variables: dict[str, str] = Field(
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
    retry: RetryRequest | None = Field(default=None, description="In-place retry request.")
    rerun_of: LocalObjectReference | None = Field(
        default=None, description="Run again with the same inputs as this earlier run."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, description="Overrides the pipeline's (and trigger's) timeout."
    )
    timeout_status: TimeoutStatus | None = Field(
        default=None, description="Overrides the pipeline's (and trigger's) timeoutStatus."
    )
    sla_seconds: int | None = Field(
        default=None, ge=1, description="Overrides the pipeline's (and trigger's) SLA."
    )


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
    progress: str | None = Field(default=None, description='Finished blocks / all blocks: "2/4".')
    sla_missed: bool = Field(default=False, description="The run was unfinished past its SLA.")
    timed_out: bool = Field(default=False, description="The run exceeded its timeout.")
    retry_id: str | None = Field(default=None, description="The last retry request handled.")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Resolved variables: pipeline < trigger < run."
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


class PipelineRun(Model):
    """A PipelineRun manifest."""

    api_version: Literal["runwright.dev/v1alpha1"] = "runwright.dev/v1alpha1"
    kind: Literal["PipelineRun"] = "PipelineRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineRunSpec
    status: PipelineRunStatus | None = None
