"""Runwright's vocabulary: every reason, Event reason and condition, defined once.

Each member carries its doc as the string under it (docs/reasons.md is generated
from them: `python -m runwright.engine.reasondoc`). Code compares and emits members,
never bare strings, and never parses a reason back out of a message: a planner
that has a fact to tell returns it as a field (`Plan.queued_on_budget`,
`TriggerPlan.skipped`).

Values are CamelCase words, as Kubernetes API conventions ask. Executors may pass
a reason through from Kubernetes (a container's `OOMKilled`, a pod's `Evicted`):
`Observation.reason` is therefore a `str`, and `BlockReason` lists the reasons
Runwright itself names or makes plus the common ones Kubernetes hands over.
"""

from __future__ import annotations

from enum import StrEnum


class BlockReason(StrEnum):
    """Why a block is in its phase: `status.blocks[X].reason` of a PipelineRun."""

    ERROR = "Error"
    """The attempt's process exited non-zero (the default when nothing more is known)."""
    TIMEOUT = "Timeout"
    """The attempt (block timeoutSeconds) or the run (its timeoutSeconds) ran out of time."""
    INVALID_TEMPLATE = "InvalidTemplate"
    """An args, env or when template failed to render; not retried (it would fail again)."""
    INVALID_OUTPUT = "InvalidOutput"
    """The process exited 0 but what it wrote to RUNWRIGHT_OUTPUT_PATH is not valid."""
    JOB_DELETED = "JobDeleted"
    """The attempt's Job or process disappeared before it finished."""
    JOB_REJECTED = "JobRejected"
    """The API server refused to create the attempt's Job (the message says why)."""
    POD_DELETED = "PodDeleted"
    """Pod executor: the attempt's pod was deleted (by someone else, or with its lost node)."""
    POD_REJECTED = "PodRejected"
    """The API server refused the attempt's pod (Pod Security, an admission policy, a quota,
    a missing ServiceAccount): the message is the API server's words; nothing was created."""
    POD_PENDING_TIMEOUT = "PodPendingTimeout"
    """The attempt's pod stayed Pending past the operator's --pod-pending-timeout."""
    UNSCHEDULABLE = "Unschedulable"
    """From Kubernetes: the pod stayed Pending past --pod-pending-timeout, no node fits it."""
    ERR_IMAGE_PULL = "ErrImagePull"
    """From Kubernetes: the pod stayed Pending past --pod-pending-timeout, its image not pulled."""
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    """From Kubernetes: the pod stayed Pending past --pod-pending-timeout, its pull backing off."""
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    """From Kubernetes: the pod stayed Pending past --pod-pending-timeout (a missing Secret...)."""
    STOPPED = "Stopped"
    """Local mode: the process was stopped by Runwright (cancel, timeout, failFast)."""
    KILLED = "Killed"
    """Local mode: the process was killed by a signal Runwright did not send."""
    NO_COMMAND = "NoCommand"
    """Local mode: the block has no command (local mode cannot run an image's entrypoint)."""
    COMMAND_NOT_FOUND = "CommandNotFound"
    """Local mode: the block's command does not exist on this machine."""
    COMMAND_NOT_EXECUTABLE = "CommandNotExecutable"
    """Local mode: the block's command exists but may not be executed."""
    START_ERROR = "StartError"
    """The process could not be started (a container runtime or OS error)."""
    OOM_KILLED = "OOMKilled"
    """From Kubernetes: the container went over its memory limit."""
    CONTAINER_CANNOT_RUN = "ContainerCannotRun"
    """From Kubernetes: the container runtime could not run the container."""
    EVICTED = "Evicted"
    """From Kubernetes: the node evicted the attempt's pod."""
    POD_FAILED = "PodFailed"
    """The attempt's pod failed without a terminated container to say why (evicted, deleted)."""
    UPSTREAM_FAILED = "UpstreamFailed"
    """UpstreamFailed: an upstream block failed (without allowFailure) or never ran."""
    UPSTREAM_CONDITION_FAILED = "UpstreamConditionFailed"
    """ConditionFailed: an upstream block was skipped by its `when`."""
    CONDITION_FALSE = "ConditionFalse"
    """ConditionFailed: the block's own `when` does not hold."""
    BLOCK_RUN_LIMIT = "BlockRunLimit"
    """Queued: the run's concurrency.blockRunLimit is reached."""
    CONCURRENCY_LIMIT = "ConcurrencyLimit"
    """Queued: the global or namespace block budget is reached (older runs go first)."""
    CANCELLED = "Cancelled"
    """Cancelled: the run was cancelled (spec.cancel) or ended before the block finished."""
    FAIL_FAST = "FailFast"
    """Cancelled: another block failed and the pipeline has failFast."""
    SKIP_FINALLY = "SkipFinally"
    """Cancelled: a finally block stopped, or never started, because spec.skipFinally is true."""
    INVALID_ITEMS = "InvalidItems"
    """forEach.items did not render to a JSON list (the message shows what it rendered)."""
    TOO_MANY_ITEMS = "TooManyItems"
    """forEach.items has more items than a fan-out may have (the message says the cap)."""
    ITEMS_FAILED = "ItemsFailed"
    """More items of the fan-out failed than forEach.allowFailures lets it succeed with."""
    OUTPUTS_TOO_LARGE = "OutputsTooLarge"
    """A fan-out item's outputs would push its items' outputs past their size budget."""


