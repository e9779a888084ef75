"""Dashboards and alert rules: fresh, deterministic, and naming only metrics that exist."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from runwright.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "charts" / "runwright" / "dashboards"
RULES = ROOT / "charts" / "runwright" / "files" / "runwright.rules.yaml"
RULE_TESTS = Path(__file__).parent / "promtool" / "runwright_alerts_test.yaml"
METRIC = re.compile(r"\brunwright_[a-z0-9_]+\b")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "hack" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_expressions() -> list[str]:
    found: list[str] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        found.extend(generator().expressions(json.loads(path.read_text())))
    return found


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_committed_dashboards_are_fresh(tmp_path: Path) -> None:
    assert generator().main(["--out", str(DASHBOARDS), "--check"]) == 0


def test_dashboard_generation_is_deterministic() -> None:
    module = generator()
    for build in module.DASHBOARDS.values():
        assert module.render(build) == module.render(build)


def test_check_fails_on_a_stale_dashboard(tmp_path: Path) -> None:
    module = generator()
    assert module.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "runwright-overview.json").write_text("{}\n")
    assert module.main(["--out", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("source", ["dashboards", "alerts"])
def test_every_queried_metric_is_defined_in_metrics_py(source: str) -> None:
    exprs = dashboard_expressions() if source == "dashboards" else rule_expressions()
    names = {name for expr in exprs for name in METRIC.findall(expr)}
    assert names, "no runwright_* metric found: the parser is broken"
    unknown = names - Metrics().names()
    assert not unknown, f"{source} query metrics that metrics.py does not define: {unknown}"


def test_the_dashboards_have_namespace_and_pipeline_variables() -> None:
    for path in sorted(DASHBOARDS.glob("*.json")):
        model: dict[str, Any] = json.loads(path.read_text())
        variables = {v["name"] for v in model["templating"]["list"]}
        assert {"datasource", "namespace", "pipeline"} <= variables, path.name
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == "${datasource}"


def test_every_panel_has_a_title_and_a_description() -> None:
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["title"] and panel.get("description"), panel


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool not found under CI=true: .ci/run installs it (Debian prometheus)")
        pytest.skip("promtool not found (apt-get install prometheus)")
    return found


def test_promtool_accepts_the_rules_file() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_fires_in_promtool_unit_tests() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULE_TESTS.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    defined = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert tested == defined
