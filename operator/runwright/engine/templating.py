"""Sandboxed `{{ }}` templates: validated against the pipeline up front, rendered per attempt.

Templates are rendered by jinja2's SandboxedEnvironment with StrictUndefined and the
result is only ever passed as an argv element or an environment value, never to a
shell. Validation walks the template's syntax tree, so a typo in a variable name or
a reference to a block that is not upstream is reported when the Pipeline is applied,
not when the run reaches that block.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from runwright.api.pipeline import Block, PipelineSpec
from runwright.engine.dag import Problem, did_you_mean
from runwright.engine.reasons import ProblemReason

#: The fields of `run` a template may read.
RUN_FIELDS = ("name", "pipeline", "executionDate", "attempt")
_ROOTS = ("variables", "run", "blocks")

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateError(Exception):
    """A template that cannot be rendered; the message names the template and the cause."""


def is_template(text: str) -> bool:
    """True when `text` contains jinja syntax and so needs rendering."""
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Any:
    return _ENV.from_string(text)


def render(text: str, context: Mapping[str, Any], where: str = "") -> str:
    """Render one template string in the sandbox; plain strings come back unchanged.

    `where` names the template for the user ("block load: args[0]"); an error says
    it in the pipeline's terms (which upstream output is missing, what it wrote),
    not jinja's (`'dict object' has no attribute 'rows'`).
    """
    if not is_template(text):
        return text
    prefix = f"{where}: {text}" if where else text
    try:
        return str(_compile(text).render(context))
    except UndefinedError as exc:
        raise TemplateError(f"{prefix}: {_missing(text, context) or exc}") from exc
    except (TemplateSyntaxError, SecurityError) as exc:
        raise TemplateError(f"{prefix}: {exc}") from exc


def _missing(text: str, context: Mapping[str, Any]) -> str | None:
    """The first name the template reads that the context lacks, said in the user's terms."""
    for path in _references(_ENV.parse(text)):
        if len(path) < 2 or path[0] not in _ROOTS:
            continue
        root, key = path[0], path[1]
        if root == "variables" and key not in context.get("variables", {}):
            return f'variable "{key}" is not set'
        if root == "blocks" and len(path) > 3 and path[2] == "outputs":
            upstream = context.get("blocks", {}).get(key)
            if upstream is None:
                return f'"{key}" is not upstream of this block'
            written = sorted(upstream.get("outputs", {}))
            if path[3] not in written:
                wrote = f"it wrote: {', '.join(written)}" if written else "it wrote no outputs"
                return f'upstream "{key}" wrote no output "{path[3]}" ({wrote})'
    return None


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


def _references(node: nodes.Node) -> Iterator[list[str]]:
    """Every dotted/subscripted name path in a template, e.g. ['blocks', 'load', 'outputs']."""
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        path: list[str] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                path.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
                path.append(current.arg.value)
            else:
                # A computed subscript: we can check only what is left of it.
                path.clear()
                yield from _references(current.arg)
            current = current.node
        if isinstance(current, nodes.Name):
            yield [current.name, *reversed(path)]
            return
        yield from _references(current)
        return
    if isinstance(node, nodes.Name):
        yield [node.name]
        return
    for child in node.iter_child_nodes():
        yield from _references(child)


def check(text: str, *, variables: Sequence[str], upstream: Sequence[str]) -> list[str]:
    """What is wrong with one template, as sentences; empty when it is fine."""
    if not is_template(text):
        return []
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        return [f"{text!r} is not a valid template: {exc.message}"]
    local_names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems: list[str] = []
    for path in _references(tree):
        root = path[0]
        if root in local_names:
            continue
        if root not in _ROOTS:
            problems.append(
                f'"{root}" is not defined; templates can use variables.NAME, run.FIELD and '
                f"blocks.UPSTREAM.outputs.KEY{did_you_mean(root, _ROOTS)}"
            )
        elif root == "variables" and len(path) > 1 and path[1] not in variables:
            problems.append(
                f"variables.{path[1]} is not a variable of this pipeline; add it to "
                f"spec.variables{did_you_mean(path[1], variables)}"
            )
        elif root == "run" and len(path) > 1 and path[1] not in RUN_FIELDS:
            problems.append(
                f"run.{path[1]} does not exist; run has {', '.join(RUN_FIELDS)}"
                f"{did_you_mean(path[1], RUN_FIELDS)}"
            )
        elif root == "blocks" and len(path) > 1:
            if path[1] not in upstream:
                problems.append(
                    f'blocks.{path[1]} is not upstream of this block; add "{path[1]}" to its '
                    "upstream to read its outputs"
                )
            elif len(path) > 2 and path[2] != "outputs":
                problems.append(f"blocks.{path[1]}.{path[2]}: only .outputs can be read")
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
    for i, block in enumerate(spec.blocks):
        for where, text in template_fields(block):
            for message in check(text, variables=variables, upstream=block.upstream):
                problems.append(
                    Problem(f"spec.blocks[{i}].{where}", message, ProblemReason.INVALID_TEMPLATE)
                )
    return problems
