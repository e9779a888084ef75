"""`{{ }}` templates: checked against the pipeline up front, rendered per attempt.

The language itself (what a template may say, and the bounds of rendering) is
engine.template_lang; this module applies it to a pipeline: which names a block's
templates may read (its variables, run fields, its own upstream's outputs), which
fields are templates, and the messages that name them. The result of a render is
only ever an argv element, an environment value or a `when` input, never a shell
line. A typo in a variable name, a reference to a block that is not upstream, or a
construct outside the language is reported when the Pipeline is applied, not when
the run reaches that block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import nodes

from runwright.api.pipeline import Block, PipelineSpec
from runwright.engine import fanout
from runwright.engine.dag import Problem, did_you_mean
from runwright.engine.reasons import ProblemReason
from runwright.engine.template_lang import Budget, TemplateError, evaluate, parse, path_of

__all__ = [
    "RUN_FIELDS",
    "Budget",
    "TemplateError",
    "check",
    "context",
    "is_template",
    "render",
    "template_fields",
    "validate",
]

#: The fields of `run` a template may read.
RUN_FIELDS = ("name", "pipeline", "executionDate", "attempt")
#: The fields of `run` only a spec.finally block reads: the outcome of the blocks before it.
FINALLY_RUN_FIELDS = ("phase", "reason", "failedBlocks")
_ROOTS = ("variables", "run", "blocks")


def is_template(text: str) -> bool:
    """True when `text` contains template syntax and so needs rendering."""
    return "{{" in text or "{%" in text or "{#" in text


def _shown(text: str) -> str:
    """The template as messages show it: cut short when long."""
    return text if len(text) <= 120 else text[:117] + "..."


def _quoted(text: str) -> str:
    return repr(_shown(text))


def render(
    text: str, context: Mapping[str, Any], where: str = "", budget: Budget | None = None
) -> str:
    """Render one template string; plain strings come back unchanged.

    `where` names the template for the user ("block load: args[0]"); an error says
    it in the pipeline's terms (which upstream output is missing, what it wrote),
    not jinja's. `budget` is the attempt's total (MAX_ATTEMPT_CHARS) when the
    caller renders several fields of one pod.
    """
    if not is_template(text):
        return text
    prefix = f"{where}: {_shown(text)}" if where else _shown(text)
    parsed = parse(text)
    if parsed.tree is None or parsed.refusal is not None:
        raise TemplateError(f"{prefix}: {parsed.refusal}")
    try:
        out = evaluate(parsed.tree, context)
    except TemplateError as exc:
        raise TemplateError(f"{prefix}: {exc}") from exc
    if budget is not None:
        budget.spend(where or _quoted(text), len(out))
    return out


def context(
    *,
    variables: Mapping[str, str],
    run_name: str,
    pipeline: str,
    execution_date: str,
    attempt: int,
    upstream_outputs: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The names a template sees: variables, run, and blocks (upstream outputs only)."""
    return {
        "variables": dict(variables),
        "run": {
            "name": run_name,
            "pipeline": pipeline,
            "executionDate": execution_date,
            "attempt": attempt,
        },
        "blocks": {name: {"outputs": dict(out)} for name, out in upstream_outputs.items()},
    }


def _references(tree: nodes.Node) -> Iterator[list[str | None]]:
    """Every reference path of a template, e.g. ['blocks', 'load', 'outputs', 'rows']."""
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            current: nodes.Node = node
            while isinstance(current, nodes.Getattr | nodes.Getitem):
                if isinstance(current, nodes.Getitem):
                    stack.append(current.arg)
                current = current.node
            if isinstance(current, nodes.Name):
                yield path_of(node)
            else:
                stack.append(current)
            continue
        stack.extend(node.iter_child_nodes())


def check(
    text: str,
    *,
    variables: Sequence[str],
    upstream: Sequence[str],
    item: bool = False,
    run_fields: Sequence[str] = RUN_FIELDS,
) -> list[str]:
    """What is wrong with one template, as sentences; empty when it is fine.

    `item` is True only where a fan-out item exists (a forEach block, to come); the
    name is reserved everywhere else.
    """
    if not is_template(text):
        return []
    parsed = parse(text)
    if parsed.tree is None or parsed.refusal is not None:
        return [f"{_quoted(text)}: {parsed.refusal}"]
    problems: list[str] = []
    for path in _references(parsed.tree):
        root, key = path[0] or "", path[1] if len(path) > 1 else None
        if root == "item":
            if not item:
                problems.append(
                    "item is reserved for the fan-out item of a forEach block; this block has none"
                )
        elif root not in _ROOTS:
            problems.append(
                f'"{root}" is not defined; templates can use variables.NAME, run.FIELD and '
                f"blocks.UPSTREAM.outputs.KEY{did_you_mean(root, _ROOTS)}"
            )
        elif key is None:
            continue  # a computed key (or the whole map): checked when it is rendered
        elif root == "variables" and key not in variables:
            problems.append(
                f"variables.{key} is not a variable of this pipeline; add it to "
                f"spec.variables{did_you_mean(key, variables)}"
            )
        elif root == "run" and key in FINALLY_RUN_FIELDS and key not in run_fields:
            problems.append(
                f"run.{key} is set only in spec.finally blocks: the run's outcome is not "
                "known while its blocks run"
            )
        elif root == "run" and key not in run_fields:
            problems.append(
                f"run.{key} does not exist; run has {', '.join(run_fields)}"
                f"{did_you_mean(key, run_fields)}"
            )
        elif root == "blocks":
            if key not in upstream:
                problems.append(
                    f'blocks.{key} is not upstream of this block; add "{key}" to its '
                    "upstream to read its outputs"
                )
            elif len(path) > 2 and path[2] != "outputs":
                problems.append(f"blocks.{key}.{path[2]}: only .outputs can be read")
    return problems


def template_fields(block: Block) -> Iterator[tuple[str, str]]:
    """(field path relative to the block, template text) for every templated field."""
    for i, arg in enumerate(block.args):
        yield f"args[{i}]", arg
    for i, env in enumerate(block.env):
        if env.value is not None:
            yield f"env[{i}].value", env.value
    for i, cond in enumerate(block.when):
        yield f"when[{i}].input", cond.input


def validate(spec: PipelineSpec) -> list[Problem]:
    """Every template problem of a pipeline, each naming its field."""
    variables = list(spec.variables)
    problems: list[Problem] = []
    # template.env is rendered for every block: it may read only what all of them can.
    shared = set.intersection(*(set(b.upstream) for b in spec.blocks)) if spec.blocks else set()
    for i, env in enumerate(spec.template.env):
        if env.value is None:
            continue
        for message in check(env.value, variables=variables, upstream=sorted(shared)):
            problems.append(
                Problem(f"spec.template.env[{i}].value", message, ProblemReason.INVALID_TEMPLATE)
            )
    for i, block in enumerate(spec.blocks):
        for where, text in template_fields(block):
            # A fan-out's args and env are rendered per item; its `when`, once for the block.
            item = block.for_each is not None and not where.startswith("when")
            for message in check(text, variables=variables, upstream=block.upstream, item=item):
                problems.append(
                    Problem(f"spec.blocks[{i}].{where}", message, ProblemReason.INVALID_TEMPLATE)
                )
        if block.for_each is not None:
            where = f"spec.blocks[{i}].forEach.items"
            for message in check(
                block.for_each.items, variables=variables, upstream=block.upstream
            ):
                problems.append(Problem(where, message, ProblemReason.INVALID_TEMPLATE))
    return problems + fanout.check(spec)
