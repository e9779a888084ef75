"""Fan-out facts every planner module reads: item values, item outputs as lists, slots, checks.

The fan-out planner itself (expand, observe, start, stop the items) is
`engine.fanout_run`; this module holds what the rest of the engine asks of a forEach
block without depending on it: what `{{ item }}` is, what a downstream block sees as
the block's outputs (each key as the JSON list of every item's value, in item order,
null where an item reported none), how many budget slots the block holds (its
running items), and the Pipeline checks (a list over the cap, a block name that
would share the items' pod names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from runwright.api.fanout import MAX_ITEMS, PHASE_LETTERS, FanOutStatus, ItemStatus
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import BlockPhase, BlockStatus
from runwright.engine.dag import Problem
from runwright.engine.reasons import ProblemReason

#: The letter of each item phase in `FanOutStatus.phases`.
LETTER = {BlockPhase(phase): letter for letter, phase in PHASE_LETTERS.items()}
PENDING, RUNNING, RETRYING = "P", "R", "W"
SUCCEEDED, FAILED, CANCELLED = "S", "F", "C"
#: Items not finished: they keep a fan-out block unfinished.
UNFINISHED = (PENDING, RUNNING, RETRYING)
#: The longest message an item keeps (its error's tail): many items, small status.
ITEM_MESSAGE_CHARS = 300


class ItemValue(dict[str, Any]):
    """`{{ item }}`: the item itself when rendered, its fields and `index` when read.

    An object item's fields are `item.FIELD`; `item.index` is always the position in
    the list (it wins over a field named index). Rendered whole, a string item is
    itself and any other item its JSON.
    """

    def __init__(self, value: Any, index: int) -> None:
        fields = value if isinstance(value, Mapping) else {}
        super().__init__({**fields, "index": index})
        self.value = value

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, sort_keys=True, separators=(",", ":"))


def counts(phases: str) -> dict[str, int]:
    """Items by phase name (only the phases some item has)."""
    found = {letter: phases.count(letter) for letter in PHASE_LETTERS}
    return {PHASE_LETTERS[letter]: n for letter, n in found.items() if n}


def slots(st: BlockStatus) -> int:
    """Budget slots a block holds: 1 while Running, a fan-out its running items."""
    if st.phase != BlockPhase.RUNNING:
        return 0
    if st.items is None:
        return 1
    return st.items.counts.get(PHASE_LETTERS[RUNNING], 0)


def outputs_of(st: BlockStatus) -> dict[str, str]:
    """The block's outputs as downstream blocks see them.

    A plain block's outputs as reported; a fan-out's, each key as the JSON list of
    every item's value in item order (null for an item that reported none).
    """
    items = st.items
    if items is None:
        return st.outputs
    keys = sorted({key for out in items.outputs for key in out})
    return {
        key: json.dumps([out.get(key) for out in items.outputs], separators=(",", ":"))
        for key in keys
    }


def item_detail(items: FanOutStatus, index: int) -> ItemStatus | None:
    """The detail the status keeps of one item (in flight, or among the first failed)."""
    for entry in (*items.active, *items.failed):
        if entry.index == index:
            return entry
    return None


def summary(items: FanOutStatus, allow_failures: int) -> str:
    """A block message for a fan-out: its items by phase."""
    parts = [f"{n} {phase.lower()}" for phase, n in items.counts.items()]
    allowed = f" (allowFailures {allow_failures})" if allow_failures else ""
    return f"{items.count} items: {', '.join(parts) or 'none'}{allowed}"


def parse_items(text: str) -> list[Any]:
    """forEach.items (as written, or rendered): a JSON list, or ValueError saying what it is."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"is {shown!r}, which is not JSON; it must be a JSON list") from None
    if not isinstance(value, list):
        raise ValueError(f"is a JSON {type(value).__name__}; it must be a JSON list")
    return value


def too_many(count: int) -> str | None:
    """The refusal of a list over MAX_ITEMS, else None."""
    if count <= MAX_ITEMS:
        return None
    return (
        f"{count:,} items is over the {MAX_ITEMS:,} a fan-out may have; split the list over "
        "several forEach blocks, or give each item a batch of the work"
    )


def check(spec: PipelineSpec) -> list[Problem]:
    """Fan-out problems of a Pipeline: a literal list over the cap, item names shared.

    An item's attempt is named `<run>-<block>-<index>-<attempt>`, so a block named
    `<fan-out block>-<digits>` would share names with the fan-out's items.
    """
    problems: list[Problem] = []
    fanouts = {b.name for b in spec.blocks if b.for_each is not None}
    if not fanouts:
        return problems
    for i, block in enumerate(spec.blocks):
        match = re.fullmatch(r"(.+)-[0-9]+", block.name)
        if match and match.group(1) in fanouts:
            problems.append(
                Problem(
                    f"spec.blocks[{i}].name",
                    f'"{block.name}" would share pod names with the items of forEach block '
                    f'"{match.group(1)}" (<block>-<index>-<attempt>); rename it',
                    ProblemReason.DUPLICATE_BLOCK,
                )
            )
        if block.for_each is not None and not is_template(block.for_each.items):
            where = f"spec.blocks[{i}].forEach.items"
            try:
                refusal = too_many(len(parse_items(block.for_each.items)))
            except ValueError as exc:
                problems.append(Problem(where, str(exc), ProblemReason.INVALID_ITEMS))
                continue
            if refusal:
                problems.append(Problem(where, refusal, ProblemReason.TOO_MANY_ITEMS))
    return problems


def is_template(text: str) -> bool:
    """True when forEach.items is a template (rendered per run), not a literal list."""
    return "{{" in text or "{%" in text
