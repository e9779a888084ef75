"""One vocabulary: every reason is an enum member with a doc, docs/reasons.md says the same,
and the engine writes members, never bare strings."""

from __future__ import annotations

import ast
import importlib.util
import re
from enum import StrEnum
from pathlib import Path
from types import ModuleType

import pytest

from runwright.engine import reasons
from runwright.engine.reasons import BlockReason, SkipReason
from runwright.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "operator" / "runwright" / "engine"
DOCS = ROOT / "docs" / "reasons.md"
EXECUTORS = [
    *sorted((ROOT / "operator" / "runwright" / "executors").glob("*.py")),
    ROOT / "operator" / "runwright" / "controller" / "executors.py",
]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reasons_doc", ROOT / "hack" / "reasons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_values() -> set[str]:
    return {member.value for enum in reasons.VOCABULARY for member in enum}


@pytest.mark.parametrize("enum", reasons.VOCABULARY, ids=lambda e: e.__name__)
def test_every_reason_has_a_one_line_doc(enum: type[StrEnum]) -> None:
    docs = generator().member_docs(enum)
    assert list(docs) == [m.name for m in enum]
    undocumented = [name for name, doc in docs.items() if not doc]
    assert not undocumented, f"{enum.__name__}: add a docstring under {undocumented}"
    assert enum.__doc__


def test_reasons_are_camel_case_words() -> None:
    for enum in reasons.VOCABULARY:
        for member in enum:
            assert re.fullmatch(r"[A-Z][A-Za-z]*", member.value), (enum.__name__, member)


def test_docs_reasons_md_is_generated_from_the_enums() -> None:
    assert DOCS.read_text() == generator().render(), "run `python hack/reasons.py` and commit"


def test_docs_name_only_reasons_that_exist_in_their_section() -> None:
    by_name = {enum.__name__: {m.value for m in enum} for enum in reasons.VOCABULARY}
    section: str | None = None
    listed: dict[str, set[str]] = {name: set() for name in by_name}
    for line in DOCS.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            assert section in by_name, f"docs/reasons.md has a section for no enum: {section}"
        row = re.match(r"\| `([^`]+)` \|", line)
        if row and section is not None:
            assert row.group(1) in by_name[section], (section, row.group(1))
            listed[section].add(row.group(1))
    assert listed == by_name


def test_only_invalid_template_is_not_retryable() -> None:
    assert not reasons.retryable(BlockReason.INVALID_TEMPLATE)
    assert [r for r in BlockReason if not reasons.retryable(r)] == [BlockReason.INVALID_TEMPLATE]
    assert reasons.retryable("SomethingKubernetesSaid")


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    found.add(id(stmt.value))
    return found


def test_the_engine_writes_no_reason_as_a_bare_string() -> None:
    """Outside reasons.py, a string equal to a reason is a literal that should be a member."""
    values = all_values()
    bare: list[str] = []
    for path in sorted(ENGINE.glob("*.py")):
        if path.name == "reasons.py":
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        bare.extend(
            f"{path.name}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in values
            and id(node) not in docs
        )
    assert not bare, "use the reasons.py member instead:\n" + "\n".join(bare)


def _reason_literals(path: Path) -> set[str]:
    """String constants an executor gives as a reason: reason=..., x.reason = ..., REASON_*."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        values: list[ast.expr] = []
        if isinstance(node, ast.keyword) and node.arg == "reason":
            values.append(node.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                name = target.attr if isinstance(target, ast.Attribute) else None
                name = target.id if isinstance(target, ast.Name) else name
                if name is not None and (name == "reason" or name.startswith("REASON_")):
                    values.append(node.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_fail_to_start":
            values.extend(node.args[2:3])
        for value in values:
            found.update(_outcomes(value))
    return found


def _outcomes(expr: ast.expr) -> set[str]:
    """The string constants an expression can evaluate to (not the keys it looks up)."""
    if isinstance(expr, ast.Constant):
        return {expr.value} if isinstance(expr.value, str) and expr.value else set()
    if isinstance(expr, ast.IfExp):
        return _outcomes(expr.body) | _outcomes(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return set().union(*(_outcomes(v) for v in expr.values))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "str":
        return set().union(*(_outcomes(a) for a in expr.args))
    return set()


def test_every_block_reason_an_executor_makes_is_in_the_vocabulary() -> None:
    made = set().union(*(_reason_literals(p) for p in EXECUTORS if p.exists()))
    assert made <= {r.value for r in BlockReason}, made - {r.value for r in BlockReason}


def test_the_skipped_fires_metric_names_the_real_skip_reasons() -> None:
    help_text = METRICS.trigger_skipped_total._documentation
    for reason in SkipReason:
        assert reason.value in help_text
