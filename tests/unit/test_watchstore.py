"""The operator's own stores of Jobs and pods, and its catching up after a start."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from runwright.controller.watchstore import Catchup, Store


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
