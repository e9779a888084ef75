"""The template language: `{{ expression }}` over a small allow-list, evaluated with bounds.

A template is text with `{{ expr }}` holes. jinja2's sandboxed parser reads it, then
every node of the tree is checked against an allow-list (references, literals,
`~`/`+`/`-`, comparisons, `and`/`or`/`not`, `x if c else y` and the filters of
FILTERS); statements (`{% %}`), calls, `*`, `/`, `%`, `**`, tests and anything
else are refused with a sentence naming the construct. The tree is then evaluated
here, not compiled by jinja: references are plain dict lookups (never a Python
attribute), and every intermediate string is measured before it is built, so no
template can allocate more than a few times MAX_FIELD_CHARS or loop: the cost of a
render is linear in its output, and its output is capped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.sandbox import SandboxedEnvironment

#: The most characters one templated field may render to (64 KiB of ASCII).
MAX_FIELD_CHARS = 64 * 1024
#: The most characters all templated fields of one block attempt (its pod's args and
#: env together) may render to: the Job must stay far under the API server's 1.5 MiB.
MAX_ATTEMPT_CHARS = 256 * 1024
#: The longest template source (a field with `{{`); plain text is never parsed.
MAX_SOURCE_CHARS = 4 * 1024
#: The most tokens ({{, names, dots, operators, literals, text) in one template: parsing
#: is the costliest step (tens of µs a token), so this keeps it to a few milliseconds.
#: `{{ blocks.load.outputs.rows | default('0') }}` is 13.
MAX_TOKENS = 100
#: The most expression nodes in one template, and how deep they may nest.
MAX_NODES = 100
MAX_DEPTH = 32

#: The names a template can read, and how many fields deep each goes.
ROOT_DEPTH = {"variables": 1, "run": 1, "blocks": 3, "item": 2}
#: The filters a template may use (docs/templates.md says what each does).
FILTERS = ("default", "join", "length", "lower", "replace", "tojson", "trim", "upper")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


class _TooLong(Exception):
    """More tokens than MAX_TOKENS: the parse stops there."""


class _TokenCap(Extension):
    """Counts the tokens as the parser takes them, and stops it past MAX_TOKENS.

    Lexing and parsing are the costly steps (tens of microseconds a token), and the
    parser recurses with nesting: the cap bounds both before they can cost much.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        for count, token in enumerate(stream, start=1):
            if count > MAX_TOKENS:
                raise _TooLong
            yield token


_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, extensions=[_TokenCap])

#: Expression nodes allowed as they are; references, filters and literals have rules of
#: their own in `_refusal`.
_PLAIN = (
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Neg,
    nodes.Pos,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Compare,
    nodes.Operand,
    nodes.CondExpr,
)
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Mul: "'*' (repetition and multiplication)",
    nodes.Div: "'/' (division)",
    nodes.FloorDiv: "'//' (division)",
    nodes.Mod: "'%' (string formatting and modulo)",
    nodes.Pow: "'**' (power)",
    nodes.Call: "a call (functions, methods, range, format)",
    nodes.Test: "an 'is' test",
    nodes.Slice: "a slice",
}


class TemplateError(Exception):
    """A template that cannot be rendered; the message names the template and the cause."""


class Missing(TemplateError):
    """A reference to something the context lacks (a `default` filter catches it)."""


@dataclass
class Budget:
    """Characters one block attempt's templates may still render (MAX_ATTEMPT_CHARS)."""

    left: int = MAX_ATTEMPT_CHARS
    used: list[str] = field(default_factory=list)

    def spend(self, where: str, chars: int) -> None:
        """Take `chars` from the budget, or fail naming the field that went over."""
        if chars > self.left:
            raise TemplateError(
                f"{where}: the templates of one block attempt may render at most "
                f"{MAX_ATTEMPT_CHARS} characters in all; this field would go over"
            )
        self.left -= chars


