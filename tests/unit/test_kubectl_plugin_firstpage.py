"""`list`'s first page at scale: sorts over the Table's printer columns, the archive's
capped counts in the footer, and a start-up that does not import what `list` never uses."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from runwright.api.crdgen import KINDS
from runwright.archive import Archive, RunFilter
from runwright.archive.query import RUN_PHASES
from runwright.cli.plugin import output
from runwright.cli.plugin.firstpage import EXACT_COLUMNS, rank
from runwright.cli.plugin.rows import from_body
from runwright.cli.plugin.selection import Selection, SortBy, sort_rows
from tests.unit.archive_bodies import T0, run_body

#: The bodies behind the Table: ties (same duration, same cost), and runs without the
#: value (running: no duration; no metrics), so both the direction and "absent last" count.
BODIES: list[dict[str, Any]] = [
    run_body("u1", name="a", seconds=30, metrics={"itemsProcessed": 5, "cost": 0.5}),
    run_body("u2", name="b", seconds=90, metrics={"itemsProcessed": 50, "cost": 0.25}),
    run_body("u3", name="c", seconds=30, metrics={"cost": 0.5}),
    run_body("u4", name="d", phase="Running", seconds=None, metrics={"itemsProcessed": 7}),
    run_body("u5", name="e", phase="Failed", seconds=5, pipeline="other"),
    run_body("u6", name="f", seconds=600, metrics={"itemsProcessed": 1, "cost": 3}),
]


def _cell(body: dict[str, Any], path: str) -> Any:
    """What the API server renders for a printer column's JSONPath (null when absent)."""
    value: Any = body
    for part in path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def table(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """A Table answer as the API server gives one for these runs: every printer column
    of the CRD (priority 1 too: the server leaves hiding them to the client)."""
    (kind,) = [k for k in KINDS if k.kind == "PipelineRun"]
    columns = [{"name": "Name", "type": "string", "priority": 0}] + [
        {"name": c["name"], "type": c["type"], "priority": c.get("priority", 0)}
        for c in kind.columns
    ]
    rows = [
        {
            "cells": [b["metadata"]["name"]]
            + [
                None if c["type"] == "date" else _cell(b, c["jsonPath"])  # ages: not sorted here
                for c in kind.columns
            ],
            "object": None,
        }
        for b in bodies
    ]
    return {"kind": "Table", "columnDefinitions": columns, "rows": rows}


@pytest.mark.parametrize("sort", [SortBy.DURATION, SortBy.ITEMS, SortBy.COST, SortBy.PHASE])
@pytest.mark.parametrize("reverse", [False, True])
def test_table_rows_rank_as_the_full_list_sorts(sort: SortBy, reverse: bool) -> None:
    ranked = rank([table(BODIES)], Selection(), sort, reverse, namespace="data")
    assert ranked is not None
    full = sort_rows([from_body(b) for b in BODIES], sort, reverse)
    assert [c.name for c in ranked] == [r.name for r in full]


def test_longest_first_with_the_unfinished_run_last() -> None:
    ranked = rank([table(BODIES)], Selection(), SortBy.DURATION, False, namespace="data")
    assert ranked is not None
    assert [c.name for c in ranked] == ["f", "b", "c", "a", "e", "d"]


def test_the_table_s_filters_apply_before_ranking() -> None:
    ranked = rank([table(BODIES)], Selection(pipeline="other"), SortBy.COST, False, namespace="x")
    assert ranked is not None
    assert [(c.namespace, c.name) for c in ranked] == [("x", "e")]


def test_a_run_in_both_lists_is_ranked_once() -> None:
    """Labelled between the labelled list and the unlabelled one (label_selectors)."""
    ranked = rank(
        [table(BODIES), table(BODIES[:2])],
        Selection(pipeline="daily-etl"),
        SortBy.COST,
        False,
        namespace="data",
    )
    assert ranked is not None
    assert sorted(c.name for c in ranked) == ["a", "b", "c", "d", "f"]


def test_a_table_without_the_sort_s_column_is_not_ranked() -> None:
    """A cluster whose CRD predates the column: `list` reads every run instead."""
    old = table(BODIES)
    gone = {EXACT_COLUMNS[SortBy.COST]}
    keep = [i for i, c in enumerate(old["columnDefinitions"]) if c["name"] not in gone]
    old["columnDefinitions"] = [old["columnDefinitions"][i] for i in keep]
    old["rows"] = [{"cells": [r["cells"][i] for i in keep], "object": None} for r in old["rows"]]
    assert rank([old], Selection(), SortBy.COST, False, namespace="data") is None
    assert rank([old], Selection(), SortBy.DURATION, False, namespace="data") is not None


def test_the_sort_columns_are_wide_only() -> None:
    (kind,) = [k for k in KINDS if k.kind == "PipelineRun"]
    priority = {c["name"]: c.get("priority", 0) for c in kind.columns}
    for sort in (SortBy.DURATION, SortBy.ITEMS, SortBy.COST):
        assert priority[EXACT_COLUMNS[sort]] == 1


def test_a_capped_count_is_shown_as_at_least() -> None:
    text = output.footer([], {"Succeeded": 10_000, "Failed": 3}, count_cap=10_000)
    assert text == "0 runs; archive holds 10003+ matching (Failed 3, Succeeded 10000+)"
    exact = output.footer([], {"Succeeded": 9_999, "Failed": 3}, count_cap=10_000)
    assert exact == "0 runs; archive holds 10002 matching (Failed 3, Succeeded 9999)"


async def test_counts_stop_at_the_cap_per_phase(archive: Archive) -> None:
    for i in range(7):
        await archive.record_run(run_body(f"s{i}", started=T0 + timedelta(minutes=i)))
    for i in range(2):
        await archive.record_run(run_body(f"f{i}", phase="Failed"))
    await archive.record_run(run_body("o1", namespace="other", phase="Failed"))
    where = RunFilter(namespaces=["data"])
    assert await archive.count_by_phase(where) == {"Succeeded": 7, "Failed": 2}
    assert await query_capped(archive, where, 5) == {"Succeeded": 5, "Failed": 2}
    assert await query_capped(archive, where, 2) == {"Succeeded": 2, "Failed": 2}
    failed = RunFilter(namespaces=["data"], phases=("Failed",))
    assert await query_capped(archive, failed, 5) == {"Failed": 2}
    assert await query_capped(archive, RunFilter(namespaces=[]), 5) == {}


async def query_capped(archive: Archive, where: RunFilter, cap: int) -> dict[str, int]:
    from runwright.archive import count_by_phase

    return await count_by_phase(archive.engine, where, cap=cap)


def test_the_archive_s_phases_are_the_api_s() -> None:
    from runwright.api.trigger import RunPhase

    assert set(RUN_PHASES) == {p.value for p in RunPhase}


def _modules_after(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_list_with_the_archive_does_not_import_alembic() -> None:
    """A reader never migrates; Alembic was ~0.2 s of every `list --archived`."""
    code = (
        "import sys, runwright.cli.plugin.commands, runwright.cli.plugin.listing,"
        " runwright.cli.plugin.archived, runwright.archive;"
        "print(sorted(m for m in ('alembic', 'kubernetes_asyncio') if m in sys.modules))"
    )
    assert _modules_after(code) == "[]"


def test_migrate_is_the_function_however_the_package_is_first_imported() -> None:
    """The submodule `migrate` and the function `migrate` share a name: loading the first
    must not hide the second, whichever is imported first."""
    code = (
        "import inspect, runwright.archive.migrate;"
        "from runwright.archive import Archive, migrate, head_revision;"
        "import runwright.archive as a;"
        "print(inspect.iscoroutinefunction(migrate), a.migrate is migrate, head_revision())"
    )
    assert _modules_after(code).split()[:2] == ["True", "True"]
    code = (
        "import inspect; from runwright.archive import Archive, migrate;"
        "print(inspect.iscoroutinefunction(migrate))"
    )
    assert _modules_after(code) == "True"
