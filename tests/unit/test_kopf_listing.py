"""Objects listed at start reach their handler directly; every other event goes through kopf."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from kopf._cogs.clients import watching
from kopf._core.reactor import processing

from runwright import labels as keys
from runwright.controller import handlers, kopflisting


@dataclass(frozen=True)
class Resource:
    plural: str


def event(kind: str | None, name: str, **labels: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels}
    return {"type": kind, "object": {"metadata": meta}}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """What reached a registered handler and what reached kopf's own processor."""
    calls: list[tuple[str, Any]] = []

    async def handler(**kwargs: Any) -> None:
        if kwargs["event"]["object"]["metadata"]["name"] == "broken":
            raise ValueError("bad body")
        calls.append(("handler", kwargs))

    async def kopf(**kwargs: Any) -> str | None:
        calls.append(("kopf", kwargs["raw_event"]["object"]["metadata"]["name"]))
        return None

    monkeypatch.setattr(kopflisting, "_KOPF", kopf)
    monkeypatch.setattr(kopflisting, "DIRECT", {})
    kopflisting.direct("pipelineruns")(handler)
    kopflisting.direct("pods", keys.RUN)(handler)
    return calls


async def test_a_listed_object_goes_to_its_handler_with_what_handlers_read(
    seen: list[tuple[str, Any]],
) -> None:
    memo = object()
    listed = event(None, "r1", app="x")
    await kopflisting.process_resource_event(
        raw_event=listed, resource=Resource("pipelineruns"), memobase=memo
    )
    [(where, kwargs)] = seen
    assert where == "handler"
    assert kwargs == {"event": listed, "memo": memo, "labels": {"app": "x"}, "namespace": "ns"}


async def test_changes_go_to_the_handler_and_unregistered_kinds_through_kopf(
    seen: list[tuple[str, Any]],
) -> None:
    for kind, plural, name in [
        ("MODIFIED", "pipelineruns", "changed"),
        ("DELETED", "pipelineruns", "deleted"),
        (None, "triggers", "trigger"),
        ("MODIFIED", "triggers", "trigger-changed"),
    ]:
        await kopflisting.process_resource_event(
            raw_event=event(kind, name), resource=Resource(plural), memobase=None
        )
    assert [
        (where, name if where == "kopf" else name["event"]["object"]["metadata"]["name"])
        for where, name in seen
    ] == [
        ("handler", "changed"),
        ("handler", "deleted"),
        ("kopf", "trigger"),
        ("kopf", "trigger-changed"),
    ]


async def test_the_label_filter_holds_and_a_handler_error_is_logged_not_raised(
    seen: list[tuple[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    await kopflisting.process_resource_event(
        raw_event=event(None, "stranger"), resource=Resource("pods"), memobase=None
    )
    assert seen == []  # a pod without runwright.dev/run is not ours
    with caplog.at_level(logging.ERROR, "runwright.kopflisting"):
        await kopflisting.process_resource_event(
            raw_event=event(None, "broken"), resource=Resource("pipelineruns"), memobase=None
        )
    assert "event LISTED on ns/broken: handler failed" in caplog.text


def test_the_operator_routes_runs_jobs_and_pods_and_install_replaces_kopfs_processor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert kopflisting.DIRECT["pipelineruns"] == (handlers.run_event, None)
    assert kopflisting.DIRECT["jobs"] == (handlers.job_event, keys.RUN)
    assert kopflisting.DIRECT["pods"] == (handlers.pod_event, keys.RUN)
    monkeypatch.setattr(processing, "process_resource_event", kopflisting._KOPF)
    assert kopflisting.install()
    assert processing.process_resource_event is kopflisting.process_resource_event


async def test_the_first_list_is_handled_in_the_watch_stream_then_kopf_has_the_rest(
    seen: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream: list[Any] = [
        event(None, "a"),
        event(None, "b"),
        watching.Bookmark.LISTED,
        event("MODIFIED", "a"),
        event(None, "c"),  # listed again after the watch expired: kopf's workers
    ]

    async def kopf_watch(*, resource: Resource, **kwargs: Any) -> AsyncIterator[Any]:
        for item in stream:
            yield item

    monkeypatch.setattr(kopflisting, "_KOPF_WATCH", kopf_watch)
    monkeypatch.setattr(watching, "infinite_watch", kopf_watch)
    memo, ended = object(), list[str]()
    assert kopflisting.bypass_first_listing(memo, ended.append)
    watch: Any = watching.infinite_watch  # kopf's, wrapped
    passed = [item async for item in watch(resource=Resource("pipelineruns"))]
    assert passed == stream[2:]
    assert [(w, k["event"]["object"]["metadata"]["name"], k["memo"]) for w, k in seen] == [
        ("handler", "a", memo),
        ("handler", "b", memo),
    ]
    assert ended == ["pipelineruns"]  # the catch-up hears the LIST's end
    # A kind not registered is passed through whole.
    passed = [item async for item in watch(resource=Resource("triggers"))]
    assert passed == stream
    assert ended == ["pipelineruns"]
