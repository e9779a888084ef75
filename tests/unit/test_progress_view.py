"""Issue 10 item 10: the local live view reads in DAG order, explains its symbols, and
prints durations in human units (one formatter, engine/durations.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from runwright.api.run import BlockPhase, PipelineRun
from runwright.cli.progress import BLOCK_SYMBOL, dag_order, run_table
from runwright.engine.durations import human

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (float("nan"), "0s"),
        (0.42, "0.4s"),
        (4.25, "4.2s"),
        (9.99, "9.9s"),
        (12.7, "12s"),
        (92, "1m32s"),
        (184, "3m04s"),
        (3720, "1h02m"),
        (86400 * 2 + 3 * 3600 + 59, "2d03h"),
    ],
)
def test_human_durations(seconds: float, text: str) -> None:
    assert human(seconds) == text


def _run(blocks: list[dict[str, Any]], states: dict[str, dict[str, Any]]) -> PipelineRun:
    return PipelineRun.model_validate(
        {
            "apiVersion": "runwright.dev/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": "etl-local-abcde"},
            "spec": {"pipelineRef": {"name": "etl"}},
            "status": {
                "phase": "Running",
                "startedAt": T0.isoformat(),
                "pipelineSpec": {"template": {"image": "python:3.12"}, "blocks": blocks},
                "blocks": states,
            },
        }
    )


# Written downstream-first: the alphabet and the file both put a later block first.
BLOCKS = [
    {"name": "report", "upstream": ["load"]},
    {"name": "load", "upstream": ["extract"]},
    {"name": "audit"},
    {"name": "extract"},
]


def _render(run: PipelineRun) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(
        run_table(run, now=T0 + timedelta(seconds=100))
    )
    return out.getvalue()


def test_blocks_are_listed_upstream_first_ties_in_pipeline_order() -> None:
    run = _run(BLOCKS, {b["name"]: {"phase": "Pending"} for b in BLOCKS})
    assert dag_order(run) == ["audit", "extract", "load", "report"]
    text = _render(run)
    rows = [line for line in text.splitlines() if "│" in line and "Pending" in line]
    assert [row.split()[1] for row in rows] == ["audit", "extract", "load", "report"]


def test_the_table_has_a_one_line_legend_of_the_symbols_it_shows() -> None:
    states = {
        "extract": {"phase": "Succeeded", "attempt": 1},
        "load": {"phase": "Failed", "attempt": 2, "message": "boom"},
        "report": {"phase": "UpstreamFailed"},
        "audit": {"phase": "Running", "attempt": 1, "startedAt": T0.isoformat()},
    }
    text = _render(_run(BLOCKS, states))
    (line,) = [line for line in text.splitlines() if "✓ Succeeded" in line and "✗" in line]
    assert line.strip() == "▶ Running  ✓ Succeeded  ✗ Failed  ↑ UpstreamFailed"
    assert set(BLOCK_SYMBOL) == set(BlockPhase)  # every phase has a symbol


def test_durations_in_the_table_are_human() -> None:
    states = {
        "extract": {
            "phase": "Succeeded",
            "attempt": 1,
            "startedAt": T0.isoformat(),
            "completedAt": (T0 + timedelta(seconds=92)).isoformat(),
        },
        "audit": {"phase": "Running", "attempt": 1, "startedAt": T0.isoformat()},
    }
    text = _render(_run(BLOCKS, states))
    assert "1m32s" in text  # extract's 92 seconds
    assert "1m40s" in text  # audit and the run, 100 seconds so far
    assert " 92 " not in text and " 100 " not in text
