"""Rendering the Helm chart in tests: the helm binary, and the rendered objects by kind."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "runwright"


def helm() -> str:
    """The helm binary (.cluster/bin/helm, built by `make tools`, else PATH); skip without one.

    Under CI=true a missing helm fails the test: CI builds the tools first.
    """
    local = ROOT / ".cluster" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("helm not found under CI=true: `make tools` should have built it")
        pytest.skip("helm not found (`make tools` builds it into .cluster/bin)")
    return found


def render(*sets: str, namespace: str = "runwright-system") -> list[dict[str, Any]]:
    """`helm template` with --set values; the rendered objects (empty documents dropped)."""
    args = [helm(), "template", "rw", str(CHART), "--namespace", namespace]
    for value in sets:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The rendered objects of one kind."""
    return [o for o in objects if o["kind"] == kind]
