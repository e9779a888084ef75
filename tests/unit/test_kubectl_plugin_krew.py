"""The krew manifest of `kubectl runwright` (hack/krew/runwright.yaml) has the shape krew
needs, and names the console script the package installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "hack" / "krew" / "runwright.yaml"


def test_the_krew_manifest_installs_the_kubectl_runwright_binary() -> None:
    plugin = yaml.safe_load(MANIFEST.read_text())
    assert plugin["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert plugin["kind"] == "Plugin"
    assert plugin["metadata"]["name"] == "runwright"
    spec = plugin["spec"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", spec["version"])
    assert spec["shortDescription"] and len(spec["shortDescription"]) <= 80
    for platform in spec["platforms"]:
        assert platform["bin"] == "kubectl-runwright"
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert spec["version"] in platform["uri"]
        assert {"from": "kubectl-runwright", "to": "."} in platform["files"]


def test_the_package_installs_the_console_script_krew_runs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version = project["version"]
    assert project["scripts"]["kubectl-runwright"] == "runwright.cli.plugin.commands:main"
    assert yaml.safe_load(MANIFEST.read_text())["spec"]["version"] == f"v{version}"
