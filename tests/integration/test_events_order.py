"""A run's Events sort in the order they happened, and a repeat is one Event series.

Issue 10 item 7: with whole-second core/v1 timestamps, Events of one second (the
BlockFailed, BlockUpstreamFailed and RunFailed of one reconcile) came out of
`kubectl describe` in any order. The operator posts events.k8s.io/v1 Events with a
microsecond eventTime, strictly increasing in the order the plan decided them, and
a happening that repeats (a block retrying) patches one Event's series. kubectl
reads them through core/v1 (the same objects); `describe` lists them by their
first occurrence, `kubectl events` by a series' lastObservedTime, else by eventTime.
"""

from __future__ import annotations

from typing import Any

import pytest

from .operator_fixture import Operator, Runs, block, pipeline, status, template

pytestmark = pytest.mark.integration

REPORTING_CONTROLLER = "runwright.dev/operator"


def run_events(runs: Runs, name: str, *sort: str) -> list[dict[str, Any]]:
    """The operator's Events on run `name`, as kubectl lists them (core/v1)."""
    out = runs.cluster.kubectl(
        "get",
        "events",
        "-n",
        runs.ns,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=PipelineRun",
        *sort,
        "-o",
        "json",
    )
    return [e for e in out.json()["items"] if e.get("reportingComponent") == REPORTING_CONTROLLER]


def described_reasons(runs: Runs, name: str) -> list[str]:
    """The Reason column of `kubectl describe`'s Events table, top to bottom."""
    text = runs.cluster.kubectl("describe", "pipelinerun", name, "-n", runs.ns).stdout
    table = text.split("\nEvents:", 1)[1].splitlines()
    header = next(i for i, line in enumerate(table) if line.split()[:2] == ["Type", "Reason"])
    return [line.split()[1] for line in table[header + 2 :] if line.strip()]


def kubectl_events_reasons(runs: Runs, name: str) -> list[str]:
    """`kubectl events --for pipelinerun/NAME`, in the order it sorts them."""
    out = runs.cluster.kubectl(
        "events", "--for", f"pipelinerun/{name}", "-n", runs.ns, "-o", "json"
    )
    return [
        e["reason"]
        for e in out.json()["items"]
        if e.get("reportingComponent") == REPORTING_CONTROLLER
    ]


def last_seen(event: dict[str, Any]) -> str:
    """What `kubectl describe` sorts by: a series' last occurrence, else the eventTime.

    MicroTime strings of one format sort as the times they name."""
    series: dict[str, Any] = event.get("series") or {}
    return str(series.get("lastObservedTime") or event["eventTime"])


def test_events_sort_in_the_order_they_happened_and_a_repeat_is_one_series(
    operator: Operator, runs: Runs
) -> None:
    retry = {"limit": 2, "backoffSeconds": 1, "backoffFactor": 1}
    runs.apply(pipeline("ord", [block("a", retry=retry), block("b", "a")], template(fail=True)))
    runs.start("ord-1", "ord")
    run = runs.wait_finished("ord-1", timeout=300)  # three attempts, one after another
    assert status(run)["phase"] == "Failed", status(run)
    runs.wait_event("ord-1", "RunFailed")

    events = run_events(runs, "ord-1", "--sort-by=.eventTime")
    by_first = [e["reason"] for e in events]
    # One Event per happening, in the order the operator decided them (the last three
    # come from one reconcile, most often within one second).
    assert by_first == [
        "RunStarted",
        "BlockStarted",
        "BlockRetrying",
        "BlockFailed",
        "BlockUpstreamFailed",
        "RunFailed",
    ], [(e["reason"], e["eventTime"], e.get("message")) for e in events]
    times = [e["eventTime"] for e in events]
    assert len(set(times)) == len(times), times  # microseconds: no two alike
    assert all(e["apiVersion"] == "v1" and e.get("reportingInstance") for e in events)

    # a's two retries are one Event, counted by its series; so are its three starts.
    series = {e["reason"]: (e.get("series") or {}).get("count") for e in events}
    assert (series["BlockRetrying"], series["BlockStarted"]) == (2, 3), series
    retrying = next(e for e in events if e["reason"] == "BlockRetrying")
    assert retrying["message"].startswith("a attempt 1 failed"), retrying["message"]

    # describe lists them in that order too (it used to sort by whole seconds) ...
    assert described_reasons(runs, "ord-1") == by_first
    # ... and `kubectl events` by each Event's last occurrence: a's last start came
    # after its last retry, and both before the failure that ended the run.
    expected = [e["reason"] for e in sorted(events, key=last_seen)]
    assert expected == [
        "RunStarted",
        "BlockRetrying",
        "BlockStarted",
        "BlockFailed",
        "BlockUpstreamFailed",
        "RunFailed",
    ]
    assert kubectl_events_reasons(runs, "ord-1") == expected
