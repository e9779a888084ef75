"""kubectl shows Runwright objects the way API.md says: columns, category, explain."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .kube import Cluster
from .test_crd_validation import pipeline, run, trigger

pytestmark = pytest.mark.integration

CRDS = Path(__file__).resolve().parents[2] / "crds"

# API.md's printer columns, after NAME.
COLUMNS = {
    "pipelines": ["BLOCKS", "READY", "ACTIVE", "LAST RUN", "LAST PHASE", "AGE"],
    "triggers": [
        "PIPELINE",
        "TYPE",
        "SCHEDULE",
        "SUSPEND",
        "LAST RUN",
        "LAST PHASE",
        "NEXT",
        "AGE",
    ],
    "pipelineruns": [
        "PIPELINE",
        "PHASE",
        "REASON",
        "PROGRESS",
        "TRIGGER",
        "STARTED",
        "DURATION",
        "AGE",
    ],
}
#: `-o wide` adds these (priority 1 columns).
#: -o wide only: the failure, and the sort keys of `kubectl runwright list --sort`.
WIDE = {"pipelineruns": ["FAILED BLOCK", "MESSAGE", "DURATION SECONDS", "ITEMS", "COST"]}
SHORT = {"pipelines": "pl", "triggers": "trg", "pipelineruns": "plr"}


@pytest.fixture
def one_of_each(cluster: Cluster, ns: str) -> str:
    for obj in (pipeline(), trigger(), run()):
        cluster.apply(obj, ns)
    return ns


def _headers(table: str) -> list[list[str]]:
    return [
        re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.startswith("NAME ")
    ]


def test_get_all_three_kinds_shows_the_printer_columns(cluster: Cluster, one_of_each: str) -> None:
    out = cluster.kubectl("get", "pipelines,triggers,pipelineruns", "-n", one_of_each).stdout
    headers = _headers(out)
    assert headers == [["NAME", *COLUMNS[k]] for k in ("pipelines", "triggers", "pipelineruns")], (
        out
    )
    for name in ("pipeline.runwright.dev/etl", "trigger.runwright.dev/nightly"):
        assert name in out


@pytest.mark.parametrize("plural", list(COLUMNS))
def test_short_names_and_columns(cluster: Cluster, one_of_each: str, plural: str) -> None:
    out = cluster.kubectl("get", SHORT[plural], "-n", one_of_each).stdout
    assert _headers(out) == [["NAME", *COLUMNS[plural]]], out


def test_trigger_row_shows_pipeline_type_and_schedule(cluster: Cluster, one_of_each: str) -> None:
    out = cluster.kubectl("get", "trg", "nightly", "-n", one_of_each, "--no-headers").stdout
    assert re.match(r"nightly\s+etl\s+Schedule\s+0 2 \* \* \*", out), out


def test_category_lists_all_three_kinds(cluster: Cluster, one_of_each: str) -> None:
    out = cluster.kubectl("get", "runwright", "-n", one_of_each, "-o", "name").stdout.split()
    assert sorted(out) == [
        "pipeline.runwright.dev/etl",
        "pipelinerun.runwright.dev/etl-manual-1",
        "trigger.runwright.dev/nightly",
    ]


def _schema(kind_plural: str) -> dict:  # type: ignore[type-arg]
    doc = yaml.safe_load((CRDS / f"runwright.dev_{kind_plural}.yaml").read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_explain_prints_our_descriptions(cluster: Cluster) -> None:
    blocks = _schema("pipelines")["properties"]["spec"]["properties"]["blocks"]
    out = _words(cluster.kubectl("explain", "pipeline.spec.blocks").stdout)
    assert "GROUP: runwright.dev" in out
    assert "KIND: Pipeline" in out
    assert _words(blocks["description"])[:60] in out
    for field, schema in blocks["items"]["properties"].items():
        assert field in out
        if "description" in schema:
            assert _words(schema["description"])[:40] in out, field


@pytest.mark.parametrize("path", ["trigger.spec.schedule", "pipelinerun.spec.retry"])
def test_explain_other_kinds(cluster: Cluster, path: str) -> None:
    out = cluster.kubectl("explain", path).stdout
    assert "DESCRIPTION:" in out
    assert "<empty>" not in out.split("FIELDS:")[0], out


def test_wide_run_columns_show_the_failed_block_and_message_and_a_human_duration(
    cluster: Cluster, one_of_each: str
) -> None:
    ns = one_of_each
    status = {
        "phase": "Failed",
        "reason": "BlockFailed",
        "message": "block load failed (Error): boom",
        "progress": "1/2",
        "durationSeconds": 92,
        "duration": "1m32s",
        "failedBlock": "load",
    }
    cluster.kubectl(
        "patch",
        "plr",
        "etl-manual-1",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    out = cluster.kubectl("get", "plr", "-n", ns, "-o", "wide").stdout
    assert _headers(out) == [["NAME", *COLUMNS["pipelineruns"], *WIDE["pipelineruns"]]], out
    row = next(line for line in out.splitlines() if line.startswith("etl-manual-1"))
    for shown in ("Failed", "BlockFailed", "1/2", "1m32s", "load", "block load failed", "92"):
        assert shown in row, row
    narrow = cluster.kubectl("get", "plr", "-n", ns).stdout
    assert "block load failed" not in narrow
