"""The operator's Events: events.k8s.io/v1 bodies, true order, one series per repeat.

`kubectl describe` sorts Events by time; whole-second times showed a BlockStarted
after the RunFailed of the same second (issue 10 item 7). These tests hold the
clock still, so any order they see comes from the stamps, not from the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.controller.kubestore import KubeStore
from runwright.engine.plan import Event
from runwright.kube.client import Kube
from runwright.kube.events import (
    NOTE_BYTES,
    REPORTING_CONTROLLER,
    SERIES_WINDOW,
    EventLog,
    shape,
)
from runwright.metrics import Metrics

T0 = datetime(2026, 11, 30, 13, 0, 0, 250_000, tzinfo=UTC)
RUN = {
    "apiVersion": "runwright.dev/v1alpha1",
    "kind": "PipelineRun",
    "metadata": {"name": "r-1", "namespace": "ns", "uid": "uid-1"},
}


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Answer:
    """An unread HTTP answer (what `_preload_content=False` returns)."""

    status = 201
    reason = "Created"
    headers: dict[str, str] = {}

    def release(self) -> None:
        pass

    async def read(self) -> bytes:
        return b""


class FakeEvents:
    """EventsV1Api stand-in: records each write; answers from `failures`, else 201.

    Each write yields to the loop once, so concurrent writes could overtake each other
    if nothing ordered them.
    """

    def __init__(self, *failures: BaseException | None) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def _answer(self, verb: str, name: str, body: dict[str, Any]) -> Answer:
        await asyncio.sleep(0)
        self.calls.append((verb, name, body))
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        return Answer()

    async def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> Answer:
        return await self._answer("create", body["metadata"]["name"], body)

    async def patch_namespaced_event(
        self, name: str, namespace: str, body: Any, **kwargs: Any
    ) -> Answer:
        assert kwargs["_content_type"] == "application/merge-patch+json"
        return await self._answer("patch", name, body)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def kube(clock: Clock) -> AsyncIterator[Kube]:
    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    k = Kube(api, metrics=Metrics(), event_log=EventLog(clock=clock, instance="op-pod-1"))
    k.events = FakeEvents()  # type: ignore[assignment]
    yield k
    await api.close()


def calls(kube: Kube) -> list[tuple[str, str, dict[str, Any]]]:
    fake: FakeEvents = kube.events  # type: ignore[assignment]
    return fake.calls


async def test_an_event_is_an_events_k8s_io_v1_body_with_a_microsecond_time(kube: Kube) -> None:
    await kube.event(RUN, "Warning", "RunFailed", "é" * NOTE_BYTES)
    ((verb, name, body),) = calls(kube)
    assert verb == "create"
    assert body["metadata"] == {"name": name, "namespace": "ns"}
    assert name.startswith("r-1.")
    assert body["apiVersion"] == "events.k8s.io/v1" and body["kind"] == "Event"
    assert body["eventTime"] == "2026-11-30T13:00:00.250000Z"
    assert body["reportingController"] == REPORTING_CONTROLLER
    assert body["reportingInstance"] == "op-pod-1"
    assert body["action"] == body["reason"] == "RunFailed"
    assert body["type"] == "Warning"
    assert body["regarding"] == {
        "apiVersion": "runwright.dev/v1alpha1",
        "kind": "PipelineRun",
        "name": "r-1",
        "namespace": "ns",
        "uid": "uid-1",
    }
    # 1 kB of UTF-8, cut on a character boundary.
    assert len(body["note"].encode()) <= NOTE_BYTES and body["note"] == "é" * (NOTE_BYTES // 2)
    # The API server refuses the deprecated core/v1 fields on an events.k8s.io/v1 create.
    assert not any(k.startswith("deprecated") for k in body) and "series" not in body


async def test_events_of_one_reconcile_carry_strictly_increasing_times_in_plan_order(
    kube: Kube,
) -> None:
    store = KubeStore(kube, lambda _ns, _name: (None, None))
    plan = [
        Event.of("BlockFailed", "a attempt 1 failed (Error)", True),
        Event.of("RunFailed", "block a failed", True),
        Event.of("BlockStarted", "b attempt 1 started", False),
    ]
    await store.post_events(RUN, plan)  # handed over; the clock does not move
    await kube.sink.idle()  # posted by the sink's senders, concurrently
    times = {body["reason"]: body["eventTime"] for _, _, body in calls(kube)}
    assert list(times) and sorted(times, key=times.__getitem__) == [
        "BlockFailed",
        "RunFailed",
        "BlockStarted",
    ]
    assert len(set(times.values())) == 3
    assert times["RunFailed"] == "2026-11-30T13:00:00.250001Z"
    # Listed by name (as the API server lists them), they read in the same order.
    by_name = [body["reason"] for _, _, body in sorted(calls(kube), key=lambda c: c[1])]
    assert by_name == ["BlockFailed", "RunFailed", "BlockStarted"]


async def test_the_stamp_never_goes_back_when_the_clock_does(clock: Clock) -> None:
    log = EventLog(clock=clock, instance="i")
    first = log.stamp()
    clock.now = T0 - timedelta(seconds=1)
    assert log.stamp() == first + timedelta(microseconds=1)
    clock.now = T0 + timedelta(seconds=1)
    assert log.stamp() == clock.now


async def test_a_repeated_reason_patches_one_series_instead_of_creating(
    kube: Kube, clock: Clock
) -> None:
    for attempt in (1, 2, 3):
        clock.now = T0 + timedelta(seconds=attempt)
        message = f"a attempt {attempt} failed (Error); attempt {attempt + 1} in {5 * attempt}s"
        await kube.event(RUN, "Warning", "BlockRetrying", message)
    await kube.event(RUN, "Warning", "BlockRetrying", "b attempt 1 failed (Error); attempt 2 in 5s")
    verbs = [(verb, name) for verb, name, _ in calls(kube)]
    first = verbs[0][1]
    assert verbs[:3] == [("create", first), ("patch", first), ("patch", first)]
    assert verbs[3][0] == "create" and verbs[3][1] != first  # block b: its own series
    assert [body for _, _, body in calls(kube)[1:3]] == [
        {"series": {"count": 2, "lastObservedTime": "2026-11-30T13:00:02.250000Z"}},
        {"series": {"count": 3, "lastObservedTime": "2026-11-30T13:00:03.250000Z"}},
    ]


async def test_repeats_posted_together_create_before_they_patch(kube: Kube) -> None:
    await asyncio.gather(
        *(kube.event(RUN, "Warning", "FireSkipped", f"fire {i} skipped: Forbid") for i in range(3))
    )
    assert [(verb, body.get("series", {}).get("count")) for verb, _, body in calls(kube)] == [
        ("create", None),
        ("patch", 2),
        ("patch", 3),
    ]


async def test_a_series_ends_after_its_window(kube: Kube, clock: Clock) -> None:
    await kube.event(RUN, "Normal", "RunQueued", "waiting: 3 runs ahead")
    clock.now = T0 + SERIES_WINDOW + timedelta(seconds=1)
    await kube.event(RUN, "Normal", "RunQueued", "waiting: 2 runs ahead")
    assert [verb for verb, _, _ in calls(kube)] == ["create", "create"]


async def test_a_series_whose_event_is_gone_starts_again(kube: Kube) -> None:
    kube.events = FakeEvents(None, ApiException(status=404, reason="Not Found"))  # type: ignore[assignment]
    for _ in range(3):
        await kube.event(RUN, "Warning", "BlockRetrying", "a retrying")
    verbs = [(verb, body.get("series", {}).get("count")) for verb, _, body in calls(kube)]
    # The 404 patch is followed by a fresh Event, and the next repeat patches that one.
    assert verbs == [("create", None), ("patch", 2), ("create", None), ("patch", 2)]
    assert calls(kube)[2][1] != calls(kube)[0][1]


async def test_a_refused_create_is_logged_and_the_next_repeat_creates(
    kube: Kube, caplog: pytest.LogCaptureFixture
) -> None:
    kube.events = FakeEvents(ApiException(status=403, reason="Forbidden"))  # type: ignore[assignment]
    await kube.event(RUN, "Normal", "BlockStarted", "a started")  # no exception
    await kube.event(RUN, "Normal", "BlockStarted", "a started")
    assert [verb for verb, _, _ in calls(kube)] == ["create", "create"]
    assert "not posted" in caplog.text


def test_the_series_memory_is_bounded_least_recently_used_first(clock: Clock) -> None:
    log = EventLog(clock=clock, instance="i", capacity=2)
    runs = [
        {"kind": "PipelineRun", "metadata": {**RUN["metadata"], "uid": f"u{i}"}} for i in range(3)
    ]
    log.record(runs[0], "Normal", "BlockStarted", "a started")
    log.record(runs[1], "Normal", "BlockStarted", "a started")
    assert not log.record(runs[0], "Normal", "BlockStarted", "a started").create  # u0 used last
    log.record(runs[2], "Normal", "BlockStarted", "a started")  # evicts u1
    assert len(log.series) == 2
    assert not log.record(runs[0], "Normal", "BlockStarted", "a started").create
    assert log.record(runs[1], "Normal", "BlockStarted", "a started").create


def test_notes_are_one_series_when_only_their_numbers_differ_after_the_first_word() -> None:
    assert shape("a attempt 2 failed (Error); attempt 3 in 10s") == shape(
        "a attempt 3 failed (Error); attempt 4 in 20s"
    )
    assert shape("step1 attempt 1 started as r-step1-1") != shape(
        "step2 attempt 1 started as r-step2-1"
    )
    assert shape("a attempt 1 failed (Error)") != shape("a attempt 1 failed (OOMKilled)")


async def test_an_api_server_out_of_reach_loses_the_event_not_the_run(
    kube: Kube, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def no_wait(delay: float) -> None:
        pass

    monkeypatch.setattr("asyncio.sleep", no_wait)  # the retries' backoff
    kube.events = FakeEvents(*[ConnectionResetError()] * 10)  # type: ignore[assignment]
    await kube.event(RUN, "Normal", "BlockStarted", "a started")  # no exception
    assert "not posted" in caplog.text
    assert not kube.event_log.series  # the next one is created afresh