#: Block reasons that a retry cannot fix: the block fails at once, its retries unspent.
NOT_RETRYABLE: frozenset[str] = frozenset({BlockReason.INVALID_TEMPLATE})


def retryable(reason: str) -> bool:
    """True when an attempt that failed with `reason` may be retried (backoff permitting)."""
    return reason not in NOT_RETRYABLE


class StopReason(StrEnum):
    """Why the planner stops (deletes) a live attempt: `StopBlock.reason`."""

    CANCELLED = "Cancelled"
    """The run was cancelled, or ended early (onLimit Skip)."""
    FAIL_FAST = "FailFast"
    """Another block failed and the pipeline has failFast."""
    TIMEOUT = "Timeout"
    """The attempt or the run exceeded its timeoutSeconds."""
    RUN_FINISHED = "RunFinished"
    """The run is finished, so no attempt of it may still run (a lost stop, redone)."""
    NOT_RUNNING = "NotRunning"
    """The block is not Running in the status, yet an attempt of it runs (a stray)."""
    SKIP_FINALLY = "SkipFinally"
    """A finally block's attempt is stopped because spec.skipFinally is true."""


class RunReason(StrEnum):
    """Why a run is in its phase: `status.reason` of a PipelineRun ("" when all is well)."""

    PIPELINE_NOT_FOUND = "PipelineNotFound"
    """No phase yet: the Pipeline does not exist; the run waits a grace period for it."""
    INVALID_PIPELINE = "InvalidPipeline"
    """Failed: the Pipeline is missing (after the grace period) or not valid."""
    INVALID_RERUN = "InvalidRerun"
    """Failed: spec.rerunOf names a run that does not exist or never started."""
    CONCURRENCY_LIMIT = "ConcurrencyLimit"
    """Queued (onLimit Wait) or Cancelled (onLimit Skip): pipelineRunLimit is reached."""
    CANCELLED = "Cancelled"
    """Cancelled: spec.cancel is true."""
    TIMEOUT = "Timeout"
    """Failed or Cancelled (timeoutStatus): the run exceeded its timeoutSeconds."""
    BLOCK_FAILED = "BlockFailed"
    """Failed: a block failed without allowFailure (the message names the first)."""
    RUNNING_FINALLY = "RunningFinally"
    """Running: the blocks are done (status.finally holds their outcome); finally blocks run."""
    FINALLY_FAILED = "FinallyFailed"
    """Failed: every block succeeded, but a finally block failed (the message names it)."""
    STATUS_TOO_LARGE = "StatusTooLarge"
    """Failed: the API server refused the run's status as too large; its blocks were stopped."""


