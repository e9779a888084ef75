"""Leader election's state machine (controller/leader.py) on a fake clock, against a Lease
store that behaves as the API server does for one object: writes name the
resourceVersion they read, a stale one is a 409 (LeaseConflict)."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hack.operator_process import runwright_executable
from runwright.controller.leader import (
    LeaderElector,
    LeaseConflict,
    LeaseRecord,
    Timing,
    default_namespace,
)

T0 = datetime(2026, 11, 30, tzinfo=UTC)


class Clock:
    """Monotonic and wall time that move only when a test (or a sleep) moves them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Store:
    """One Lease with optimistic concurrency; `down` makes every request fail."""

    def __init__(self) -> None:
        self.lease: LeaseRecord | None = None
        self.version = 0
        self.down = False
        self.writes: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("the API server does not answer")

    async def get(self) -> LeaseRecord | None:
        self._check()
        await asyncio.sleep(0)  # a real round trip: other candidates may read meanwhile
        return self.lease

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.lease is not None:
            raise LeaseConflict("exists")
        return self._write(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        assert self.lease is not None
        if record.resource_version != self.lease.resource_version:
            raise LeaseConflict("the object has been modified")
        return self._write(record)

    def _write(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.lease = replace(record, resource_version=str(self.version))
        self.writes.append(record.holder)
        return self.lease


def elector(store: Store, clock: Clock, identity: str, lost: list[str]) -> LeaderElector:
    return LeaderElector(
        store,
        identity,
        Timing(15, 10, 2),
        clock=clock,
        wall=clock.wall,
        sleep=clock.sleep,
        jitter=lambda: 0.0,
        on_lost=lambda why: lost.append(f"{identity}: {why}"),
    )


@pytest.fixture
def world() -> tuple[Store, Clock, list[str]]:
    return Store(), Clock(), []


async def test_the_first_candidate_creates_the_lease_and_the_second_stays_standby(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert store.lease is not None and store.lease.holder == "a"
    assert store.lease.duration == 15 and store.lease.transitions == 0


async def test_two_candidates_reading_an_expired_lease_at_once_elect_exactly_one(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    dead = elector(store, clock, "dead", lost)
    assert await dead.try_acquire_or_renew()
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    # Both see the dead leader's Lease, then it stays unrenewed past its duration.
    assert not await a.try_acquire_or_renew() and not await b.try_acquire_or_renew()
    clock.now += 15.1
    won = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(won) == [False, True]
    assert store.lease is not None and store.lease.holder in ("a", "b")
    assert store.lease.transitions == 1


async def test_a_renewed_lease_is_never_taken_and_an_unrenewed_one_only_after_its_duration(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    assert await a.try_acquire_or_renew()
    for _ in range(20):  # a minute of renewals every 2 s, the standby trying in between
        clock.now += 2
        assert await a.try_acquire_or_renew()
        clock.now += 1
        assert not await b.try_acquire_or_renew()
    # a dies; b measures the duration from when *it* saw the last renewal.
    clock.now += 14.9
    assert not await b.try_acquire_or_renew()
    clock.now += 0.2
    assert await b.try_acquire_or_renew()
    assert store.lease is not None and store.lease.holder == "b"


async def test_the_standby_does_not_trust_the_renew_time_written_by_another_clock(
    world: tuple[Store, Clock, list[str]],
) -> None:
    """A leader whose wall clock runs an hour behind still holds its Lease while renewing."""
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    a.wall = lambda: T0 - timedelta(hours=1)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.now += 10
    assert await a.try_acquire_or_renew()
    clock.now += 10
    assert not await b.try_acquire_or_renew()


async def test_a_leader_that_cannot_renew_loses_at_the_renew_deadline_before_the_lease_expires(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    await a.acquire()
    assert not await b.try_acquire_or_renew()  # b observes the Lease now
    acquired = clock.now
    store.down = True
    why = await a.keep()
    assert "not renewed within 10s" in why
    assert clock.now - acquired <= 10 + 2  # at most one retry period after the deadline
    a.fence()
    assert lost == [f"a: {why}"]
    store.down = False
    # The standby cannot take it before the lease duration: the leader stopped first.
    assert clock.now < acquired + 15
    assert not await b.try_acquire_or_renew()
    clock.now = acquired + 15.1
    assert await b.try_acquire_or_renew()


async def test_the_fence_stops_a_leader_resumed_after_a_pause_before_it_writes(
    world: tuple[Store, Clock, list[str]],
) -> None:
    """SIGSTOP for 30 s: another replica took over; the resumed leader must not act."""
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    a.fence()
    assert lost == []
    clock.now += 30
    assert await b.try_acquire_or_renew()
    a.fence()  # what the API client does before its next request
    assert lost == ["a: the Lease was not renewed within 10s"]
    assert not a.holds()


async def test_keep_returns_at_once_when_another_candidate_holds_the_lease(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    a = elector(store, clock, "a", lost)
    await a.acquire()
    assert store.lease is not None
    store.lease = replace(store.lease, holder="intruder", resource_version="99")
    assert await a.keep() == "the Lease is held by intruder"


async def test_keep_renews_while_it_can(world: tuple[Store, Clock, list[str]]) -> None:
    store, clock, lost = world
    a = elector(store, clock, "a", lost)
    await a.acquire()
    keeping = asyncio.create_task(a.keep())
    for _ in range(50):
        await asyncio.sleep(0)
    assert not keeping.done()
    assert store.writes.count("a") > 5 and a.holds()
    keeping.cancel()


async def test_release_lets_the_standby_take_over_on_its_next_try(
    world: tuple[Store, Clock, list[str]],
) -> None:
    store, clock, lost = world
    a, b = elector(store, clock, "a", lost), elector(store, clock, "b", lost)
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    await a.release()
    assert store.lease is not None and store.lease.holder == ""
    assert not a.holds()
    assert await b.try_acquire_or_renew()


async def test_a_restart_with_the_same_identity_takes_its_lease_back_at_once(
    world: tuple[Store, Clock, list[str]],
) -> None:
    """A restarted container keeps its pod name: it need not wait for its own Lease."""
    store, clock, lost = world
    assert await elector(store, clock, "pod-0", lost).try_acquire_or_renew()
    assert store.lease is not None
    first_acquired = store.lease.acquire_time
    clock.now += 3
    again = elector(store, clock, "pod-0", lost)
    assert await again.try_acquire_or_renew()
    assert store.lease.acquire_time == first_acquired and store.lease.transitions == 0


@pytest.mark.parametrize(
    ("timing", "words"),
    [
        (Timing(10, 10, 2), "lease-duration (10s) must be longer"),
        (Timing(15, 2, 2), "renew-deadline (2s) must be longer than 1.2 x"),
    ],
)
def test_durations_that_cannot_work_together_are_refused(timing: Timing, words: str) -> None:
    problem = timing.problem()
    assert problem is not None and words in problem
    assert Timing().problem() is None


# ----- where the Lease lives, and the flags --------------------------------------------------


def test_the_lease_lives_in_the_pods_namespace_else_the_first_watched_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "runwright-system")
    assert default_namespace(["b", "a"]) == "runwright-system"
    monkeypatch.delenv("POD_NAMESPACE")
    outside_a_pod = not Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").exists()
    if outside_a_pod:
        # The same set of namespaces, in any order, gives the same Lease; globs are no names.
        assert default_namespace(["b", "a"]) == default_namespace(["a", "b"]) == "a"
        assert default_namespace(["team-*", "z"]) == "z"
        assert default_namespace([]) == "default"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--qps", "-1"], "--qps must be 0"),
        (["--burst", "0"], "--burst 1 or more"),
        (["--leader-election-renew-deadline", "20"], "must be longer than"),
    ],
)
def test_bad_rate_limit_and_election_flags_fail_at_once_naming_the_flag(
    tmp_path: Path, flags: list[str], words: str
) -> None:
    done = subprocess.run(
        [str(runwright_executable()), "operator", "--health-port", "0", *flags],
        env={"KUBECONFIG": str(tmp_path / "absent"), "HOME": str(tmp_path), "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
