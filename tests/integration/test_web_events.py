"""The web view's live stream (/api/events) against the control plane: Kubernetes watches as SSE.

Read as a browser's EventSource reads it, with urllib: frames of `event`, `id`
and `data` lines. No operator: runs need not progress to be watched.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from runwright import labels

from .kube import Cluster
from .web_fixture import Servers, servers

__all__ = ["servers"]  # fixture

pytestmark = pytest.mark.integration
#: The socket may wait this long for a line (the stream sends a comment every 15 s).
READ_TIMEOUT = 60.0

Frame = dict[str, str]


def read_frames(
    url: str, until: Callable[[list[Frame]], bool], last_event_id: str | None = None
) -> list[Frame]:
    """Frames of the stream at `url` until `until(frames)` holds; then the connection is dropped."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    frames: list[Frame] = []
    current: Frame = {}
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers), timeout=READ_TIMEOUT
    ) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(": ")
                current[field] = value
                continue
            if current:
                frames.append(current)
                current = {}
                if until(frames):
                    return frames
    raise AssertionError(f"the stream ended before the expected frames: {frames}")


def run_names(frames: list[Frame]) -> list[tuple[str, str]]:
    found = []
    for frame in frames:
        if frame.get("event") == "run":
            data: dict[str, Any] = json.loads(frame["data"])
            found.append((data["type"], data["row"]["name"]))
    return found


def create_run(cluster: Cluster, ns: str, name: str) -> None:
    cluster.apply(
        {
            "apiVersion": labels.API_VERSION,
            "kind": "PipelineRun",
            "metadata": {"name": name},
            "spec": {"pipelineRef": {"name": "absent"}},
        },
        ns,
    )


def test_a_new_run_is_an_added_event(cluster: Cluster, servers: Servers, ns: str) -> None:
    server = servers.local()
    url = f"{server.url}/api/events?namespace={ns}"
    hello = read_frames(url, lambda frames: any(f.get("event") == "hello" for f in frames))
    create_run(cluster, ns, "fresh-1")
    frames = read_frames(
        url, lambda frames: ("ADDED", "fresh-1") in run_names(frames), hello[-1]["id"]
    )
    assert ("ADDED", "fresh-1") in run_names(frames)


def test_a_reconnect_with_last_event_id_backfills_what_happened_while_away(
    cluster: Cluster, servers: Servers, ns: str
) -> None:
    server = servers.local()
    url = f"{server.url}/api/events?namespace={ns}"
    create_run(cluster, ns, "before-1")
    first = read_frames(url, lambda frames: any(f.get("event") == "hello" for f in frames))
    last_id = first[-1]["id"]
    # Disconnected: two runs are made, one is deleted.
    create_run(cluster, ns, "missed-1")
    create_run(cluster, ns, "missed-2")
    cluster.kubectl("delete", "pipelinerun", "missed-1", "-n", ns)
    again = read_frames(url, lambda frames: ("DELETED", "missed-1") in run_names(frames), last_id)
    replayed = run_names(again)
    assert replayed.index(("ADDED", "missed-1")) < replayed.index(("DELETED", "missed-1"))
    assert ("ADDED", "missed-2") in replayed
    assert ("ADDED", "before-1") not in replayed, "only what happened after Last-Event-ID"
    assert again[0] == {"event": "hello", "data": '{"denied":[]}'}, "a resumed stream keeps its id"


def test_a_too_old_last_event_id_asks_the_page_to_reload(servers: Servers, ns: str) -> None:
    server = servers.local()
    frames = read_frames(
        f"{server.url}/api/events?namespace={ns}",
        lambda frames: any(f.get("event") == "reset" for f in frames),
        "1",
    )
    assert frames[-1]["event"] == "reset"