class EventReason(StrEnum):
    """The reason of a Kubernetes Event the planners emit on a PipelineRun or a Trigger.

    A Trigger or a Pipeline that becomes not Ready also emits a Warning Event whose
    reason is its Ready condition's reason (a `ProblemReason`, or InvalidSpec).
    """

    RUN_QUEUED = "RunQueued"
    """The run waits for a pipelineRunLimit slot."""
    RUN_STARTED = "RunStarted"
    """The run was admitted and its blocks may start."""
    RUN_SUCCEEDED = "RunSucceeded"
    """Every block finished without failing the run."""
    RUN_FAILED = "RunFailed"
    """The run failed (a block, its Pipeline, a rerun source or a timeout)."""
    RUN_CANCELLED = "RunCancelled"
    """The run was cancelled (spec.cancel, onLimit Skip, timeoutStatus Cancelled)."""
    RUN_RETRIED = "RunRetried"
    """An in-place retry (spec.retry) reset blocks to Pending."""
    RETRY_REJECTED = "RetryRejected"
    """An in-place retry request cannot be carried out (the message says why)."""
    BLOCKS_REMOVED = "BlocksRemoved"
    """A retry or rerun with pipelineSpec Current dropped blocks gone from the Pipeline."""
    BLOCK_STARTED = "BlockStarted"
    """An attempt of a block was started."""
    BLOCK_SUCCEEDED = "BlockSucceeded"
    """An attempt of a block succeeded."""
    BLOCK_FAILED = "BlockFailed"
    """A block failed for good (its retries are spent, or it cannot be retried)."""
    BLOCK_RETRYING = "BlockRetrying"
    """An attempt failed; the next one starts after the backoff."""
    BLOCK_UPSTREAM_FAILED = "BlockUpstreamFailed"
    """A block will not run because an upstream block failed."""
    BLOCK_CONDITION_FAILED = "BlockConditionFailed"
    """A block is skipped: its `when` is false, or an upstream block was skipped."""
    FINALLY_STARTED = "FinallyStarted"
    """The blocks are done; the Pipeline's finally blocks start (the message says the outcome)."""
    FINALLY_FAILED = "FinallyFailed"
    """A finally block failed; the run keeps its own outcome unless that was Succeeded."""
    SLA_MISSED = "SLAMissed"
    """The run is unfinished past its executionDate plus slaSeconds."""
    TIMED_OUT = "TimedOut"
    """The run exceeded its timeoutSeconds."""
    RUN_CREATED = "RunCreated"
    """A Trigger created a run."""
    RUN_REPLACED = "RunReplaced"
    """A Trigger with concurrencyPolicy Replace cancels an active run for a new one."""
    FIRE_SKIPPED = "FireSkipped"
    """A Trigger's fire created no run (the skipped fire's `SkipReason` says why)."""
    CATCH_UP_CAPPED = "CatchUpCapped"
    """A Trigger is more fires behind than one call creates; it goes on at once."""
    NOTIFICATION_SENT = "NotificationSent"
    """A notification (spec.notifications) was accepted by its webhook or Slack receiver."""
    NOTIFICATION_FAILED = "NotificationFailed"
    """A notification attempt failed (Warning): the note says why and if it is retried."""


class SkipReason(StrEnum):
    """Why a Trigger's fire created no run: `TriggerPlan.skipped[].reason`, a metric label."""

    DEADLINE_PASSED = "DeadlinePassed"
    """The fire is older than startingDeadlineSeconds when the operator can run it."""
    FORBIDDEN = "Forbidden"
    """concurrencyPolicy Forbid while a run of the trigger is active."""
    REPLACED = "Replaced"
    """concurrencyPolicy Replace: a newer fire of the same call replaced it before it ran."""


class ConditionType(StrEnum):
    """The `type` of a condition the planners set."""

    PIPELINE_VALID = "PipelineValid"
    """PipelineRun: the frozen Pipeline spec is valid (False: the run failed at start)."""
    RETRY_ACCEPTED = "RetryAccepted"
    """PipelineRun: the last in-place retry request was carried out."""
    READY = "Ready"
    """Trigger (and Pipeline): the spec is sound and what it names exists."""
    COMPLETED = "Completed"
    """Trigger of type Once: its one run was created."""
    CATCH_UP = "CatchUp"
    """Trigger with catchUp: False while it is behind by more fires than one call makes."""
    FINALLY_SUCCEEDED = "FinallySucceeded"
    """PipelineRun with finally blocks: True when they all succeeded (or failed under
    allowFailure); False when one failed or they were skipped."""


