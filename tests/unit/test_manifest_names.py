"""Object names must fit a label value, because every run and Job carries them as labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.cli.main import main


def test_a_name_longer_than_63_characters_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "p" * 64
    path = tmp_path / "long.yaml"
    path.write_text(
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {name}}}\nspec: {{blocks: [{{name: a, command: [x]}}]}}\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "metadata.name" in err
    assert "64 characters; at most 63" in err


def test_a_63_character_name_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {'p' * 63}}}\nspec: {{blocks: [{{name: a, command: [x]}}]}}\n"
    )
    assert main(["validate", str(path)]) == 0
