"""The operator's archiver: its confirmation marker and what it queues (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from runwright.controller.archiver import (
    ARCHIVED,
    ENDING_EVENT_WAIT,
    Archiver,
    ArchiveSettings,
    confirmed,
    file_logs,
    marker,
    pending_for,
)
from runwright.engine.concurrency import RunKey
from runwright.engine.naming import attempt_name

DONE = datetime(2026, 11, 30, 12, 0, 5, 123456, tzinfo=UTC)


def body(
    name: str, phase: str | None, annotation: str | None = None, uid: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}"}
    if annotation is not None:
        meta["annotations"] = {ARCHIVED: annotation}
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if phase in ("Succeeded", "Failed", "Cancelled"):
        status["completedAt"] = DONE.isoformat()
    return {"metadata": meta, "spec": {"pipelineRef": {"name": "p"}}, "status": status}


def test_the_marker_names_the_finish_so_a_retried_run_needs_a_new_confirmation() -> None:
    assert marker(body("r", "Running")) is None
    mark = marker(body("r", "Failed"))
    assert mark == f"Failed/{int(DONE.timestamp())}"
    assert confirmed(body("r", "Failed", annotation=mark))
    assert not confirmed(body("r", "Succeeded", annotation=mark))  # finished again, differently
    # The reconcile asks the same question from its typed status.
    assert not pending_for({ARCHIVED: mark}, "Failed", DONE)
    assert pending_for({}, "Failed", DONE)
    assert pending_for({ARCHIVED: mark}, "Running", None)


def archiver(max_pending: int = 10) -> tuple[Archiver, set[RunKey]]:
    unarchived: set[RunKey] = set()
    settings = ArchiveSettings(url="sqlite:///unused.db", max_pending=max_pending)
    # observe() never calls the API server: no Kube is needed to test what it queues.
    return Archiver(settings, None, file_logs(lambda *_: None), unarchived), unarchived  # type: ignore[arg-type]


def test_finished_runs_are_always_queued_and_unfinished_ones_up_to_the_bound() -> None:
    a, unarchived = archiver(max_pending=2)
    a.observe("ADDED", body("r1", "Running"))
    a.observe("ADDED", body("r2", "Running"))
    a.observe("ADDED", body("r3", "Running"))  # over the bound: its next change queues it
    a.observe("MODIFIED", body("r4", "Succeeded"))  # finished: queued regardless
    assert set(a.pending) == {"uid-r1", "uid-r2", "uid-r4"}
    assert unarchived == {("ns", "r4")}


def test_a_confirmed_run_leaves_the_queue_and_the_backlog() -> None:
    a, unarchived = archiver()
    a.observe("MODIFIED", body("r", "Succeeded"))
    assert "uid-r" in a.pending and unarchived == {("ns", "r")}
    a.observe("MODIFIED", body("r", "Succeeded", annotation=marker(body("r", "Succeeded"))))
    assert a.pending == {} and unarchived == set()
    assert "uid-r" in a.confirmed
    assert "uid-r" not in a.keys and "uid-r" not in a.logged  # nothing kept per run but that


def test_a_deleted_run_is_forgotten() -> None:
    a, unarchived = archiver()
    a.observe("MODIFIED", body("r", "Failed"))
    a.observe("DELETED", body("r", "Failed"))
    assert a.pending == {} and unarchived == set()


async def test_gc_may_delete_only_what_the_archive_confirmed() -> None:
    a, _ = archiver()
    a.observe("MODIFIED", body("r", "Failed"))
    assert not await a.archived("ns", "uid-r")
    a.observe("MODIFIED", body("r", "Failed", annotation=marker(body("r", "Failed"))))
    assert await a.archived("ns", "uid-r")
    off = Archiver(ArchiveSettings(url=None), None, file_logs(lambda *_: None), set())  # type: ignore[arg-type]
    assert await off.archived("ns", "anything")


async def test_a_local_log_keeps_its_tail_and_says_it_was_cut(tmp_path: Any) -> None:
    name = attempt_name("run", "load", 2)
    (tmp_path / f"{name}.log").write_bytes(b"x" * 100 + b"the end\n")
    read = file_logs(lambda ns, run, n: tmp_path / f"{n}.log")
    tail = await read("ns", "run", "load", 2, 8)
    assert tail == b"xthe end\n"  # cap + 1 bytes: the archive keeps 8 and marks it cut
    assert await read("ns", "run", "load", 3, 8) is None


class EventsAppearing:
    """`core.list_namespaced_event` answering each listing in turn (the last one repeats)."""

    def __init__(self, *listings: list[str]) -> None:
        self.listings = list(listings)
        self.calls = 0

    async def list_namespaced_event(self, namespace: str, field_selector: str) -> Any:
        reasons = self.listings[min(self.calls, len(self.listings) - 1)]
        self.calls += 1
        items = [SimpleNamespace(to_dict=lambda r=r: {"reason": r}) for r in reasons]
        return SimpleNamespace(items=items)


def with_events(core: EventsAppearing) -> Archiver:
    settings = ArchiveSettings(url="sqlite:///unused.db")
    kube = SimpleNamespace(core=core)
    return Archiver(settings, kube, file_logs(lambda *_: None), set())  # type: ignore[arg-type]


async def test_a_finished_run_is_archived_with_its_ending_event_posted_after_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reconcile posts RunFailed just after the status that finished the run: the
    archiver reads the Events again until it is there, and not forever."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("runwright.controller.archiver.asyncio.sleep", sleep)
    core = EventsAppearing(["RunStarted"], ["RunStarted"], ["RunStarted", "RunFailed"])
    events = await with_events(core)._final_events("ns", "uid-r")
    assert [e["reason"] for e in events] == ["RunStarted", "RunFailed"]
    assert core.calls == 3
    never = EventsAppearing(["RunStarted"])
    events = await with_events(never)._final_events("ns", "uid-r")
    assert [e["reason"] for e in events] == ["RunStarted"]
    assert sum(slept[2:]) >= ENDING_EVENT_WAIT  # gave up after the wait, with what exists
