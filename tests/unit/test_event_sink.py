"""The Event sink: Events posted behind the reconcile, in order, bounded, on their own limit."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration

from runwright.kube.client import Kube
from runwright.kube.eventsink import EventSink, Happening
from runwright.kube.ratelimit import TokenBucket
from runwright.metrics import Metrics

RUN = {"kind": "PipelineRun", "metadata": {"name": "r", "namespace": "ns", "uid": "u1"}}


def happening(reason: str) -> Happening:
    return Happening(RUN, "Normal", reason, f"{reason} happened")


async def test_posts_are_sent_in_the_order_they_were_handed_over() -> None:
    sent: list[str] = []

    async def send(h: Happening) -> None:
        sent.append(h.reason)  # before the first await: the stamp's moment
        await asyncio.sleep(0)

    sink = EventSink(send, senders=4, metrics=Metrics())
    for i in range(20):
        sink.put(happening(f"R{i}"))
    await sink.idle()
    assert sent == [f"R{i}" for i in range(20)]
    await sink.close()


async def test_putting_never_waits_for_a_slow_api_server() -> None:
    release = asyncio.Event()
    sent: list[str] = []

    async def send(h: Happening) -> None:
        await release.wait()
        sent.append(h.reason)

    sink = EventSink(send, senders=2, metrics=Metrics())
    for i in range(5):
        sink.put(happening(f"R{i}"))  # returns although no send can finish
    await asyncio.sleep(0)
    assert sent == [] and len(sink) == 3  # two taken by the senders, three waiting
    release.set()
    await sink.idle()
    assert sorted(sent) == [f"R{i}" for i in range(5)]
    await sink.close()


async def test_a_full_queue_drops_its_oldest_and_counts_it() -> None:
    release = asyncio.Event()
    sent: list[str] = []
    metrics = Metrics()

    async def send(h: Happening) -> None:
        await release.wait()
        sent.append(h.reason)

    sink = EventSink(send, senders=1, capacity=3, metrics=metrics)
    sink.put(happening("first"))
    await asyncio.sleep(0)  # the one sender holds "first"
    for reason in ("a", "b", "c", "d", "e"):
        sink.put(happening(reason))
    release.set()
    await sink.idle()
    assert sent == ["first", "c", "d", "e"]
    assert metrics.events_dropped_total._value.get() == 2
    await sink.close()


async def test_close_sends_what_waits_then_stops() -> None:
    sent: list[str] = []

    async def send(h: Happening) -> None:
        await asyncio.sleep(0.001)
        sent.append(h.reason)

    sink = EventSink(send, senders=2, metrics=Metrics())
    for i in range(6):
        sink.put(happening(f"R{i}"))
    await sink.close()
    assert sorted(sent) == [f"R{i}" for i in range(6)]


async def test_a_failing_send_is_logged_and_the_next_event_still_goes() -> None:
    sent: list[str] = []

    async def send(h: Happening) -> None:
        if h.reason == "bad":
            raise RuntimeError("boom")
        sent.append(h.reason)

    sink = EventSink(send, senders=1, metrics=Metrics())
    sink.put(happening("bad"))
    sink.put(happening("good"))
    await sink.idle()
    assert sent == ["good"]
    await sink.close()


class Answer:
    status = 201

    def release(self) -> None:
        pass


class FakeEvents:
    def __init__(self) -> None:
        self.created: list[str] = []

    async def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> Answer:
        self.created.append(body["reason"])
        return Answer()


async def test_events_take_tokens_from_their_own_limit_not_the_writes() -> None:
    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    writes, events = TokenBucket(1.0, 1, histogram=None), TokenBucket(1000.0, 10, histogram=None)
    kube = Kube(api, metrics=Metrics(), limiter=writes, event_limiter=events)
    fake = FakeEvents()
    kube.events = fake  # type: ignore[assignment]
    for reason in ("A", "B", "C"):
        kube.event_later(RUN, "Normal", reason, "m")
    await kube.sink.idle()
    assert fake.created == ["A", "B", "C"]
    assert writes.tokens == 1.0  # the writes' one token is still there
    assert events.tokens < 10.0
    await kube.close()
