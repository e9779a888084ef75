"""The operator and runner images, checked without Docker: what they run, as whom, with what."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from runwright.engine.outputs import MAX_OUTPUT_BYTES, parse_output

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "operator" / "Dockerfile"
LOCK = ROOT / "operator" / "requirements.lock"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("path", [DOCKERFILE, ROOT / "runner-image" / "Dockerfile"])
def test_images_run_as_a_non_root_user_from_a_pinned_base(path: Path) -> None:
    steps = instructions(path)
    users = [arg for word, arg in steps if word == "USER"]
    assert users, f"{path} sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    (base,) = [arg for word, arg in steps if word == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base


def test_the_operator_entrypoint_is_runwright_operator() -> None:
    (entrypoint,) = [arg for word, arg in instructions(DOCKERFILE) if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["runwright", "operator"]
    assert not [arg for word, arg in instructions(DOCKERFILE) if word == "CMD"]


def test_the_entrypoint_runs_as_a_plain_process() -> None:
    runwright = Path(sys.executable).parent / "runwright"
    out = subprocess.run(
        [str(runwright), "operator", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for flag in ("--max-concurrent-blocks", "--executor", "--namespace", "--log-format"):
        assert flag in out.stdout


def test_the_lock_pins_every_runtime_dependency() -> None:
    pins = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower(): line.split("==")[1]
        for line in LOCK.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all(version for version in pins.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, f"{name} is not in {LOCK}"


def sdk() -> ModuleType:
    path = ROOT / "runner-image" / "runwright_sdk.py"
    spec = importlib.util.spec_from_file_location("runwright_sdk", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sdk_writes_what_the_operator_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    monkeypatch.setenv("RUNWRIGHT_OUTPUT_PATH", str(target))
    written = sdk().write_outputs({"rows": "1200"}, {"itemsProcessed": 1200, "cost": 0.5})
    assert written == target
    assert parse_output(target.read_text()) == (
        {"rows": "1200"},
        {"itemsProcessed": 1200.0, "cost": 0.5},
    )


def test_sdk_limit_is_the_operators() -> None:
    assert sdk().MAX_OUTPUT_BYTES == MAX_OUTPUT_BYTES


def test_sdk_refuses_output_over_4_kib(tmp_path: Path) -> None:
    module = sdk()
    with pytest.raises(module.OutputError, match="4096-byte limit"):
        module.write_outputs({"blob": "x" * 5000}, path=tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_sdk_accepts_exactly_4_kib(tmp_path: Path) -> None:
    module = sdk()
    overhead = len(module.encode_outputs({"b": ""}).encode())
    module.write_outputs({"b": "x" * (MAX_OUTPUT_BYTES - overhead)}, path=tmp_path / "o")
    assert len((tmp_path / "o").read_bytes()) == MAX_OUTPUT_BYTES


@pytest.mark.parametrize(
    ("outputs", "metrics", "message"),
    [
        ({"rows": 12}, None, r'outputs\["rows"\] is int'),
        (None, {"cost": "high"}, r'metrics\["cost"\]'),
        (None, {"ok": True}, r'metrics\["ok"\]'),
        (None, {"nan": float("nan")}, "finite"),
    ],
)
def test_sdk_refuses_values_the_contract_does_not_allow(
    outputs: object, metrics: object, message: str, tmp_path: Path
) -> None:
    module = sdk()
    with pytest.raises(module.OutputError, match=message):
        module.write_outputs(outputs, metrics, path=tmp_path / "o")


def test_sdk_outside_a_block_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWRIGHT_OUTPUT_PATH", raising=False)
    module = sdk()
    with pytest.raises(module.OutputError, match="RUNWRIGHT_OUTPUT_PATH is not set"):
        module.write_outputs({"a": "b"})


def test_sdk_with_nothing_to_report_writes_an_empty_object(tmp_path: Path) -> None:
    sdk().write_outputs(path=tmp_path / "o")
    assert parse_output((tmp_path / "o").read_text()) == ({}, {})
