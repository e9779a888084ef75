"""The dashboards and alert rules against a real Prometheus scraping the real operator.

A `prometheus` server (Debian's package; `.ci/run` installs it) runs as a subprocess
on a free 127.0.0.1 port, scraping this test's operator every second under the job
name the alerts expect (`runwright`), with charts/runwright/files/runwright.rules.yaml
loaded. The operator runs the examples (diamond-etl twice: outputs, itemsProcessed;
flaky-retries twice: a block retried until it fails, a tolerated failure, a Failed
run), with pods scripted for the kwok node. Then every dashboard query (its template
variables resolved the way Grafana would, `label_values(...)` through the label API)
and every alert expression is evaluated through /api/v1/query: each must parse, and
the core panels must return data. `promtool check rules` is a unit test
(tests/unit/test_observability.py).

Under CI=true a missing `prometheus` is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .operator_fixture import Operator, Runs, free_port, pod, template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "runwright"
RULES = CHART / "files" / "runwright.rules.yaml"
EXAMPLES = ROOT / "examples"
JOB = "runwright"  # RunwrightOperatorDown looks for up{job="runwright"}

#: Panels that must show data after the scenario, by dashboard file and title.
CORE_PANELS = {
    "runwright-overview.json": {
        "Success rate",
        "Finished runs",
        "Runs by phase",
        "Active runs by phase",
        "Run duration p50 / p95 by pipeline",
        "Failed runs and SLA misses by pipeline",
        "Active and queued blocks",
        "Block start latency p50 / p95",
        "Kubernetes API requests",
        "Reconcile duration p95 and errors",
    },
    "runwright-pipeline.json": {
        "Runs by phase",
        "Run duration p50 / p95",
        "Block duration p50 / p95",
        "Block results",
        "Retries by block",
        "Failures by reason",
        "Block start latency p50 / p95",
        "Active and queued blocks",
        "Items processed",
        "Every block metric",
    },
}


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("prometheus not found under CI=true: .ci/run installs Debian's package")
        pytest.skip("prometheus not found (apt-get install prometheus)")
    return found


@dataclass
class Prometheus:
    """A Prometheus server subprocess and its HTTP API."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; the JSON answer, an error answer included (status "error")."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
                answer: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}") or {"status": "error", "error": str(exc)}
        return answer

    def query(self, expr: str) -> dict[str, Any]:
        return self.get("query", query=expr)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def prometheus(operator: Operator, tmp_path: Path) -> Iterator[Prometheus]:
    """Prometheus scraping `operator` every second as job "runwright", the rules loaded."""
    binary = prometheus_binary()
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{operator.port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        up = f'up{{job="{JOB}"}} == 1'
        wait(prom, "Prometheus to scrape the operator", lambda: results(prom, up), 60)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait(prom: Prometheus, what: str, check: Any, timeout: float) -> Any:
    """Poll check() until truthy; Prometheus exiting or the deadline fails with its log."""
    deadline = time.monotonic() + timeout
    while True:
        if prom.proc.poll() is not None:
            raise AssertionError(
                f"prometheus exited with {prom.proc.returncode}:\n{prom.log_tail()}"
            )
        with_value = None
        with contextlib.suppress(urllib.error.URLError, ConnectionError):  # not listening yet
            with_value = check()
        if with_value:
            return with_value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}\n{prom.log_tail()}"
            )
        time.sleep(0.5)


def results(prom: Prometheus, expr: str) -> list[dict[str, Any]]:
    answer = prom.query(expr)
    assert answer.get("status") == "success", (expr, answer)
    found: list[dict[str, Any]] = answer["data"]["result"]
    return found


def value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


# ----- the examples, their pods scripted for kwok -------------------------------------------


def example(name: str, **scripts: dict[str, Any]) -> dict[str, Any]:
    """examples/NAME.yaml with the test image, each pod running 1s, and `scripts[block]`
    (pod(...) fields) saying what that block's pod does instead of its command."""
    manifest: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    manifest["spec"]["template"] = template(duration="1s")
    for body in manifest["spec"]["blocks"]:
        body.update(scripts.get(body["name"], {}))
    return manifest


def reports(outputs: dict[str, str], items: int) -> dict[str, Any]:
    """A pod whose termination message is what the example's block writes."""
    return pod(message=json.dumps({"outputs": outputs, "metrics": {"itemsProcessed": items}}))


DIAMOND = example(
    "diamond-etl",
    extract=reports({"rows": "1200"}, 1200),
    clean=reports({"rows": "1150"}, 1200),
    enrich=reports({"columns": "region"}, 1200),
    export=reports({"exported": "1150"}, 1150),
)
# kwok cannot fail only a first attempt: `fetch` fails every one of its 3 attempts
# (2 retries), so the run ends Failed; `lint` fails, tolerated (allowFailure).
FLAKY = example("flaky-retries", fetch=pod(fail=True), lint=pod(fail=True, exit_code=2))


def run_examples(runs: Runs) -> None:
    """Two rounds of both examples; the second moves counters whose series the first made."""
    runs.apply(DIAMOND)
    runs.apply(FLAKY)
    for round_ in (1, 2):
        etl, flaky = runs.start(f"etl-{round_}", "diamond-etl"), f"flaky-{round_}"
        runs.start(flaky, "flaky-retries")
        assert runs.wait_finished(etl)["status"]["phase"] == "Succeeded"
        final = runs.wait_finished(flaky)["status"]
        assert (final["phase"], final["blocks"]["fetch"]["attempt"]) == ("Failed", 3), final