@dataclass(frozen=True)
class Parsed:
    """A template's tree, or why it is refused (a sentence for the user)."""

    tree: nodes.Template | None
    refusal: str | None


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Parsed:
    """Parse and check one template against the allow-list; cached by its text."""
    if len(text) > MAX_SOURCE_CHARS:
        return Parsed(None, f"a template may be at most {MAX_SOURCE_CHARS} characters long")
    if "{%" in text:
        # Statements (and `{% raw %}`, which leaves no trace in the tree) are refused by
        # their opening mark; "{%" cannot appear in a template field even in a literal.
        return Parsed(None, _STATEMENTS)
    try:
        tree = _ENV.parse(text)
    except _TooLong:
        return Parsed(None, _TOO_LONG)
    except TemplateSyntaxError as exc:
        return Parsed(None, f"not a valid template: {exc.message}")
    except RecursionError:
        return Parsed(None, f"nested too deeply (at most {MAX_DEPTH} levels)")
    except ValueError as exc:  # e.g. an integer literal of more than 4,300 digits
        return Parsed(None, f"not a valid template: {exc}")
    return Parsed(tree, _walk(tree))


_TOO_LONG = (
    f"too long an expression (at most {MAX_TOKENS} names, operators and literals in one "
    "field); split the work over variables or an upstream block's outputs"
)
_STATEMENTS = (
    "{% %} statements (for, if, set, macro...) are not allowed: a template is text with "
    "{{ expression }} holes; see docs/templates.md"
)


def _walk(tree: nodes.Template) -> str | None:
    """The first construct of the tree that the language refuses, as a sentence."""
    count = 0
    stack: list[tuple[nodes.Node, int]] = [(n, 1) for n in tree.body]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            return _TOO_LONG
        if depth > MAX_DEPTH:
            return f"nested too deeply (at most {MAX_DEPTH} levels)"
        refusal = _refusal(node)
        if refusal is not None:
            return refusal
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            # The chain was checked whole; only computed keys hold further expressions.
            children: list[nodes.Node] = [
                c.arg for c in _chain(node) if isinstance(c, nodes.Getitem)
            ]
        else:
            children = list(node.iter_child_nodes())
        stack.extend((child, depth + 1) for child in children)
    return None


