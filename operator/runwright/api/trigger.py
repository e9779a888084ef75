"""The Trigger resource: what makes PipelineRuns (a schedule, once, always-on, an event, an API call)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema

from runwright.api.common import (
    MAX_SECONDS,
    Condition,
    LocalObjectReference,
    Model,
    ObjectMeta,
    RunRecord,
    SecretKeyReference,
    Time,
    TimeoutStatus,
)
from runwright.api.kube_types import VariableMap
from runwright.api.notifications import MAX_NOTIFICATIONS, Notification


class TriggerType(StrEnum):
    """The kind of trigger; it must match the one config block the trigger carries."""

    SCHEDULE = "Schedule"
    ONCE = "Once"
    ALWAYS_ON = "AlwaysOn"
    EVENT = "Event"
    API = "API"


class ConcurrencyPolicy(StrEnum):
    """What a fire does while a run of this trigger is still active."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class ScheduleConfig(Model):
    """A cron schedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.startTime) || !has(self.endTime) "
                    "|| timestamp(self.startTime) < timestamp(self.endTime)",
                    "message": "spec.schedule.endTime must be after spec.schedule.startTime",
                    "fieldPath": ".endTime",
                }
            ]
        }
    )

    cron: str = Field(
        min_length=1,
        max_length=200,
        # The CRD checks the shape only (five fields or a preset), so `kubectl apply` refuses
        # "0 2 * *" at once. Not enforced here: engine.schedule checks the same with croniter
        # and gives a better message in `runwright validate` and the operator.
        json_schema_extra={
            "pattern": r"^\s*(@(hourly|daily|weekly|monthly|yearly)|\S+(\s+\S+){4})\s*$"
        },
        description='5-field cron ("0 2 * * *") or @hourly, @daily, @weekly, @monthly, @yearly.',
    )
    timezone: str = Field(default="UTC", description="IANA time zone name, e.g. Europe/Berlin.")
    start_time: Time | None = Field(default=None, description="No fire before this time.")
    end_time: Time | None = Field(default=None, description="No fire after this time.")
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SECONDS,
        description="A missed fire older than this is skipped, not run late.",
    )
    catch_up: bool = Field(
        default=False,
        description="True: run every missed fire since lastScheduleTime (backfill), oldest first.",
    )


class OnceConfig(Model):
    """A single run at a time (absent = now)."""

    at: Time | None = Field(default=None, description="When to run; absent = now.")


class RunPhase(StrEnum):
    """The phase of a PipelineRun."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        """True for the three phases a run ends in."""
        return self in (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED)


def _finished(phase: RunPhase) -> RunPhase:
    if not phase.finished:
        raise ValueError(
            f"{phase} is not a phase a run ends in: an Event trigger fires when a run "
            "finishes, as Succeeded, Failed or Cancelled"
        )
    return phase


#: A phase a run ends in (what an Event trigger can listen for).
FinishedPhase = Annotated[
    RunPhase,
    AfterValidator(_finished),
    WithJsonSchema({"type": "string", "enum": ["Succeeded", "Failed", "Cancelled"]}),
]


class EventConfig(Model):
    """Fire when a run of another pipeline finishes in one of the phases."""

    pipeline_ref: LocalObjectReference = Field(description="The pipeline whose runs are watched.")
    phases: list[FinishedPhase] = Field(
        default_factory=lambda: [RunPhase.SUCCEEDED],
        min_length=1,
        max_length=3,
        description="Finished phases that fire this trigger: Succeeded, Failed, Cancelled.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class ApiConfig(Model):
    """Fire on an authenticated HTTP POST to the operator's API endpoint."""

    token_secret_ref: SecretKeyReference = Field(
        description="The Secret key holding the bearer token callers must present."
    )


class TriggerSpec(Model):
    """How and when a Trigger creates runs of its pipeline."""

    # A trigger carries exactly the one config block its type needs.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(self.type == 'Schedule') == has(self.schedule)",
                    "message": "spec.schedule is required when spec.type is Schedule, and only then",
                    "fieldPath": ".schedule",
                },
                {
                    "rule": "!has(self.once) || self.type == 'Once'",
                    "message": "spec.once is only allowed when spec.type is Once",
                    "fieldPath": ".once",
                },
                {
                    "rule": "(self.type == 'Event') == has(self.event)",
                    "message": "spec.event is required when spec.type is Event, and only then",
                    "fieldPath": ".event",
                },
                {
                    "rule": "(self.type == 'API') == has(self.api)",
                    "message": "spec.api is required when spec.type is API, and only then",
                    "fieldPath": ".api",
                },
            ]
        }
    )

    pipeline_ref: LocalObjectReference = Field(description="The pipeline this trigger runs.")
    type: TriggerType = Field(description="Schedule, Once, AlwaysOn, Event or API.")
    schedule: ScheduleConfig | None = Field(default=None, description="For type Schedule.")
    once: OnceConfig | None = Field(default=None, description="For type Once.")
    event: EventConfig | None = Field(default=None, description="For type Event.")
    api: ApiConfig | None = Field(default=None, description="For type API.")
    variables: VariableMap = Field(
        default_factory=dict, description="Override the pipeline's variables."
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW,
        description="Allow; Forbid (skip while one is active); Replace (cancel active, start new).",
    )
    sla_seconds: int | None = Field(
        default=None, ge=1, le=MAX_SECONDS, description="Overrides the pipeline's."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=MAX_SECONDS, description="Overrides the pipeline's."
    )
    timeout_status: TimeoutStatus | None = Field(
        default=None, description="Overrides the pipeline's."
    )
    suspend: bool = Field(default=False, description="A suspended trigger creates no runs.")
    successful_runs_history_limit: int | None = Field(
        default=10, ge=0, description="Older Succeeded runs of this trigger are deleted."
    )
    failed_runs_history_limit: int | None = Field(
        default=20, ge=0, description="Older Failed and Cancelled runs of this trigger are deleted."
    )
    notifications: list[Notification] = Field(
        default_factory=list,
        max_length=MAX_NOTIFICATIONS,
        description="Notifications for the runs this trigger makes, added to the Pipeline's "
        "(a target in both is notified once).",
    )


class TriggerStatus(Model):
    """What the operator last observed and did for a Trigger."""

    observed_generation: int | None = Field(default=None, description="Generation described.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready True when valid; False with InvalidSchedule, UnknownTimezone, "
        "MissingPipeline or MissingSecret. Completed True once a Once trigger has fired.",
    )
    last_schedule_time: Time | None = Field(default=None, description="The latest fire handled.")
    next_schedule_time: Time | None = Field(default=None, description="The next fire.")
    last_run: RunRecord | None = Field(default=None, description="The most recent run created.")
    active_runs: list[str] = Field(default_factory=list, description="Runs not yet finished.")
    runs_created: int = Field(default=0, description="Runs this trigger has created.")
    fires_skipped: int = Field(
        default=0, description="Fires not run: past the deadline, or forbidden by concurrency."
    )
    last_event_time: Time | None = Field(
        default=None,
        description="Type Event: completedAt of the newest upstream run handled (the cursor).",
    )
    last_event_runs: list[str] = Field(
        default_factory=list,
        description="Type Event: the upstream runs handled that finished at lastEventTime "
        "(completedAt has whole seconds, so several can share it).",
    )


class Trigger(Model):
    """A Trigger manifest."""

    api_version: Literal["runwright.dev/v1alpha1"] = "runwright.dev/v1alpha1"
    kind: Literal["Trigger"] = "Trigger"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TriggerSpec
    status: TriggerStatus | None = None
