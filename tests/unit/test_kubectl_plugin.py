"""The kubectl plugin's pure parts: selection, order, bulk plans, retry requests, output,
the timeline's layout and the choice of logs. The commands against a cluster are in
tests/integration/test_kubectl_plugin.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright import labels
from runwright.api.trigger import TriggerSpec
from runwright.archive.records import AttemptRecord
from runwright.cli.exits import InputError
from runwright.cli.plugin import actions, commands, logs, output, story, timeline, trigger
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.rows import RunRow, from_body
from runwright.cli.plugin.selection import (
    Selection,
    SortBy,
    merge,
    parse_age,
    parse_point,
    selector_matches,
    sort_rows,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def row(name: str, phase: str = "Succeeded", **fields: Any) -> RunRow:
    base: dict[str, Any] = {
        "namespace": "data",
        "name": name,
        "uid": f"uid-{name}",
        "pipeline": "etl",
        "phase": phase,
    }
    base.update(fields)
    base.setdefault("labels", {labels.PIPELINE: base["pipeline"], labels.PHASE: phase})
    return RunRow(**base)


def body(name: str, phase: str = "Failed", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "data",
            "uid": f"uid-{name}",
            "resourceVersion": "42",
            "labels": {labels.PIPELINE: "etl", labels.PHASE: phase},
        },
        "spec": {"pipelineRef": {"name": "etl"}, "triggeredBy": "Schedule"},
        "status": {"phase": phase, **status},
    }


# ----- selection ----------------------------------------------------------------------------


def test_ages_and_points_in_time() -> None:
    assert parse_age("90m", "--since") == timedelta(minutes=90)
    assert parse_age("7d", "--older-than") == timedelta(days=7)
    assert parse_point("24h", "--since", NOW) == NOW - timedelta(hours=24)
    assert parse_point("2026-11-01T00:00:00Z", "--until", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(InputError, match="--since 'yesterday': write a duration ago"):
        parse_point("yesterday", "--since", NOW)
    with pytest.raises(InputError, match="needs a zone"):
        parse_point("2026-11-01T00:00:00", "--until", NOW)


def test_phase_pipeline_and_trigger_go_to_the_api_server_as_a_label_selector() -> None:
    one = Selection(phases=("Failed",), pipeline="etl", selector="team=data")
    assert one.label_selector() == (f"team=data,{labels.PHASE}=Failed,{labels.PIPELINE}=etl")
    two = Selection(phases=("Pending", "Running"), trigger="nightly")
    assert two.label_selector() == f"{labels.PHASE} in (Pending,Running),{labels.TRIGGER}=nightly"
    assert Selection().label_selector() is None


def test_our_filters_also_list_the_runs_not_labelled_yet() -> None:
    """The operator labels a run with its first status write (up to --status-delay after
    its create): runs without a phase label are listed too, and filtered here."""
    ours = Selection(pipeline="etl", selector="team=data")
    assert ours.label_selectors() == [ours.label_selector(), f"team=data,!{labels.PHASE}"]
    assert Selection(phases=("Pending",)).label_selectors()[1] == f"!{labels.PHASE}"
    assert Selection(selector="team=data").label_selectors() == ["team=data"]
    assert Selection().label_selectors() == [None]


class PagedCluster:
    """Serves `run_pages` as the API server would: the bodies its label selector matches."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies, self.selectors = bodies, list[str | None]()

    async def run_pages(self, selector: str | None) -> Any:
        self.selectors.append(selector)
        yield [
            b
            for b in self.bodies
            if selector is None or selector_matches(selector, b["metadata"].get("labels") or {})
        ]


async def test_pipeline_finds_a_run_created_a_moment_ago_once() -> None:
    """`delete --pipeline etl --keep 1` must see the newest run before it is labelled."""
    from runwright.cli.plugin.listing import cluster_rows

    new = body("new", phase="Pending")
    new["metadata"]["labels"] = {}
    del new["status"]
    other = body("other-new")
    other["metadata"]["labels"] = {}
    other["spec"]["pipelineRef"]["name"] = "other"
    cluster = PagedCluster([body("old"), new, other])
    rows = await cluster_rows(cluster, Selection(pipeline="etl"))  # type: ignore[arg-type]
    assert sorted(r.name for r in rows) == ["new", "old"]
    assert len(cluster.selectors) == 2
    both = PagedCluster([body("old")])  # labelled, yet served by both lists: listed once
    both.bodies[0]["metadata"]["labels"].pop(labels.PHASE)
    rows = await cluster_rows(both, Selection(pipeline="etl"))  # type: ignore[arg-type]
    assert [r.name for r in rows] == ["old"]


