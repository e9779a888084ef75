"""What a finished run costs the operator: a row of scalars, never a piece of its body.

Issue 17: 10,000 finished runs held at a restart must cost at most about 10 KB each,
and kopf must keep nothing per object (no memory record, no memo copy).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from runwright.api.trigger import RunPhase
from runwright.controller.kopfmemory import ForgetfulMemories
from runwright.controller.runrows import row_of_body, run_key
from runwright.controller.runs import NO_ECHOES

from .test_catching_up import controller, finished
from .test_run_controller import pipeline_body

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def wire(body: dict[str, Any]) -> dict[str, Any]:
    """The body as parsed from the API server: every string a fresh object."""
    parsed: dict[str, Any] = json.loads(json.dumps(body))
    return parsed


def test_a_row_holds_scalars_only_and_shares_the_strings_runs_repeat() -> None:
    one, two = finished("one"), finished("two")
    for body in (one, two):
        body["spec"]["pipelineRef"] = {"name": "nightly-build"}
        body["spec"]["triggerRef"] = {"name": "nightly"}
        body["spec"]["triggeredBy"] = "Schedule"
    one, two = wire(one), wire(two)
    assert one["spec"]["pipelineRef"]["name"] is not two["spec"]["pipelineRef"]["name"]
    a, b = row_of_body(one, NOW), row_of_body(two, NOW)
    assert a.phase is RunPhase.SUCCEEDED and a.finished
    for field in ("pipeline", "trigger", "triggered_by"):
        assert getattr(a, field) is getattr(b, field), field
    assert run_key(one["metadata"])[0] is run_key(two["metadata"])[0]
    allowed = (str, datetime, bool, RunPhase, type(None))
    for field in a.__slots__:
        assert isinstance(getattr(a, field), allowed), field


def test_a_finished_run_listed_at_start_keeps_no_reference_into_its_body() -> None:
    runs = controller()
    runs.hold()
    runs.pipeline_event(None, pipeline_body())
    body = wire(finished("done"))
    parts = [body, body["metadata"], body["spec"], body["status"]]
    counts = [sys.getrefcount(p) for p in parts]
    runs.run_event(None, body)
    assert [sys.getrefcount(p) for p in parts] == counts
    assert not runs.workers
    assert runs.parked[("ns", "done")] is NO_ECHOES  # one shared empty, not a list per run
    assert runs.states[("ns", "done")].finished


async def test_kopf_remembers_nothing_per_object() -> None:
    memories = ForgetfulMemories()
    body = {"metadata": {"uid": "u1", "name": "r", "namespace": "ns"}}
    first = await memories.recall(body, noticed_by_listing=True)  # type: ignore[arg-type]
    second = await memories.recall(body)  # type: ignore[arg-type]
    assert first is not second and first.noticed_by_listing
    assert list(memories.iter_all_memories()) == []
    await memories.forget(body)  # type: ignore[arg-type]  # nothing to forget: no error


async def test_a_new_leader_is_not_ready_before_its_catch_up_has_begun() -> None:
    """Between taking the Lease and kopf's startup, /readyz said 200 with nothing seen."""
    from kubernetes_asyncio import client

    from runwright.controller.health import Health
    from runwright.controller.replica import nothing_listed_yet

    api = client.ApiClient()
    health = Health(api, "127.0.0.1", 0, nothing_listed_yet)
    health.checked_at, health.error = time.monotonic(), None  # the API server answered
    answer = await health.readyz(None)  # type: ignore[arg-type]
    assert answer.status == 503
    assert answer.text == (
        "catching up (jobs: listing, pipelineruns: listing, pipelines: listing, pods: listing)\n"
    )
    await api.close()
