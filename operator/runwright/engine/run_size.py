"""Does a run of this Pipeline fit in etcd? Its frozen spec plus its worst-case status.

A PipelineRun's status holds a frozen copy of its Pipeline's spec and, per block,
what its attempts reported. etcd refuses a request over 1.5 MiB, and the API server
writes the whole object on every status patch: a run that outgrows it can never be
recorded again (issue 17: a 1.54 MB Pipeline was accepted, its run's status write
failed forever while its Jobs kept running). So a Pipeline is refused up front when
its run could outgrow `MAX_RUN_BYTES`, with the sizes in the message.
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
#: One block's status at its largest: a 4 KiB termination message (its outputs and
#: metrics, or the tail of its error), its attempt history, and the fixed fields.
BLOCK_STATUS_BYTES = MAX_OUTPUT_BYTES + MAX_ATTEMPT_HISTORY * ATTEMPT_RECORD_BYTES + 512


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
    dump = spec.model_dump(by_alias=True, mode="json")
    return len(json.dumps(dump, separators=(",", ":")).encode())


def worst_run_bytes(spec: PipelineSpec) -> int:
    """The frozen spec plus every block's status (and fan-out's items) at its largest."""
    return frozen_bytes(spec) + len(spec.blocks) * BLOCK_STATUS_BYTES + fanout_bytes(spec)


def check(spec: PipelineSpec) -> list[Problem]:
    """A TooLarge problem when a run of this Pipeline could outgrow MAX_RUN_BYTES."""
    frozen = frozen_bytes(spec)
    items = fanout_bytes(spec)
    worst = frozen + len(spec.blocks) * BLOCK_STATUS_BYTES + items
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
            f"spec, {BLOCK_STATUS_BYTES:,} per block for {len(spec.blocks)} blocks' status"
            f"{items_note}), "
            f"over the {MAX_RUN_BYTES:,}-byte limit that keeps it under etcd's "
            f"{ETCD_REQUEST_BYTES:,}-byte request limit; use fewer blocks or move large "
            "args and env values into a ConfigMap or the image",
            ProblemReason.TOO_LARGE,
        )
    ]
