"""spec.finally as a spec: its rules, and what a finally block's templates may read.

A finally block is a block like any other, run once every block of spec.blocks is
finished (engine.finally_blocks runs them). Its rules, checked by the CRD's CEL at
apply time and here for the Pipeline's Ready condition, `runwright validate` and a
run's start:
- names are unique across spec.blocks and spec.finally;
- its upstream names only other finally blocks (all of spec.blocks is done before any
  finally block starts, so naming one of them would say nothing); finally blocks form
  a DAG of their own, with the same rules as spec.blocks;
- no block of spec.blocks names a finally block as upstream (it would never start);
- its templates may read {{ run.phase }}, {{ run.reason }}, {{ run.failedBlocks }}
  and the outputs of every block of spec.blocks (a block that failed or never ran has
  the outputs it wrote, often none: use `| default(...)`), besides its own upstream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.api.run import BlockStatus, PipelineRunStatus
from runwright.engine import dag, fanout, templating
from runwright.engine.dag import Problem
from runwright.engine.reasons import ProblemReason

#: What `run` holds in a finally block's templates.
FINALLY_RUN_FIELDS = (*templating.RUN_FIELDS, *templating.FINALLY_RUN_FIELDS)


def validate(spec: PipelineSpec) -> list[Problem]:
    """Every problem of spec.finally, each naming its field; empty without finally blocks."""
    finally_ = spec.finally_
    dag_names = {b.name: i for i, b in enumerate(spec.blocks)}
    finally_names = {b.name: i for i, b in enumerate(finally_)}
    problems: list[Problem] = []
    for i, block in enumerate(spec.blocks):
        for j, up in enumerate(block.upstream):
            if up in finally_names and up not in dag_names:
                problems.append(
                    Problem(
                        f"spec.blocks[{i}].upstream[{j}]",
                        f'names "{up}", a finally block: finally blocks run after every block '
                        "of spec.blocks, so none of them can wait for one",
                        ProblemReason.UNKNOWN_UPSTREAM,
                    )
                )
    if not finally_:
        return problems
    for i, block in enumerate(finally_):
        if block.name in dag_names:
            problems.append(
                Problem(
                    f"spec.finally[{i}].name",
                    f'"{block.name}" is already the name of spec.blocks[{dag_names[block.name]}]; '
                    "names are unique across spec.blocks and spec.finally",
                    ProblemReason.DUPLICATE_BLOCK,
                )
            )
        for j, up in enumerate(block.upstream):
            if up in dag_names and up not in finally_names:
                problems.append(
                    Problem(
                        f"spec.finally[{i}].upstream[{j}]",
                        f'names "{up}" of spec.blocks: finally blocks start once every block '
                        "of spec.blocks is done, so upstream may name only other finally "
                        "blocks; remove it",
                        ProblemReason.UNKNOWN_UPSTREAM,
                    )
                )
    if problems:
        return problems
    # The finally blocks are a DAG of their own: the same checks, said in their terms.
    for problem in dag.validate(finally_):
        problems.append(
            Problem(
                problem.field.replace("spec.blocks", "spec.finally"),
                problem.message.replace("spec.blocks", "spec.finally"),
                problem.reason,
            )
        )
    if problems:
        return problems
    variables = list(spec.variables)
    for i, block in enumerate(finally_):
        readable = [*dag_names, *block.upstream]
        for where, text in templating.template_fields(block):
            for message in templating.check(
                text, variables=variables, upstream=readable, run_fields=FINALLY_RUN_FIELDS
            ):
                problems.append(
                    Problem(f"spec.finally[{i}].{where}", message, ProblemReason.INVALID_TEMPLATE)
                )
    return problems


def is_finally(spec: PipelineSpec, name: str) -> bool:
    """True when `name` is one of the spec's finally blocks (a short list: a scan)."""
    return any(b.name == name for b in spec.finally_)


def context(
    base: dict[str, Any],
    status: PipelineRunStatus,
    spec: PipelineSpec,
    upstream: tuple[str, ...],
) -> dict[str, Any]:
    """A finally block's template context: `base` plus the run's outcome and all outputs.

    `base` is what every block sees (variables, run, its upstream's outputs); a finally
    block reads besides the outcome of spec.blocks (status.finally) and every one of
    their outputs.
    """
    outcome = status.finally_
    if outcome is None:
        return base
    run = dict(base["run"])
    run.update(
        phase=str(outcome.run_phase),
        reason=outcome.reason,
        failedBlocks=list(outcome.failed_blocks),
    )
    blocks: Mapping[str, BlockStatus] = status.blocks
    readable: dict[str, Any] = {}
    for name in (*(b.name for b in spec.blocks), *upstream):
        st = blocks.get(name)
        # A fan-out's outputs as lists, as its downstream blocks see them.
        readable[name] = {"outputs": dict(fanout.outputs_of(st)) if st is not None else {}}
    return {**base, "run": run, "blocks": readable}