class VersionedCluster(PagedCluster):
    """`pages` as list answers, each with the resourceVersion the server was at."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        super().__init__(bodies)
        self.version = 100

    async def pages(self, selector: str | None, params: Any = None) -> Any:
        self.version += 1
        async for items in self.run_pages(selector):
            yield {"metadata": {"resourceVersion": str(self.version)}, "items": items}


async def test_watch_starts_from_the_labelled_list_and_also_holds_the_unlabelled_runs() -> None:
    """`watch --pipeline etl` lists a run not labelled yet too; the watch starts at the
    labelled list's version, so the label write that brings the run in is an event."""
    from runwright.cli.plugin import follow

    new = body("new", phase="Pending")
    new["metadata"]["labels"] = {}
    cluster = VersionedCluster([body("old"), new])
    selector, unlabelled = Selection(pipeline="etl").label_selectors()
    items, version = await follow._list(cluster, selector, None, unlabelled)  # type: ignore[arg-type]
    assert sorted(i["metadata"]["name"] for i in items) == ["new", "old"]
    assert cluster.selectors == [selector, unlabelled]  # the labelled list first
    assert version == "101"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("a=1", True),
        ("a==1,b=2", True),
        ("a!=1", False),
        ("a in (1,3)", True),
        ("a notin (1,3)", False),
        ("b", True),
        ("!c", True),
        ("c", False),
        ("a=1,c=3", False),
    ],
)
def test_label_selectors_on_archived_rows(selector: str, expected: bool) -> None:
    assert selector_matches(selector, {"a": "1", "b": "2"}) is expected


def test_a_selector_that_is_not_one_is_invalid_input() -> None:
    with pytest.raises(InputError, match="is not a label requirement"):
        selector_matches("a=(", {})


def test_filters_by_triggered_by_time_and_text() -> None:
    early = row("early", started=NOW - timedelta(days=2), triggered_by="Schedule")
    late = row("late", started=NOW - timedelta(hours=1), message="OOMKilled in load")
    never = row("never", phase="Pending")
    since = Selection(since=NOW - timedelta(days=1))
    assert [r.name for r in (early, late, never) if since.matches(r)] == ["late"]
    assert [r.name for r in (early, late) if Selection(triggered_by="Schedule").matches(r)] == [
        "early"
    ]
    assert [r.name for r in (early, late) if Selection(search="oomkilled").matches(r)] == ["late"]
    blocks = row("blocks", block_names=("extract", "load"))
    assert Selection(search="LOAD").matches(blocks)


def test_default_order_is_newest_started_first_with_unstarted_last() -> None:
    rows = [
        row("old", started=NOW - timedelta(hours=3)),
        row("pending", phase="Pending"),
        row("new", started=NOW - timedelta(minutes=1)),
    ]
    assert [r.name for r in sort_rows(rows, SortBy.STARTED)] == ["new", "old", "pending"]
    assert [r.name for r in sort_rows(rows, SortBy.STARTED, reverse=True)] == [
        "old",
        "new",
        "pending",
    ]


def test_measures_sort_biggest_first_and_names_alphabetically() -> None:
    rows = [
        row("a", cost=1.0, pipeline="z"),
        row("b", cost=3.0, pipeline="m"),
        row("c", pipeline="a"),
    ]
    assert [r.name for r in sort_rows(rows, SortBy.COST)] == ["b", "a", "c"]
    assert [r.name for r in sort_rows(rows, SortBy.PIPELINE)] == ["c", "b", "a"]


def test_a_run_in_the_cluster_and_the_archive_is_shown_once_from_the_cluster() -> None:
    live = row("r1", phase="Running")
    kept = row("r1", archived=True)
    gone = row("r0", archived=True)
    merged = merge([live], [kept, gone])
    assert [(r.name, r.archived) for r in merged] == [("r1", False), ("r0", True)]


# ----- rows from bodies ---------------------------------------------------------------------


