"""The runs list, export and action bodies of the web view (pure), and the live+archive merge."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runwright.archive import Archive
from runwright.web import actions, export, pipelines
from runwright.web.archived import archived_counts, merged_page
from runwright.web.runs import COLUMNS, QueryError, RunQuery, parse_query, row_of, select
from runwright.web.scope import Scope

from .archive_bodies import T0, run_body

NOW = T0 + timedelta(hours=2)


def rows_of(*bodies: dict[str, object]) -> list:  # type: ignore[type-arg]
    return [row_of(b) for b in bodies]


ROWS = rows_of(
    run_body(
        "u1",
        name="etl-1",
        phase="Succeeded",
        started=T0,
        seconds=30,
        metrics={"cost": 0.5, "tokens": 100},
    ),
    run_body(
        "u2",
        name="etl-2",
        phase="Failed",
        started=T0 + timedelta(minutes=5),
        seconds=90,
        message="block load failed",
    ),
    run_body(
        "u3",
        name="report-1",
        pipeline="report",
        phase="Running",
        started=T0 + timedelta(minutes=10),
        seconds=None,
        trigger="nightly",
        triggered_by="Schedule",
    ),
    run_body("u4", name="etl-3", phase="Pending", started=None, seconds=None),
    run_body(
        "u5",
        name="etl-4",
        namespace="other",
        phase="Failed",
        started=T0 - timedelta(days=3),
        seconds=5,
        metrics={"itemsProcessed": 7},
    ),
)


def test_a_run_body_becomes_the_seeds_row_plus_duration_cost_tokens() -> None:
    row = ROWS[0]
    assert (row.name, row.pipeline, row.phase, row.started, row.duration) == (
        "etl-1",
        "daily-etl",
        "Succeeded",
        "2026-11-21T02:00:00Z",
        30,
    )
    assert (row.cost, row.tokens, row.triggeredBy, row.archived) == (0.5, 100.0, "Manual", False)


def test_filters_by_phase_pipeline_trigger_namespace_and_text() -> None:
    def names(**params: str) -> list[str]:
        return sorted(r.name for r in select(ROWS, parse_query(params, NOW)).rows)

    assert names(phase="Failed") == ["etl-2", "etl-4"]
    assert names(pipeline="report") == ["report-1"]
    assert names(trigger="nightly") == ["report-1"]
    assert names(triggeredBy="Schedule") == ["report-1"]
    assert names(namespace="other") == ["etl-4"]
    assert names(q="LOAD failed") == ["etl-2"]
    assert names(range="24h") == ["etl-1", "etl-2", "report-1"]
    assert names(since="2026-11-21T02:04:00Z", until="2026-11-21T02:06:00Z") == ["etl-2"]


def test_counts_by_phase_ignore_the_phase_filter_but_keep_the_others() -> None:
    page = select(ROWS, parse_query({"phase": "Failed", "namespace": "data"}, NOW))
    assert page.counts == {"Succeeded": 1, "Failed": 1, "Running": 1, "Pending": 1}
    assert [r.name for r in page.rows] == ["etl-2"]


@pytest.mark.parametrize("column", COLUMNS)
def test_every_column_sorts_both_ways_with_missing_values_last(column: str) -> None:
    for order in ("asc", "desc"):
        rows = select(ROWS, parse_query({"sort": column, "order": order}, NOW)).rows
        values = [getattr(r, column) for r in rows]
        present = [v for v in values if v is not None]
        assert values[: len(present)] == present, "missing values come last"
        assert present == sorted(present, reverse=order == "desc")


def test_newest_started_first_by_default() -> None:
    assert [r.name for r in select(ROWS, parse_query({}, NOW)).rows] == [
        "report-1",
        "etl-2",
        "etl-1",
        "etl-4",
        "etl-3",
    ]


def test_cursor_pages_cover_every_row_once_in_order() -> None:
    for column in COLUMNS:
        whole = [r.uid for r in select(ROWS, RunQuery(sort=column)).rows]
        seen: list[str] = []
        cursor = None
        while True:
            page = select(ROWS, RunQuery(sort=column, limit=2, cursor=cursor))
            seen.extend(r.uid for r in page.rows)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == whole, column


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"phase": "Done"}, "phase='Done'"),
        ({"sort": "colour"}, "sort='colour'"),
        ({"range": "2y"}, "range='2y'"),
        ({"since": "yesterday"}, "RFC 3339"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_a_bad_parameter_is_named_with_its_fix(params: dict[str, str], words: str) -> None:
    with pytest.raises(QueryError, match=words.replace("(", r"\(")):
        select(ROWS, parse_query(params, NOW))


def test_csv_export_has_the_seeds_columns_and_exactly_the_rows() -> None:
    text = export.to_csv(ROWS[:2])
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "id",
        "namespace",
        "pipeline",
        "phase",
        "reason",
        "started",
        "completed",
        "duration",
        "items processed",
        "cost",
        "tokens",
        "triggered by",
        "error message",
        "archived",
    ]
    assert table[1] == [
        "etl-1",
        "data",
        "daily-etl",
        "Succeeded",
        "",
        "2026-11-21T02:00:00Z",
        "2026-11-21T02:00:30Z",
        "30",
        "",
        "0.5",
        "100",
        "Manual",
        "",
        "false",
    ]
    assert [r[0] for r in table[1:]] == ["etl-1", "etl-2"]


def test_only_a_failed_or_cancelled_run_has_an_error_message() -> None:
    assert ROWS[1].error == "block load failed"
    assert ROWS[0].error == "" and row_of(run_body("u8", message="all blocks finished")).error == ""


def test_csv_export_defuses_spreadsheet_formulas() -> None:
    row = row_of(run_body("u9", name="x", phase="Failed", message='=HYPERLINK("http://evil")'))
    cells = list(csv.reader(io.StringIO(export.to_csv([row]))))[1]
    assert cells[12] == '\'=HYPERLINK("http://evil")'


def test_json_export_has_the_same_records() -> None:
    assert json.loads(export.to_json(ROWS[:1])) == export.records(ROWS[:1])


def test_retry_asks_with_a_new_id_and_exactly_the_operators_fields() -> None:
    run = {"spec": {"retry": {"id": "3", "mode": "Incomplete"}}, "status": {"retryId": "3"}}
    action, targets = actions.parse_action(
        {
            "action": "retry",
            "mode": "FromBlock",
            "fromBlock": "load",
            "pipelineSpec": "Current",
            "runs": [{"namespace": "data", "name": "etl-2"}],
        }
    )
    assert targets == [("data", "etl-2")]
    assert actions.retry_patch(run, action) == {
        "spec": {
            "retry": {
                "id": "4",
                "mode": "FromBlock",
                "fromBlock": "load",
                "pipelineSpec": "Current",
            }
        }
    }


def test_rerun_is_a_new_run_naming_its_source() -> None:
    action, _ = actions.parse_action(
        {"action": "rerun", "runs": [{"namespace": "d", "name": "etl-2"}]}
    )
    body = actions.rerun_body(run_body("u2", name="etl-2"), action)
    assert body["metadata"] == {"generateName": "daily-etl-"}
    assert body["spec"] == {
        "pipelineRef": {"name": "daily-etl"},
        "triggeredBy": "Rerun",
        "rerunOf": {"name": "etl-2", "pipelineSpec": "Frozen"},
    }


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "explode", "runs": [{}]}, "action"),
        (
            {"action": "retry", "mode": "FromBlock", "runs": [{"namespace": "a", "name": "b"}]},
            "fromBlock",
        ),
        ({"action": "cancel", "runs": []}, "select some runs"),
        ({"action": "cancel", "runs": [{"name": "b"}]}, r"runs\[0\]"),
    ],
)
def test_a_bad_action_request_is_named(body: dict[str, object], words: str) -> None:
    with pytest.raises(actions.ActionError, match=words):
        actions.parse_action(body)


async def test_live_and_archived_runs_page_together_once_each_newest_first(tmp_path: Path) -> None:
    archive = await Archive.open(f"sqlite:///{tmp_path / 'archive.db'}")
    try:
        archived_bodies = [
            run_body(f"a{i:02d}", name=f"old-{i:02d}", started=T0 - timedelta(hours=i), seconds=10)
            for i in range(1, 12)
        ]
        live_bodies = [
            run_body(f"l{i:02d}", name=f"new-{i:02d}", started=T0 - timedelta(hours=i, minutes=30))
            for i in range(0, 6)
        ]
        for body in archived_bodies + live_bodies[:3]:  # live runs are archived too: shown once
            await archive.record_run(body)
        live_rows = [row_of(b) for b in live_bodies]
        expected = sorted(
            [row_of(b) for b in archived_bodies] + live_rows,
            key=lambda r: (r.started, r.uid),
            reverse=True,
        )
        seen: list[tuple[str, bool]] = []
        cursor = None
        for _ in range(20):
            query = RunQuery(limit=4, cursor=cursor)
            page, note = await merged_page(
                archive.engine, live_rows, select(live_rows, query), query, Scope(None, [])
            )
            seen.extend((r.name, r.archived) for r in page.rows)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [name for name, _ in seen] == [r.name for r in expected]
        assert {name for name, archived in seen if archived} == {
            f"old-{i:02d}" for i in range(1, 12)
        }
        assert note == ""
        assert await archived_counts(archive.engine, RunQuery(), Scope(None, [])) == {
            "Succeeded": 14
        }
    finally:
        await archive.close()


async def test_archived_runs_of_a_namespace_the_user_may_not_list_are_not_shown(
    tmp_path: Path,
) -> None:
    archive = await Archive.open(f"sqlite:///{tmp_path / 'archive.db'}")
    try:
        await archive.record_run(run_body("s1", name="secret-run", namespace="secret"))
        await archive.record_run(run_body("o1", name="open-run", namespace="open"))
        query = RunQuery()
        page, _ = await merged_page(
            archive.engine, [], select([], query), query, Scope(["open"], ["secret"])
        )
        assert [r.name for r in page.rows] == ["open-run"]
        assert await archived_counts(archive.engine, query, Scope(["open"], ["secret"])) == {
            "Succeeded": 1
        }
        nothing, _ = await merged_page(
            archive.engine, [], select([], query), query, Scope([], ["secret"])
        )
        assert nothing.rows == []
    finally:
        await archive.close()


def test_time_presets_are_relative_to_now() -> None:
    query = parse_query({"range": "7d"}, datetime(2026, 11, 30, tzinfo=UTC))
    assert query.since == datetime(2026, 11, 23, tzinfo=UTC)


def test_a_schedule_triggers_next_fires_come_from_the_engines_schedule() -> None:
    spec = {"type": "Schedule", "schedule": {"cron": "0 2 * * *", "timezone": "UTC"}}
    fires, why = pipelines.upcoming(spec, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    assert fires == [f"2026-12-0{d}T02:00:00Z" for d in range(1, 6)] and why == ""
    assert pipelines.upcoming({**spec, "suspend": True}, T0) == ([], "suspended")
    assert pipelines.upcoming({"type": "API"}, T0) == ([], "")


def test_run_now_runs_the_triggers_pipeline_with_its_variables_under_the_callers() -> None:
    trigger = {
        "metadata": {"name": "nightly"},
        "spec": {"pipelineRef": {"name": "etl"}, "variables": {"env": "prod", "region": "eu"}},
    }
    body = pipelines.run_now_body(trigger, {"env": "staging"})
    assert body["metadata"] == {"generateName": "nightly-"}
    assert body["spec"] == {
        "pipelineRef": {"name": "etl"},
        "triggerRef": {"name": "nightly"},
        "triggeredBy": "Manual",
        "variables": {"env": "staging", "region": "eu"},
    }
