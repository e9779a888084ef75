"""`runwright validate` (issue 10, item 11): every problem in one pass; other kinds skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.cli.main import main
from runwright.manifests import load_text

SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: token}\nstringData: {token: x}\n"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"

FOUR_PROBLEMS = """apiVersion: runwright.dev/v1alpha1
kind: Pipeline
metadata: {name: etl}
spec:
  blocks:
  - {name: extract, command: [x], timeoutSeconds: -1}
  - {name: load, command: [x], upstream: [extrct]}
  - {name: report, command: [x], upstream: [extract], args: ["{{ variables.day }}"]}
  - {name: notify, command: [x], upstreams: [report]}
"""


def test_schema_dag_and_template_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "etl.yaml"
    path.write_text(FOUR_PROBLEMS)
    assert main(["validate", str(path)]) == 2
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 4, err
    assert any("spec.blocks[0].timeoutSeconds" in line for line in lines)
    assert any('spec.blocks[1].upstream[0]: names "extrct"' in line for line in lines)
    assert any("spec.blocks[2].args[0]" in line and "variables.day" in line for line in lines)
    assert any('unknown field "upstreams"' in line for line in lines)


def test_other_kinds_in_the_file_are_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = (
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: etl}\n"
        "spec: {blocks: [{name: a, command: [x]}]}\n"
    )
    path = tmp_path / "all.yaml"
    path.write_text("---\n".join([SECRET, pipeline, CONFIG_MAP]))
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"ok: {path}: Pipeline etl" in out
    assert f"skipped: {path}:1: Secret token: not a Runwright kind" in out
    assert "skipped:" in out and "ConfigMap settings" in out


def test_a_file_of_other_kinds_only_is_not_an_error() -> None:
    loaded = load_text(SECRET, "s.yaml")
    assert loaded.ok and loaded.manifests == []
    assert [str(n) for n in loaded.skipped] == ["s.yaml:1: Secret token: not a Runwright kind"]


def test_an_unknown_kind_of_our_api_group_is_still_an_error() -> None:
    loaded = load_text("apiVersion: runwright.dev/v1alpha1\nkind: Pipline\nmetadata: {name: a}\n")
    assert not loaded.ok and loaded.skipped == []