def test_a_body_becomes_a_row() -> None:
    got = from_body(
        body(
            "r1",
            startedAt="2026-11-30T10:00:00Z",
            completedAt="2026-11-30T10:01:30Z",
            metrics={"itemsProcessed": 1200, "cost": 0.5},
            failedBlock="load",
            progress="1/2",
            blocks={"extract": {}, "load": {}},
        )
    )
    assert (got.name, got.phase, got.triggered_by, got.progress) == (
        "r1",
        "Failed",
        "Schedule",
        "1/2",
    )
    assert got.duration_seconds == 90 and got.items == 1200.0 and got.cost == 0.5
    assert got.block_names == ("extract", "load") and got.failed_block == "load"


# ----- bulk plans and requests --------------------------------------------------------------


def test_retry_applies_to_finished_runs_and_cancel_to_active_ones() -> None:
    rows = [row("done", "Failed"), row("busy", "Running"), row("old", "Succeeded", archived=True)]
    retry = actions.plan(actions.Verb.RETRY, rows, now=NOW)
    assert [r.name for r in retry.act] == ["done"]
    assert {s.row.name: s.why for s in retry.skip} == {
        "busy": "still Running: only a finished run can be retried (cancel it first)",
        "old": "only in the archive (no PipelineRun to act on)",
    }
    cancel = actions.plan(actions.Verb.CANCEL, rows[:2], now=NOW)
    assert [r.name for r in cancel.act] == ["busy"]
    assert cancel.skip[0].why == "already Failed"


def test_delete_keeps_the_newest_per_pipeline_and_what_finished_recently() -> None:
    def finished(name: str, hours: int, pipeline: str = "etl") -> RunRow:
        at = NOW - timedelta(hours=hours)
        return row(name, created=at, completed=at, pipeline=pipeline)

    rows = [finished("a", 1), finished("b", 200), finished("c", 300), finished("x", 400, "other")]
    kept = actions.plan(actions.Verb.DELETE, rows, now=NOW, keep=1)
    assert sorted(r.name for r in kept.act) == ["b", "c"]
    old = actions.plan(actions.Verb.DELETE, rows, now=NOW, older_than=7 * 86400)
    assert sorted(r.name for r in old.act) == ["b", "c", "x"]
    running = actions.plan(actions.Verb.DELETE, [row("r", "Running")], now=NOW, older_than=60)
    assert running.skip[0].why.startswith("still Running")


def test_retry_request_bumps_the_id_and_clears_an_earlier_block() -> None:
    run = body("r1", blocks={"a": {}, "b": {}}, retryId="2")
    run["spec"]["retry"] = {"id": "2", "mode": "FromBlock", "fromBlock": "b"}
    patch = actions.retry_patch(run, None, current=False)
    assert patch == {
        "metadata": {"resourceVersion": "42"},
        "spec": {
            "retry": {"id": "3", "mode": "Incomplete", "fromBlock": None, "pipelineSpec": "Frozen"}
        },
    }
    from_b = actions.retry_patch(run, "b", current=True)["spec"]["retry"]
    assert (from_b["mode"], from_b["fromBlock"], from_b["pipelineSpec"]) == (
        "FromBlock",
        "b",
        "Current",
    )
    with pytest.raises(PluginError, match=r"--from x: no such block in this run \(blocks: a, b\)"):
        actions.retry_patch(run, "x", current=False)


def test_a_non_numeric_retry_id_still_gets_a_new_one() -> None:
    run = body("r1")
    run["spec"]["retry"] = {"id": "1"}
    run["status"]["retryId"] = "manual"
    assert actions.next_retry_id(run) == "2"
    assert actions.next_retry_id(body("fresh")) == "1"


def test_a_rerun_repeats_the_run_by_reference() -> None:
    manifest = actions.rerun_manifest(row("etl-x7k2p", "Failed"), current=True)
    assert manifest["metadata"] == {"generateName": "etl-", "namespace": "data"}
    assert manifest["spec"] == {
        "pipelineRef": {"name": "etl"},
        "rerunOf": {"name": "etl-x7k2p", "pipelineSpec": "Current"},
    }


# ----- output -------------------------------------------------------------------------------


