"""Does a run of this Pipeline fit in etcd? Its frozen spec plus its worst-case status.

A PipelineRun's status holds a frozen copy of its Pipeline's spec and, per block,
what its attempts reported. etcd refuses a request over 1.5 MiB, and the API server
writes the whole object on every status patch: a run that outgrows it can never be
recorded again (issue 17: a 1.54 MB Pipeline was accepted, its run's status write
failed forever while its Jobs kept running). So a Pipeline is refused up front when
its run could outgrow `MAX_RUN_BYTES`, with the sizes in the message.

What keeps a big run's status bounded (issue 15: 1,000 blocks) is that a block's
share shrinks as the blocks grow, while a pipeline of up to `FULL_SHARE_BLOCKS`
blocks keeps the full share it always had:
- `reported_limit`: what a block keeps of its outputs, metrics and error message,
  4 KiB (a pod's termination message) or an even share of `REPORTED_BUDGET`; the
  engine fails a block whose outputs are over it (InvalidOutput) and keeps the tail
  of a longer message;
- `attempt_history`: how many attempt records a block keeps, 10 or an even share
  of `ATTEMPT_BUDGET` (at least 1: the latest attempt).
Status is written without its empty fields, and the frozen spec without its
defaults (reconcile), so a typical 1,000-block run is far below the worst case.
"""

from __future__ import annotations

import json

from runwright.api.fanout import ITEM_DETAIL, MAX_ITEM_OUTPUTS_BYTES, MAX_ITEMS, MAX_PARALLEL
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import MAX_ATTEMPT_HISTORY
from runwright.engine.dag import Problem
from runwright.engine.fanout import ITEM_MESSAGE_CHARS
from runwright.engine.outputs import MAX_OUTPUT_BYTES
from runwright.engine.reasons import ProblemReason

#: etcd's default request limit (--max-request-bytes).
ETCD_REQUEST_BYTES = 1536 * 1024
#: What a run's frozen spec and worst-case status may take: etcd's limit less room for
#: the run's metadata (managedFields grow with the status) and its own spec.
MAX_RUN_BYTES = 1280 * 1024
#: One attempt record in status (attempt, phase, reason, exit code, two times) as JSON.
ATTEMPT_RECORD_BYTES = 160
#: A block's status less its reported values and attempts: its name as the key, phase,
#: attempt, retries, job, four times, exit code and reason.
BLOCK_FIXED_BYTES = 512
#: Up to this many blocks, each keeps 4 KiB of reports and 10 attempts (as always).
FULL_SHARE_BLOCKS = 160
#: The outputs, metrics and messages of all blocks of a bigger pipeline, shared evenly.
REPORTED_BUDGET = 384 * 1024
#: The attempt records of all blocks of a bigger pipeline, shared evenly.
ATTEMPT_BUDGET = FULL_SHARE_BLOCKS * MAX_ATTEMPT_HISTORY


def reported_limit(blocks: int) -> int:
    """Bytes of outputs+metrics (as JSON) or of message one block keeps in status."""
    if blocks <= FULL_SHARE_BLOCKS:
        return MAX_OUTPUT_BYTES
    return min(MAX_OUTPUT_BYTES, REPORTED_BUDGET // blocks)


def attempt_history(blocks: int) -> int:
    """How many attempt records (the latest) one block keeps in status.attempts."""
    return max(1, min(MAX_ATTEMPT_HISTORY, ATTEMPT_BUDGET // max(blocks, 1)))


def block_status_bytes(blocks: int) -> int:
    """One block's status at its largest in a pipeline of `blocks` blocks."""
    return (
        reported_limit(blocks) + attempt_history(blocks) * ATTEMPT_RECORD_BYTES + BLOCK_FIXED_BYTES
    )


def frozen_dump(spec: PipelineSpec) -> dict[str, object]:
    """The copy a run freezes into status.pipelineSpec: the spec without its defaults.

    Parsing it gives the same spec back; leaving defaults out keeps a 1,000-block
    copy to what the user wrote.
    """
    return spec.model_dump(by_alias=True, mode="json", exclude_defaults=True)


#: One item's share of a fan-out's status whatever its phase: its letter in `phases`, its
#: attempt number and its (empty) entry in `outputs`.
ITEM_BYTES = 8
#: One item's detail (`active` or `failed`): index, phase, attempt, retries, pod name,
#: three times, exit code, reason, and a message of at most ITEM_MESSAGE_CHARS.
ITEM_RECORD_BYTES = 320 + ITEM_MESSAGE_CHARS
#: A fan-out block's items at their largest: MAX_ITEMS items, MAX_PARALLEL in flight,
#: ITEM_DETAIL failed ones kept, and the items' outputs at their budget.
FANOUT_STATUS_BYTES = (
    MAX_ITEMS * ITEM_BYTES
    + (MAX_PARALLEL + ITEM_DETAIL) * ITEM_RECORD_BYTES
    + MAX_ITEM_OUTPUTS_BYTES
)


def fanout_bytes(spec: PipelineSpec) -> int:
    """What the fan-out blocks' items may add to the status at their largest."""
    return sum(FANOUT_STATUS_BYTES for b in spec.blocks if b.for_each is not None)


def frozen_bytes(spec: PipelineSpec) -> int:
    """The size of the copy a run freezes into status.pipelineSpec (compact JSON)."""
    return len(json.dumps(frozen_dump(spec), separators=(",", ":")).encode())


def worst_run_bytes(spec: PipelineSpec) -> int:
    """The frozen spec plus every block's status (and fan-out's items) at its largest."""
    blocks = status_blocks(spec)
    return frozen_bytes(spec) + blocks * block_status_bytes(blocks) + fanout_bytes(spec)


def status_blocks(spec: PipelineSpec) -> int:
    """How many entries status.blocks holds: the blocks and the finally blocks."""
    return len(spec.blocks) + len(spec.finally_ or ())


def check(spec: PipelineSpec) -> list[Problem]:
    """A TooLarge problem when a run of this Pipeline could outgrow MAX_RUN_BYTES."""
    frozen = frozen_bytes(spec)
    items = fanout_bytes(spec)
    blocks = status_blocks(spec)
    per_block = block_status_bytes(blocks)
    worst = frozen + blocks * per_block + items
    if worst <= MAX_RUN_BYTES:
        return []
    fanouts = items // FANOUT_STATUS_BYTES
    items_note = (
        f", {FANOUT_STATUS_BYTES:,} per forEach block for {fanouts} fan-outs' items"
        if fanouts
        else ""
    )
    return [
        Problem(
            "spec",
            f"a run of this Pipeline could need {worst:,} bytes ({frozen:,} for its frozen "
            f"spec, {per_block:,} per block for {blocks} blocks' status{items_note}), "
            f"over the {MAX_RUN_BYTES:,}-byte limit that keeps it under etcd's "
            f"{ETCD_REQUEST_BYTES:,}-byte request limit; use fewer blocks or move large "
            "args and env values into a ConfigMap or the image",
            ProblemReason.TOO_LARGE,
        )
    ]
