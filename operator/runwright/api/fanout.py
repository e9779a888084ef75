"""Fan-out: a block's `forEach` (spec) and the bounded record of its items (status).

A block with `forEach` runs once per item of a list: a literal list, or a template
that renders to a JSON list (an upstream block's output). Each item is its own
attempt chain (retries, backoff and timeout per item). The run's status must stay
far under etcd's object limit with thousands of items, so per-item detail is kept
only where it matters: the items in flight (`active`) and the first failed ones
(`failed`); every item otherwise leaves one letter (`phases`), its attempt number
(`attempts`) and its outputs (`outputs`), which downstream blocks read as lists.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from runwright.api.common import Model, Time

#: The most items one fan-out may have: a list past it fails the block (TooManyItems).
MAX_ITEMS = 10_000
#: The most items of one fan-out in flight at once (and the default of maxParallel):
#: their detail is in status, so this bounds it.
MAX_PARALLEL = 200
#: How many failed items keep their detail (reason, message, exit code) in status.
ITEM_DETAIL = 20
#: What the outputs of all items of one fan-out may take together (compact JSON bytes).
MAX_ITEM_OUTPUTS_BYTES = 256 * 1024

#: One letter per item in `FanOutStatus.phases`, and the phase it stands for.
PHASE_LETTERS = {
    "P": "Pending",
    "R": "Running",
    "W": "Retrying",
    "S": "Succeeded",
    "F": "Failed",
    "C": "Cancelled",
}

#: The longest forEach.items text (a literal JSON list, or a template).
MAX_ITEMS_TEXT = 256 * 1024

_ITEMS_DESCRIPTION = (
    'The items, as JSON list text: written out (\'["eu", "us"]\', strings, numbers or '
    'objects) or a template that renders to one ("{{ blocks.list.outputs.files }}"). '
    f"At most {MAX_ITEMS:,} items."
)


def _items_text(value: Any) -> Any:
    """A YAML list where JSON text is expected: say how to write it (the CRD needs a string)."""
    if isinstance(value, list):
        raise ValueError(
            "forEach.items is JSON text, not a YAML list: quote it, e.g. "
            'items: \'["eu", "us"]\' (a string keeps one type for literal lists and templates)'
        )
    return value


Items = Annotated[
    str,
    BeforeValidator(_items_text),
    Field(min_length=1, max_length=MAX_ITEMS_TEXT, description=_ITEMS_DESCRIPTION),
]


class ForEach(Model):
    """Run the block once per item; `{{ item }}` and `{{ item.index }}` in its templates."""

    items: Items
    max_parallel: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARALLEL,
        description=f"Items in flight at once (default and at most {MAX_PARALLEL}); the run's "
        "blockRunLimit and the global and namespace limits count items like blocks.",
    )
    allow_failures: int = Field(
        default=0,
        ge=0,
        description="Items that may fail (retries spent) with the block still Succeeded; one "
        "more failure fails the block and stops its other items.",
    )


class ItemStatus(Model):
    """One item's latest attempt: kept for items in flight and the first failed ones."""

    index: int = Field(ge=0, description="The item's position in the list (0 = first).")
    phase: str = Field(description="Running, Retrying, Failed or Cancelled.")
    attempt: int = Field(default=0, ge=0, description="The item's latest attempt number.")
    retries: int = Field(default=0, ge=0, description="Automatic retries this item used.")
    job: str | None = Field(default=None, description="The pod, Job or process of the attempt.")
    started_at: Time | None = Field(default=None, description="When the attempt started.")
    completed_at: Time | None = Field(default=None, description="When the item finished.")
    next_attempt_at: Time | None = Field(
        default=None, description="While Retrying: when the next attempt may start."
    )
    exit_code: int | None = Field(default=None, description="Exit code of the attempt.")
    reason: str = Field(default="", description="CamelCase cause of the phase, e.g. Timeout.")
    message: str = Field(default="", description="The last lines of the error for a failure.")


class FanOutStatus(Model):
    """The items of a forEach block, bounded: counts, one letter per item, some detail."""

    count: int = Field(ge=0, description="How many items the list had.")
    phases: str = Field(
        default="",
        description="One letter per item, in order: P Pending, R Running, W Retrying, "
        "S Succeeded, F Failed, C Cancelled.",
    )
    counts: dict[str, int] = Field(default_factory=dict, description="Items by phase.")
    attempts: list[int] = Field(
        default_factory=list, description="Each item's latest attempt number (0 = never started)."
    )
    active: list[ItemStatus] = Field(
        default_factory=list, description="The items Running or Retrying, by index."
    )
    failed: list[ItemStatus] = Field(
        default_factory=list,
        description=f"The first {ITEM_DETAIL} failed or cancelled items with their reason "
        "(the rest are counted in counts and marked in phases).",
    )
    outputs: list[dict[str, str]] = Field(
        default_factory=list,
        description="Each item's outputs, in item order ({} until it succeeds); downstream "
        "blocks read blocks.NAME.outputs.KEY as the JSON list of every item's KEY.",
    )
    output_bytes: int = Field(
        default=0,
        ge=0,
        description=f"What the items' outputs take as compact JSON (at most "
        f"{MAX_ITEM_OUTPUTS_BYTES:,}; an item that would pass it fails, OutputsTooLarge).",
    )