def _refusal(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
        return _STATEMENTS
    for kind, what in _REFUSED.items():
        if isinstance(node, kind):
            return f"{what} is not allowed in a template; see docs/templates.md"
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            return f'filter "{node.name}" is not allowed; the filters are {", ".join(FILTERS)}'
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return f'filter "{node.name}": *args and **kwargs are not allowed'
        return None
    if isinstance(node, nodes.Name):
        return None
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        return _path_refusal(node)
    if isinstance(node, _PLAIN):
        return None
    return f"{type(node).__name__} expressions are not allowed in a template"


def _chain(node: nodes.Node) -> Iterator[nodes.Getattr | nodes.Getitem]:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        yield node
        node = node.node


def _path_refusal(node: nodes.Getattr | nodes.Getitem) -> str | None:
    links = list(_chain(node))
    root = links[-1].node
    if not isinstance(root, nodes.Name) or root.name not in ROOT_DEPTH:
        return (
            "only variables, run, blocks and item can be read (no fields of literals or "
            "other expressions); see docs/templates.md"
        )
    for link in links:
        key = link.attr if isinstance(link, nodes.Getattr) else None
        if isinstance(link, nodes.Getitem) and isinstance(link.arg, nodes.Const):
            key = str(link.arg.value)
        if key is not None and key.startswith("_"):
            return f'"{key}": names starting with "_" are unsafe and cannot be read'
    if len(links) > ROOT_DEPTH[root.name]:
        return f"{root.name} is read at most {ROOT_DEPTH[root.name]} field(s) deep"
    return None


def evaluate(tree: nodes.Template, context: Mapping[str, Any]) -> str:
    """Render a checked tree: dict lookups and allow-listed operations, every size bounded."""
    parts: list[str] = []
    size = 0
    for output in tree.body:
        assert isinstance(output, nodes.Output)  # _walk refused every other statement
        for node in output.nodes:
            text = _text(
                node.data if isinstance(node, nodes.TemplateData) else _eval(node, context)
            )
            size += len(text)
            _fits(size)
            parts.append(text)
    return "".join(parts)


def _fits(size: int) -> None:
    if size > MAX_FIELD_CHARS:
        raise TemplateError(
            f"renders to more than {MAX_FIELD_CHARS} characters (the most one field may hold)"
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _size(value: Any) -> int:
    """An upper bound of the characters `value` takes as text (or as JSON)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_size(k) + _size(v) + 4 for k, v in value.items()) + 2
    if isinstance(value, list | tuple):
        return sum(_size(v) + 2 for v in value) + 2
    return 32


def _eval(node: nodes.Node, ctx: Mapping[str, Any]) -> Any:
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        return _lookup(node, ctx)
    if isinstance(node, nodes.List | nodes.Tuple):
        return _bounded([_eval(n, ctx) for n in node.items])
    if isinstance(node, nodes.Dict):
        return _bounded({_eval(p.key, ctx): _eval(p.value, ctx) for p in node.items})
    if isinstance(node, nodes.Concat):
        texts: list[str] = []
        for part in node.nodes:
            texts.append(_text(_eval(part, ctx)))
            _fits(sum(map(len, texts)))
        return "".join(texts)
    if isinstance(node, nodes.Add | nodes.Sub):
        left, right = _eval(node.left, ctx), _eval(node.right, ctx)
        _fits(_size(left) + _size(right))
        return _checked(lambda: left + right if isinstance(node, nodes.Add) else left - right)
    if isinstance(node, nodes.Neg | nodes.Pos):
        value = _eval(node.node, ctx)
        return _checked(lambda: -value if isinstance(node, nodes.Neg) else +value)
    if isinstance(node, nodes.Not):
        return not _eval(node.node, ctx)
    if isinstance(node, nodes.And):
        return _eval(node.left, ctx) and _eval(node.right, ctx)
    if isinstance(node, nodes.Or):
        return _eval(node.left, ctx) or _eval(node.right, ctx)
    if isinstance(node, nodes.CondExpr):
        if _eval(node.test, ctx):
            return _eval(node.expr1, ctx)
        return _eval(node.expr2, ctx) if node.expr2 is not None else ""
    if isinstance(node, nodes.Compare):
        return _compare(node, ctx)
    if isinstance(node, nodes.Filter):
        return _filter(node, ctx)
    raise TemplateError(f"{type(node).__name__} expressions are not allowed in a template")


def _checked(operation: Callable[[], Any]) -> Any:
    try:
        return operation()
    except TypeError as exc:
        raise TemplateError(f"cannot compute that: {exc}") from exc


def _bounded(value: Any) -> Any:
    _fits(_size(value))
    return value


def _compare(node: nodes.Compare, ctx: Mapping[str, Any]) -> bool:
    left = _eval(node.expr, ctx)
    for operand in node.ops:
        right = _eval(operand.expr, ctx)
        compare = _COMPARE[operand.op]
        if not _checked(functools.partial(compare, left, right)):
            return False
        left = right
    return True


def path_of(node: nodes.Node) -> list[str | None]:
    """['blocks', 'load', 'outputs', 'rows'] for a reference; None for a computed key."""
    keys: list[str | None] = []
    for link in _chain(node):
        if isinstance(link, nodes.Getattr):
            keys.append(link.attr)
        elif isinstance(link.arg, nodes.Const):
            keys.append(str(link.arg.value))
        else:
            keys.append(None)
        node = link.node
    assert isinstance(node, nodes.Name)
    return [node.name, *reversed(keys)]


def _lookup(node: nodes.Name | nodes.Getattr | nodes.Getitem, ctx: Mapping[str, Any]) -> Any:
    """Follow a reference through dicts only; a missing key is Missing, said plainly."""
    links = list(reversed(list(_chain(node))))
    root = node if isinstance(node, nodes.Name) else links[0].node
    assert isinstance(root, nodes.Name)
    if root.name not in ctx:
        raise Missing(f'"{root.name}" is not defined here')
    value: Any = ctx[root.name]
    seen = [root.name]
    for link in links:
        if isinstance(link, nodes.Getattr):
            key: Any = link.attr
        else:
            key = _eval(link.arg, ctx)
        if not isinstance(key, str) or key.startswith("_"):
            raise TemplateError(f"{'.'.join(seen)}[{key!r}]: keys are names, not {key!r}")
        if not isinstance(value, Mapping):
            raise TemplateError(f"{'.'.join(seen)} is a {type(value).__name__}: it has no {key}")
        if key not in value:
            raise Missing(_missing_words(seen, key, value))
        value = value[key]
        seen.append(key)
    if _size(value) > MAX_FIELD_CHARS:
        raise TemplateError(
            f"{'.'.join(seen)} holds {_size(value)} characters, more than the "
            f"{MAX_FIELD_CHARS} a template may render"
        )
    return value


def _missing_words(seen: Sequence[str], key: str, value: Mapping[str, Any]) -> str:
    """What is missing in the pipeline's terms, not jinja's ('dict object' has no ...)."""
    if seen == ["variables"]:
        return f'variable "{key}" is not set'
    if seen == ["blocks"]:
        return f'"{key}" is not upstream of this block'
    if len(seen) == 3 and seen[0] == "blocks" and seen[2] == "outputs":
        written = sorted(value)
        wrote = f"it wrote: {', '.join(written)}" if written else "it wrote no outputs"
        return f'upstream "{seen[1]}" wrote no output "{key}" ({wrote})'
    return f"{'.'.join(seen)} has no {key}"


def _filter(node: nodes.Filter, ctx: Mapping[str, Any]) -> Any:
    if node.name == "default":
        try:
            value = _eval(node.node, ctx) if node.node is not None else ""
        except Missing:
            value = None
        args = [_eval(a, ctx) for a in node.args]
        fallback = args[0] if args else ""
        boolean = bool(args[1]) if len(args) > 1 else False
        return fallback if value is None or (boolean and not value) else value
    value = _eval(node.node, ctx) if node.node is not None else ""
    args = [_eval(a, ctx) for a in node.args]
    kwargs = {str(k.key): _eval(k.value, ctx) for k in node.kwargs if isinstance(k, nodes.Keyword)}
    try:
        return _FILTERS[node.name](value, *args, **kwargs)
    except TypeError as exc:
        raise TemplateError(f'filter "{node.name}": {exc}') from exc


def _replace(value: Any, old: str, new: str, count: int = -1) -> str:
    text = _text(value)
    old, new = _text(old), _text(new)
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    _fits(len(text) + hits * max(0, len(new) - len(old)))
    return text.replace(old, new, count)


def _join(value: Any, separator: str = "") -> str:
    items = [_text(v) for v in (value.values() if isinstance(value, Mapping) else value)]
    _fits(sum(map(len, items)) + max(0, len(items) - 1) * len(_text(separator)))
    return _text(separator).join(items)


def _tojson(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    _fits(len(text))
    return text


def _case(change: Callable[[str], str]) -> Callable[[Any], str]:
    def changed(value: Any) -> str:
        text = change(_text(value))
        _fits(len(text))
        return text

    return changed


_FILTERS: dict[str, Callable[..., Any]] = {
    "join": _join,
    "length": len,
    "lower": _case(str.lower),
    "replace": _replace,
    "tojson": _tojson,
    "trim": lambda value, chars=None: _text(value).strip(chars),
    "upper": _case(str.upper),
}