class ConditionReason(StrEnum):
    """The `reason` of a condition, besides the `ProblemReason`s of a not-valid spec."""

    VALID = "Valid"
    """PipelineValid/Ready True: nothing is wrong."""
    PIPELINE_NOT_FOUND = "PipelineNotFound"
    """PipelineValid False: the Pipeline did not appear within the grace period."""
    INVALID_PIPELINE = "InvalidPipeline"
    """PipelineValid False: the Pipeline exists but its spec is not valid."""
    INVALID_SPEC = "InvalidSpec"
    """Pipeline Ready False: the spec does not match the schema (the message names the field)."""
    RERUN_SOURCE_NOT_FOUND = "RerunSourceNotFound"
    """PipelineValid False: spec.rerunOf names a run that does not exist or never started."""
    INCOMPLETE = "Incomplete"
    """RetryAccepted True: the unfinished and failed blocks run again (mode Incomplete)."""
    FROM_BLOCK = "FromBlock"
    """RetryAccepted True: a block and its downstream run again (mode FromBlock)."""
    NOT_STARTED = "NotStarted"
    """RetryAccepted False: the run never started; create a new run instead."""
    CANCELLED = "Cancelled"
    """RetryAccepted False: spec.cancel is true."""
    UNKNOWN_BLOCK = "UnknownBlock"
    """RetryAccepted False: spec.retry.fromBlock names no block of the run."""
    BLOCK_STILL_FAILED = "BlockStillFailed"
    """RetryAccepted False: a failed block outside fromBlock's reach would fail the run again."""
    PIPELINE_GONE = "PipelineGone"
    """RetryAccepted False: pipelineSpec Current, but the Pipeline does not exist."""
    WAITING = "Waiting"
    """Completed False: a Once trigger waits for its time."""
    FIRED = "Fired"
    """Completed True: a Once trigger created its run."""
    CATCH_UP_CAPPED = "CatchUpCapped"
    """CatchUp False: more missed fires than one call creates; it goes on at once."""
    CAUGHT_UP = "CaughtUp"
    """CatchUp True: every missed fire is handled."""
    FINALLY_SUCCEEDED = "FinallySucceeded"
    """FinallySucceeded True: every finally block succeeded (or failed under allowFailure)."""
    FINALLY_FAILED = "FinallyFailed"
    """FinallySucceeded False: a finally block failed (the message names it)."""
    FINALLY_SKIPPED = "FinallySkipped"
    """FinallySucceeded False: spec.skipFinally is true; finally blocks were stopped or not run."""


class ProblemReason(StrEnum):
    """What is wrong with a spec: `Problem.reason`, and the reason of a False Ready condition."""

    DUPLICATE_BLOCK = "DuplicateBlock"
    """Two blocks of a pipeline have the same name."""
    UNKNOWN_UPSTREAM = "UnknownUpstream"
    """A block's upstream names no block of the pipeline."""
    CYCLE_DETECTED = "CycleDetected"
    """The blocks' upstream edges form a cycle."""
    INVALID_TEMPLATE = "InvalidTemplate"
    """A template does not parse, or names an unknown variable or a non-upstream block."""
    INVALID_SCHEDULE = "InvalidSchedule"
    """A trigger's cron expression or schedule window is not valid."""
    UNKNOWN_TIMEZONE = "UnknownTimezone"
    """A trigger's schedule.timezone is not an IANA time zone name."""
    MISSING_CONFIG = "MissingConfig"
    """A trigger lacks the config block its type needs."""
    UNEXPECTED_CONFIG = "UnexpectedConfig"
    """A trigger has a config block of another type."""
    MISSING_PIPELINE = "MissingPipeline"
    """A trigger's pipelineRef names no Pipeline in its namespace."""
    MISSING_SECRET = "MissingSecret"  # noqa: S105 (a reason, not a password)
    """An API trigger's token Secret, or its key, does not exist."""
    TOO_LARGE = "TooLarge"
    """A run of the Pipeline (its frozen spec and worst-case status) could outgrow etcd's limit."""
    TOO_MANY_ITEMS = "TooManyItems"
    """A forEach block's literal items list is over the cap of a fan-out."""
    INVALID_ITEMS = "InvalidItems"
    """A forEach block's literal items are not JSON list text."""


#: Every enum of the vocabulary, in the order docs/reasons.md lists them.
VOCABULARY: tuple[type[StrEnum], ...] = (
    BlockReason,
    StopReason,
    RunReason,
    EventReason,
    SkipReason,
    ConditionType,
    ConditionReason,
    ProblemReason,
)
