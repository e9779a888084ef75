"""One attempt verdict for every executor: how an ended attempt becomes Succeeded or Failed.

A Job's pod and a local process end the same few ways, and the block's contract
(API.md) is the same on both: exit code 0 plus valid JSON at RUNWRIGHT_OUTPUT_PATH
is success, anything else is a failure with a reason and a message a human can act
on. Each executor only says how its attempt ended and hands over what it read (the
exit code, the output file or termination message, a log tail); the rules live here
once, so local mode and the operator cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from runwright import labels
from runwright.engine import outputs
from runwright.engine.plan import AttemptState, Observation
from runwright.engine.reasons import BlockReason

#: Attempt reasons decided here (the Observation's reason).
REASON_INVALID_OUTPUT = BlockReason.INVALID_OUTPUT
REASON_ERROR = BlockReason.ERROR
REASON_TIMEOUT = BlockReason.TIMEOUT
REASON_STOPPED = BlockReason.STOPPED
REASON_KILLED = BlockReason.KILLED

#: The message of a success whose outputs could not be read (the pod vanished first).
OUTPUTS_LOST = "the pod was gone before its outputs were read"
TIMEOUT_MESSAGE = "the attempt exceeded its timeoutSeconds"


class Ending(StrEnum):
    """How an attempt ended, as its executor saw it."""

    EXITED = "exited"
    """The process ended on its own: the exit code decides."""
    FAILED = "failed"
    """The platform reports a failure (a failed Job, an evicted pod): never a success."""
    STOPPED = "stopped"
    """We stopped it (cancel, a superseded attempt)."""
    KILLED = "killed"
    """A signal we did not send ended it."""
    DEADLINE = "deadline"
    """It ran past its timeoutSeconds and was killed for it."""


@dataclass(frozen=True)
class Verdict:
    """An ended attempt judged: its state, reason, message and (on success) its outputs."""

    state: AttemptState
    reason: str = ""
    message: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def observation(
        self,
        attempt: int,
        started_at: datetime | None,
        finished_at: datetime | None,
        exit_code: int | None,
    ) -> Observation:
        """The engine's view of the judged attempt: one conversion for every executor."""
        return Observation(
            attempt=attempt,
            state=self.state,
            started_at=started_at,
            finished_at=finished_at,
            exit_code=exit_code,
            reason=self.reason,
            message=self.message,
            outputs=self.outputs,
            metrics=self.metrics,
        )


def judge(
    ending: Ending,
    *,
    exit_code: int | None,
    output: str | None,
    tail: str = "",
    reason: str = "",
    detail: str = "",
) -> Verdict:
    """The verdict of one ended attempt.

    `output` is the text at RUNWRIGHT_OUTPUT_PATH (None when it could not be read at
    all), `tail` the last lines a human should see of a failure, `reason` the
    platform's own word for a failure (OOMKilled, Evicted) and `detail` its message,
    used when there is no tail.

    1. DEADLINE: Failed, Timeout, whatever the exit code.
    2. STOPPED / KILLED: Failed, Stopped / Killed, the tail or "killed by ...".
    3. EXITED with code 0: Succeeded with the outputs; an output that breaks the
       contract makes it Failed, InvalidOutput, naming the problem; unreadable
       outputs (None) still succeed, saying so.
    4. Anything else: Failed, the platform's reason or Error, the tail, else the
       platform's message, else the exit code.
    """
    if ending == Ending.DEADLINE:
        return Verdict(AttemptState.FAILED, REASON_TIMEOUT, detail or TIMEOUT_MESSAGE)
    if ending in (Ending.STOPPED, Ending.KILLED):
        why = REASON_STOPPED if ending == Ending.STOPPED else REASON_KILLED
        return Verdict(AttemptState.FAILED, why, tail or detail or "killed")
    if ending == Ending.EXITED and exit_code == 0:
        if output is None:
            return Verdict(AttemptState.SUCCEEDED, message=OUTPUTS_LOST)
        outs, metrics, problem = outputs.read_output(output)
        if problem is not None:
            return Verdict(
                AttemptState.FAILED,
                REASON_INVALID_OUTPUT,
                f"{labels.ENV_OUTPUT_PATH}: {problem}",
            )
        return Verdict(AttemptState.SUCCEEDED, outputs=outs, metrics=metrics)
    fallback = f"exited with code {exit_code}" if exit_code is not None else ""
    return Verdict(AttemptState.FAILED, reason or REASON_ERROR, tail or detail or fallback)