def test_csv_has_the_seed_columns_and_only_failures_carry_an_error_message() -> None:
    rows = [
        row(
            "r1",
            "Failed",
            reason="BlockFailed",
            message="block load failed",
            started=NOW - timedelta(seconds=90),
            completed=NOW,
            duration_seconds=90,
            items=1200.0,
            cost=0.25,
            triggered_by="Schedule",
        ),
        row("r2", "Succeeded", message="all blocks finished", tokens=10.0),
    ]
    parsed = list(csv.reader(io.StringIO(output.csv_text(rows))))
    assert parsed == [
        list(output.CSV_COLUMNS),
        ["r1", "etl", "Failed", "BlockFailed", "2026-11-30T11:58:30Z", "2026-11-30T12:00:00Z",
         "90", "1200", "0.25", "", "Schedule", "block load failed"],
        ["r2", "etl", "Succeeded", "", "", "", "", "", "", "10", "", ""],
    ]  # fmt: skip


def test_table_marks_archived_runs_and_counts_phases_in_the_footer() -> None:
    rows = [
        row("live", "Running", started=NOW - timedelta(minutes=2)),
        row("gone", "Failed", archived=True),
    ]
    stream = io.StringIO()
    output.print_rows(rows, output.Format.TABLE, stream, archived_counts={"Failed": 7}, now=NOW)
    text = stream.getvalue()
    header = text.splitlines()[0].split()
    assert header == [
        "NAME",
        "PIPELINE",
        "PHASE",
        "REASON",
        "PROGRESS",
        "TRIGGER",
        "BY",
        "STARTED",
        "DURATION",
        "ITEMS",
        "COST",
    ]
    assert "gone (archived)" in text
    assert "2m00s" in text  # a running run's duration so far
    assert (
        text.splitlines()[-1] == "2 runs: Failed 1, Running 1; archive holds 7 matching (Failed 7)"
    )
    assert "\x1b[" not in text  # no colour when not a terminal


def test_name_output_is_kubectl_s() -> None:
    stream = io.StringIO()
    output.print_rows([row("r1")], output.Format.NAME, stream)
    assert stream.getvalue() == "pipelinerun.runwright.dev/r1\n"


# ----- story and timeline -------------------------------------------------------------------


def test_dag_order_puts_upstream_first_and_keeps_the_pipeline_order_for_ties() -> None:
    blocks = [
        {"name": "d", "upstream": ["b", "c"]},
        {"name": "c", "upstream": ["a"]},
        {"name": "a"},
        {"name": "b", "upstream": ["a"]},
    ]
    assert story.dag_order(blocks) == ["a", "c", "b", "d"]
    assert story.dag_order(
        [{"name": "x", "upstream": ["y"]}, {"name": "y", "upstream": ["x"]}]
    ) == ["x", "y"]


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def attempt(block: str, number: int, start: float, end: float | None, phase: str) -> AttemptRecord:
    return AttemptRecord(
        run_uid="u",
        block=block,
        attempt=number,
        phase=phase,
        started_at=at(start),
        completed_at=None if end is None else at(end),
    )


def retried_story() -> story.Story:
    run_body = body("r1", "Running")
    tale = story.from_body(run_body)
    blocks = [
        story.BlockStory("a", "Succeeded", [attempt("a", 1, 0, 10, "Succeeded")]),
        story.BlockStory(
            "b",
            "Running",
            [attempt("b", 1, 12, 20, "Failed"), attempt("b", 2, 25, None, "Running")],
            ready_at=at(10),
        ),
        story.BlockStory("c", "Succeeded", [attempt("c", 1, 10, 30, "Succeeded")]),
        story.BlockStory("d", "Pending", []),
    ]
    return story.Story(run=tale.run, blocks=blocks, events=[])


def test_timeline_lanes_show_queued_attempts_and_retry_gaps() -> None:
    lanes = timeline.layout(retried_story(), now=at(40))
    b = lanes[1]
    assert [(s.kind, s.start, s.end) for s in b.segments] == [
        (timeline.Kind.QUEUED, at(10), at(12)),
        (timeline.Kind.ATTEMPT, at(12), at(20)),
        (timeline.Kind.RETRYING, at(20), at(25)),
        (timeline.Kind.ATTEMPT, at(25), at(40)),  # still running: up to now
    ]
    assert lanes[3].segments == []
    assert timeline.bounds(lanes) == (at(0), at(40))
    assert timeline.most_parallel(lanes) == 2  # b and c together


