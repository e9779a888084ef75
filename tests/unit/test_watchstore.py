"""The operator's own stores of Jobs and pods, and its catching up after a start."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from runwright.controller.watchstore import Catchup, Store, watch_count


@dataclass(frozen=True)
class Rec:
    namespace: str
    run: str
    job: str


def test_records_are_found_by_each_key_and_forgotten_on_removal() -> None:
    store: Store[Rec] = Store(
        run=lambda r: (r.namespace, r.run), job=lambda r: (r.namespace, r.job)
    )
    store.put(("ns", "p1"), Rec("ns", "r1", "j1"))
    store.put(("ns", "p2"), Rec("ns", "r1", "j2"))
    assert {r.job for r in store.by("run", ("ns", "r1"))} == {"j1", "j2"}
    assert store.by("job", ("ns", "j2")) == [Rec("ns", "r1", "j2")]
    # A change of the record refiles it; None (not ours any more) and removal forget it.
    store.put(("ns", "p2"), Rec("ns", "r2", "j2"))
    assert [r.job for r in store.by("run", ("ns", "r1"))] == ["j1"]
    store.put(("ns", "p1"), None)
    store.remove(("ns", "p2"))
    store.remove(("ns", "never"))
    assert len(store) == 0
    assert store.by("run", ("ns", "r1")) == []
    assert not store.groups("run") and not store.groups("job")


async def test_caught_up_once_every_listed_object_was_seen_early_or_late() -> None:
    lists = {"runs": {"a", "b"}, "jobs": {"j"}}

    async def lister(kind: str) -> set[str]:
        return set(lists[kind])

    catchup = Catchup(["runs", "jobs"], lister)
    catchup.seen("runs", "a")  # before our own LIST answered
    catchup.start()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not catchup.synced
    assert catchup.waiting_for() == {"runs": 1, "jobs": 1}
    catchup.seen("runs", "b")
    catchup.seen("jobs", "j")
    await asyncio.wait_for(catchup.done.wait(), 5)
    assert catchup.waiting_for() == {}
    await catchup.close()


async def test_an_object_deleted_before_the_watch_listed_it_is_struck_off() -> None:
    lists = {"runs": {"a", "gone"}}

    async def lister(kind: str) -> set[str]:
        return set(lists[kind])

    catchup = Catchup(["runs"], lister)
    catchup.start(stall_seconds=0.01)
    await asyncio.sleep(0)
    catchup.seen("runs", "a")
    lists["runs"] = {"a"}  # "gone" was deleted: no handler will ever see it
    await asyncio.wait_for(catchup.done.wait(), 5)
    assert catchup.synced
    await catchup.close()


async def test_the_end_of_every_namespaces_list_of_a_kind_catches_it_up_without_our_list() -> None:
    listed_by_us: list[str] = []

    async def lister(kind: str) -> set[str]:
        listed_by_us.append(kind)
        return {"p"} if kind == "pipelines" else {"never-seen"}

    catchup = Catchup(["runs", "pipelines"], lister, watches=watch_count(["a", "b"]))
    catchup.listed("runs")  # namespace a's LIST ended
    assert catchup.waiting_for() == {"runs": None, "pipelines": None}
    catchup.listed("runs")  # and b's: every run listed at start was handed over
    catchup.start()
    catchup.seen("pipelines", "p")
    await asyncio.wait_for(catchup.done.wait(), 5)
    assert listed_by_us == ["pipelines"]  # no LIST of runs of our own
    await catchup.close()


def test_watches_are_not_counted_when_kopf_finds_the_namespaces() -> None:
    assert watch_count([]) == 1  # cluster-wide: one watch per kind
    assert watch_count(["a", "b"]) == 2
    assert watch_count(["team-*"]) is None
    catchup = Catchup(["runs"], lambda _kind: asyncio.sleep(0, {"r"}), watches=None)
    catchup.listed("runs")  # not trusted: our own LIST still decides
    assert catchup.waiting_for() == {"runs": None}
