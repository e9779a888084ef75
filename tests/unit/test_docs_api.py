"""Issue 10 item 13: the API reference (docs/api.md) is generated from the models,
names every field of Pipeline, Trigger and PipelineRun, and fails `--check` when stale."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from runwright.api.crdgen import KINDS

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"


@pytest.fixture(scope="module")
def apidocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apidocs", ROOT / "hack" / "apidocs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reachable() -> list[type[BaseModel]]:
    """Every model a resource's spec or status is made of (the page must cover them)."""
    seen: list[type[BaseModel]] = []
    stack: list[type[BaseModel]] = [m for kind in KINDS for m in (kind.spec, kind.status)]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            stack.extend(_models(field.annotation))
    return seen


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def _section(text: str, model: str) -> str:
    match = re.search(rf"^### {model}\n(.*?)(?=^#{{2,3}} |\Z)", text, re.M | re.S)
    assert match is not None, f"docs/api.md has no section for {model}"
    return match.group(1)


def test_the_committed_reference_is_fresh(apidocs: ModuleType) -> None:
    assert API_MD.read_text() == apidocs.render(), "docs/api.md is stale: run `make apidocs`"


def test_every_field_of_every_model_has_a_row_with_type_and_description() -> None:
    text = API_MD.read_text()
    for model in _reachable():
        section = _section(text, model.__name__)
        for name, field in model.model_fields.items():
            alias = field.alias or name
            (row,) = [r for r in section.splitlines() if r.startswith(f"| `{alias}` |")]
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert len(cells) == 4, row
            assert cells[1], f"{model.__name__}.{alias}: no type"
            if field.description:
                assert " ".join(field.description.split()) in row.replace("\\|", "|")
            if field.is_required():
                assert cells[2] == "required"


def test_enums_and_defaults_are_spelled_out() -> None:
    text = API_MD.read_text()
    run_spec = _section(text, "PipelineRunSpec")
    assert "| `triggeredBy` | one of `Manual`," in run_spec
    assert '| `"Manual"` |' in run_spec
    assert "| `failFast` | boolean | `true` |" in _section(text, "PipelineSpec")


def test_check_fails_when_stale_and_passes_when_fresh(
    apidocs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "api.md"
    assert apidocs.main(["--out", str(out), "--check"]) == 1  # missing
    assert apidocs.main(["--out", str(out)]) == 0
    assert apidocs.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("required", "optional", 1))
    assert apidocs.main(["--out", str(out), "--check"]) == 1
    assert "make apidocs" in capsys.readouterr().err


def test_make_test_runs_the_check() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (test_line,) = [line for line in makefile.splitlines() if line.startswith("test:")]
    assert "check-apidocs" in test_line