def test_timeline_bars_scale_to_the_width_and_never_vanish() -> None:
    lane = timeline.Lane(
        "x",
        "Succeeded",
        [
            timeline.Segment(timeline.Kind.ATTEMPT, at(0), at(50), 1, "Failed"),
            timeline.Segment(timeline.Kind.ATTEMPT, at(99.9), at(100), 2, "Succeeded"),
        ],
    )
    placed = [(first, last) for first, last, _ in timeline.bars(lane, at(0), at(100), 40)]
    assert placed == [(0, 20), (39, 40)]


def test_timeline_draws_a_lane_per_block_in_dag_order() -> None:
    stream = io.StringIO()
    output.console(stream).print(timeline.render(retried_story(), at(40), width=100))
    lines = stream.getvalue().splitlines()
    lanes = [line.split()[0] for line in lines[2:6]]
    assert lanes == ["a", "b", "c", "d"]
    assert "#1 Failed 8s  #2 Running 15s" in lines[3]
    assert "░" in lines[3] and "╌" in lines[3]
    assert lines[-1].endswith("at most 2 in parallel")


def test_timeline_json_names_each_segment() -> None:
    data = timeline.as_data(retried_story(), at(40))
    b = data["blocks"][1]
    assert [s["kind"] for s in b["segments"]] == ["queued", "attempt", "retrying", "attempt"]
    assert b["segments"][1] == {
        "kind": "attempt",
        "start": "2026-11-30T12:00:12Z",
        "end": "2026-11-30T12:00:20Z",
        "attempt": 1,
        "phase": "Failed",
    }
    assert data["maxParallel"] == 2


# ----- logs and triggers --------------------------------------------------------------------


def test_logs_of_every_attempt_without_a_block_else_the_latest_or_the_one_asked() -> None:
    found = [("load", 2), ("extract", 1), ("load", 1)]
    assert logs.choose(found, None, None) == [("extract", 1), ("load", 1), ("load", 2)]
    assert logs.choose(found, "load", None) == [("load", 2)]
    assert logs.choose(found, "load", 1) == [("load", 1)]
    assert logs.choose(found, "load", 5) == []
    pod = {"metadata": {"labels": {labels.BLOCK: "load", labels.ATTEMPT: "2"}}}
    assert logs.attempt_of(pod) == ("load", 2)
    assert logs.attempt_of({"metadata": {"labels": {}}}) is None


def test_next_fires_in_the_trigger_s_zone_and_utc() -> None:
    spec = TriggerSpec.model_validate(
        {
            "pipelineRef": {"name": "etl"},
            "type": "Schedule",
            "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
        }
    )
    fires = trigger.upcoming(spec, NOW, 2)
    assert trigger.next_lines(spec, fires) == [
        "2026-12-01 02:00 CET  2026-12-01T01:00:00Z",
        "2026-12-02 02:00 CET  2026-12-02T01:00:00Z",
    ]
    with pytest.raises(PluginError, match="--var 'x': write KEY=VALUE"):
        trigger.parse_vars(["x"])
    assert trigger.parse_vars(["date=2026-11-21", "a=b=c"]) == {"date": "2026-11-21", "a": "b=c"}


def test_trigger_next_takes_minus_n_as_the_count() -> None:
    assert commands._fix_next_count(["trigger", "next", "nightly", "-n", "3"]) == [
        "trigger", "next", "nightly", "--count", "3",
    ]  # fmt: skip
    assert commands._fix_next_count(["trigger", "-n", "7", "next", "t", "-n", "2"]) == [
        "trigger", "-n", "7", "next", "t", "--count", "2",
    ]  # fmt: skip
    assert commands._fix_next_count(["list", "-n", "data"]) == ["list", "-n", "data"]


def test_every_command_is_also_a_runwright_command() -> None:
    from runwright.cli.main import build_parser

    args = build_parser().parse_args(["retry", "-n", "data", "--all-failed", "--yes"])
    assert (args.plugin_command, args.namespace, args.all_failed) == ("retry", "data", True)


def test_row_metric_keys_are_the_archive_s() -> None:
    from runwright.archive import records
    from runwright.cli.plugin import rows

    assert (rows.ITEMS_PROCESSED, rows.COST, rows.TOKENS) == (
        records.ITEMS_PROCESSED,
        records.COST,
        records.TOKENS,
    )


def test_list_without_an_archive_does_not_load_the_archive() -> None:
    import subprocess
    import sys

    code = (
        "import sys, runwright.cli.plugin.commands, runwright.cli.plugin.listing;"
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