# ----- dashboards: queries with their variables resolved ---------------------------------------

VARIABLE = re.compile(r"\$\{?(\w+)\}?")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for ${name} in {expr}"
        return values[name]

    return VARIABLE.sub(one, expr)


def label_values(prom: Prometheus, query: str, values: dict[str, str]) -> list[str]:
    """Grafana's `label_values(selector, label)`, through the label values API."""
    found = LABEL_VALUES.match(query)
    assert found, query
    answer = prom.get(
        f"label/{found['label']}/values", **{"match[]": substitute(found["selector"], values)}
    )
    assert answer.get("status") == "success", (query, answer)
    names: list[str] = answer["data"]
    return names


def resolve(
    prom: Prometheus, model: dict[str, Any], base: dict[str, str], **chosen: str
) -> dict[str, str]:
    """Every template variable's value: `chosen` for single-value ones, All (every value the
    variable's query finds, as a regex alternation) for multi-value ones."""
    values = dict(base)
    for var in model["templating"]["list"]:
        if var["type"] != "query":
            continue
        options = label_values(prom, var["query"], values)
        assert options, f"variable {var['name']} ({var['query']}) finds no values"
        if var["name"] in chosen:
            assert chosen[var["name"]] in options, (var["name"], options)
            values[var["name"]] = chosen[var["name"]]
        else:
            assert var.get("multi"), f"single-value variable {var['name']} needs a choice"
            # Grafana escapes regex metacharacters; these names (DNS labels) have none.
            assert all(re.fullmatch(r"[A-Za-z0-9_-]+", o) for o in options), options
            values[var["name"]] = "|".join(options)
    return values


def panels(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, target expr) of every query of a dashboard."""
    stack = list(model["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_every_dashboard_query_and_alert_works_against_prometheus(
    operator: Operator, prometheus: Prometheus, runs: Runs, ns: str
) -> None:
    started = time.monotonic()
    run_examples(runs)

    # The scrape has caught up once it shows the last run's outcome.
    def caught_up() -> bool:
        by_phase = {
            (s["metric"]["pipeline"], s["metric"]["phase"]): value(s)
            for s in results(prometheus, f'runwright_pipeline_runs_total{{namespace="{ns}"}}')
        }
        return (
            by_phase.get(("diamond-etl", "Succeeded")) == 2
            and by_phase.get(("flaky-retries", "Failed")) == 2
        )

    wait(prometheus, "the scrape to show every finished run", caught_up, 30)

    # A window holding every sample this Prometheus has; Grafana's $__rate_interval and
    # $__range would be the dashboard's interval and time range.
    window = f"{math.ceil(time.monotonic() - started) + 30}s"
    base = {"__rate_interval": window, "__range": window, "__interval": window}
    choices: dict[str, list[dict[str, str]]] = {
        "runwright-overview.json": [{}],
        "runwright-pipeline.json": [
            {"namespace": ns, "pipeline": "diamond-etl"},
            {"namespace": ns, "pipeline": "flaky-retries"},
        ],
    }
    failures: list[str] = []
    evaluated = 0
    for path in sorted((CHART / "dashboards").glob("*.json")):
        model = json.loads(path.read_text())
        with_data: dict[str, bool] = {}
        for chosen in choices[path.name]:
            values = resolve(prometheus, model, base, **chosen)
            assert ns in values["namespace"].split("|"), values
            for title, expr in panels(model):
                query = substitute(expr, values)
                answer = prometheus.query(query)
                evaluated += 1
                if answer.get("status") != "success":
                    failures.append(f"{path.name} {title!r}: {answer.get('error')}\n  {query}")
                    continue
                # Data: at least one series with a number (a quantile of no change is NaN).
                finite = [s for s in answer["data"]["result"] if math.isfinite(value(s))]
                with_data[title] = with_data.get(title, False) or bool(finite)
        empty = sorted(t for t in CORE_PANELS[path.name] if not with_data.get(t))
        if empty:
            failures.append(f"{path.name}: core panels without data: {empty}")
        unknown = CORE_PANELS[path.name] - set(with_data)
        assert not unknown, f"{path.name} has no panels titled {unknown}"
    assert evaluated >= 40, evaluated

    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        answer = prometheus.query(rule["expr"])
        if answer.get("status") != "success":
            failures.append(f"alert {rule['alert']}: {answer.get('error')}")
    assert not failures, "\n".join(failures)

    # The operator is up under the job name the alert expects: OperatorDown is quiet.
    assert results(prometheus, 'absent(up{job="runwright"} == 1)') == []

    # Prometheus evaluates the loaded rules without error, and the failed runs fire one.
    def firing() -> set[tuple[str, str]]:
        rules = prometheus.get("rules", type="alert")["data"]["groups"][0]["rules"]
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert not bad, bad
        return {
            (a["labels"]["alertname"], a["labels"].get("pipeline", ""))
            for r in rules
            for a in r.get("alerts", [])
            if a["state"] == "firing"
        }

    alerts = wait(prometheus, "RunwrightRunsFailing to fire", lambda: firing(), 30)
    assert ("RunwrightRunsFailing", "flaky-retries") in alerts, alerts
    assert ("RunwrightRunsFailing", "diamond-etl") not in alerts, alerts
