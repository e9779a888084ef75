"""The engine's checks of a manifest (DAG, templates, schedule), even of one whose schema failed.

`runwright validate` and the operator's Pipeline status both use `check`; `validate`
also runs `check_skeleton` on a Pipeline the schema rejected, so every problem of a
file is reported in one pass (schema, DAG and templates together).
"""

from __future__ import annotations

from typing import Any

import pydantic

from runwright.api.pipeline import Block, Pipeline, PipelineSpec
from runwright.api.run import PipelineRun
from runwright.api.trigger import Trigger
from runwright.engine import dag, finally_spec, run_size, templating, triggers


def check(resource: Pipeline | Trigger | PipelineRun) -> list[dag.Problem]:
    """The engine's checks of a schema-valid resource: DAG, templates, schedule."""
    if isinstance(resource, Pipeline):
        return check_pipeline(resource.spec)
    if isinstance(resource, Trigger):
        return triggers.validate(resource.spec)
    return []


def check_pipeline(spec: PipelineSpec) -> list[dag.Problem]:
    """DAG and template problems together (templates read only each block's own upstream)."""
    finally_problems = finally_spec.validate(spec)
    # A block naming a finally block as upstream: finally's sentence says why, not dag's.
    said = {p.field for p in finally_problems}
    dag_problems = [p for p in dag.validate(spec.blocks) if p.field not in said]
    return dag_problems + templating.validate(spec) + finally_problems + run_size.check(spec)


def check_skeleton(kind: str, document: dict[str, Any]) -> list[dag.Problem]:
    """A Pipeline whose schema failed still gets its DAG and template checks.

    Each block that parses is checked as it is; one that does not is checked by the
    parts that are well-formed (its name, upstream and args), so a typo in one block
    does not hide a cycle or a template error elsewhere.
    """
    spec = document.get("spec")
    if kind != "Pipeline" or not isinstance(spec, dict) or not isinstance(spec.get("blocks"), list):
        return []
    blocks: list[Block] = []
    for raw in spec["blocks"]:
        raw = raw if isinstance(raw, dict) else {}
        try:
            blocks.append(Block.model_validate(raw))
        except pydantic.ValidationError:
            blocks.append(
                Block.model_construct(
                    name=_strings(raw.get("name")) or "",
                    upstream=_string_list(raw.get("upstream")),
                    args=_string_list(raw.get("args")),
                    env=[],
                    when=[],
                )
            )
    variables = spec.get("variables")
    skeleton = PipelineSpec.model_construct(
        blocks=blocks,
        variables={str(k): "" for k in variables} if isinstance(variables, dict) else {},
    )
    return check_pipeline(skeleton)


def _strings(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _string_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
