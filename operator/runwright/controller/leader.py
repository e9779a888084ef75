"""Leader election on a coordination.k8s.io/v1 Lease: only the holder of the Lease acts.

The chart runs two replicas; both serve /healthz, /readyz, /metrics and the
API-trigger endpoint, but only the leader runs kopf (runs, triggers, Pipelines). The
semantics are client-go's tools/leaderelection, so operators of Kubernetes know them:

- Acquire or renew is one read and one write with the read's resourceVersion
  (optimistic concurrency): of two candidates writing the same Lease, the API server
  accepts one and answers 409 to the other.
- A Lease held by someone else is taken only once it has not changed for its
  leaseDurationSeconds, measured on *this* process's monotonic clock from when this
  process saw it change (never from the renewTime in it: the clocks of two nodes
  need not agree).
- The leader renews every retry period; when it has not renewed for renew deadline
  (shorter than the lease duration) it has lost: `keep` returns and the caller exits
  the process, so the kubelet restarts it as a standby. A leader that cannot prove its
  Lease must never act: `fence` (checked before every request of the controllers' `Kube`)
  ends the process at once when the deadline passed, for example after the process was
  stopped (SIGSTOP, a frozen node) and resumed while another replica took over.
- A graceful stop (SIGTERM) releases the Lease (empty holder), so the standby takes
  over on its next try instead of after the lease duration.

Why the deadline is safe: the leader's deadline counts from the moment it *sent* its
last successful renewal; the API server wrote it later, and a standby saw it later
still, so the standby's lease duration (10 s) ends at least lease duration minus
renew deadline (5 s) after the leader stopped acting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol, cast

log = logging.getLogger("runwright.leader")

LEASE_NAME = "runwright-operator"
#: client-go's JitterFactor: a standby's tries are spread over retry * (1 .. 2.2).
JITTER = 1.2
#: The exit status of a leader that lost its Lease (EX_TEMPFAIL: restart me).
EXIT_LOST = 75


class LeaseConflict(Exception):
    """The Lease changed (or was created) since it was read: another candidate wrote first."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says, and the resourceVersion its next write must name."""

    holder: str
    duration: float
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str | None = None


class LeaseStore(Protocol):
    """Reads and writes one Lease; the election logic is tested against a fake of it."""

    async def get(self) -> LeaseRecord | None:
        """The Lease, or None when it does not exist."""

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create it; LeaseConflict when it exists already."""

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replace it if still at record.resource_version; LeaseConflict otherwise."""


@dataclass(frozen=True)
class Timing:
    """leaseDurationSeconds, renew deadline and retry period (client-go's names)."""

    lease_duration: float = 10.0
    renew_deadline: float = 7.0
    retry_period: float = 1.5

    def problem(self) -> str | None:
        """Why these durations cannot work together, or None."""
        if self.lease_duration <= self.renew_deadline:
            return (
                f"--leader-election-lease-duration ({self.lease_duration:g}s) must be longer "
                f"than --leader-election-renew-deadline ({self.renew_deadline:g}s)"
            )
        if self.renew_deadline <= JITTER * self.retry_period:
            return (
                f"--leader-election-renew-deadline ({self.renew_deadline:g}s) must be longer "
                f"than {JITTER:g} x --leader-election-retry-period ({self.retry_period:g}s)"
            )
        if self.retry_period <= 0:
            return "--leader-election-retry-period must be over 0"
        return None


def default_identity() -> str:
    """hostname_pid: the pod's name in a cluster (its hostname), unique on one machine."""
    return f"{socket.gethostname()}_{os.getpid()}"


def default_namespace(watched: list[str]) -> str:
    """Where the Lease lives: the operator's own namespace (POD_NAMESPACE, or the
    service account's namespace file in a pod); outside a cluster the first watched
    namespace (so operators of different namespaces on one cluster do not exclude
    each other, and two started against the same namespaces do); else `default`."""
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            mounted = f.read().strip()
    except OSError:
        mounted = ""
    if mounted:
        return mounted
    plain = sorted(n for n in watched if not any(c in n for c in "*?[]"))
    return plain[0] if plain else "default"


class LeaderElector:
    """One candidate: acquire, keep (renew) and release one Lease."""

    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        timing: Timing = Timing(),
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.identity = identity
        self.timing = timing
        self.clock, self.wall, self.sleep, self.jitter = clock, wall, sleep, jitter
        self.on_lost = on_lost if on_lost is not None else exit_lost
        self.observed: LeaseRecord | None = None
        """The Lease as last read or written by this candidate."""
        self.observed_at = 0.0
        """Monotonic time at which `observed` was first seen with its resourceVersion."""
        self.renewed_at: float | None = None
        """Monotonic time at which the last successful acquire or renew was *sent*."""
        self.leading = False
        self.lost = False

    # ----- one try ---------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One read and at most one write; True when this candidate holds the Lease now."""
        sent = self.clock()
        now = self.wall()
        mine = LeaseRecord(
            holder=self.identity,
            duration=self.timing.lease_duration,
            acquire_time=now,
            renew_time=now,
        )
        old = await self.store.get()
        if old is None:
            try:
                written = await self.store.create(mine)
            except LeaseConflict:
                return False
            return self._won(written, sent)
        if self.observed is None or old.resource_version != self.observed.resource_version:
            self.observed, self.observed_at = old, self.clock()
        held = old.holder and old.holder != self.identity
        if held and self.observed_at + old.duration > self.clock():
            return False  # held, and renewed within its lease duration as seen from here
        if old.holder == self.identity:
            mine = replace(mine, acquire_time=old.acquire_time or now, transitions=old.transitions)
        else:
            mine = replace(mine, transitions=old.transitions + 1)
        try:
            written = await self.store.update(replace(mine, resource_version=old.resource_version))
        except LeaseConflict:
            return False
        return self._won(written, sent)

    def _won(self, written: LeaseRecord, sent: float) -> bool:
        self.observed, self.observed_at = written, self.clock()
        self.renewed_at = sent
        return True

    # ----- the loops ---------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this candidate leads; until then try every retry period (jittered)."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    self.leading = True
                    log.info("leading: acquired Lease as %s", self.identity)
                    return
                holder = self.observed.holder if self.observed else "?"
                log.debug("standby: the Lease is held by %s", holder)
            except Exception as exc:  # the API server is away: a standby just tries again
                log.warning("leader election: acquiring the Lease failed: %s", _why(exc))
            await self.sleep(self.timing.retry_period * (1 + JITTER * self.jitter()))

    async def keep(self) -> str:
        """Renew every retry period; return why once the renew deadline passed unrenewed."""
        while True:
            await self.sleep(self.timing.retry_period)
            if self.lost:
                return "the Lease was lost"
            left = self._deadline_left()
            if left <= 0:
                return self._lose_reason()
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), left)
            except Exception as exc:
                log.warning("leader election: renewing the Lease failed: %s", _why(exc))
                renewed = False
            if (
                not renewed
                and self.observed is not None
                and self.observed.holder
                not in (
                    "",
                    self.identity,
                )
            ):
                return f"the Lease is held by {self.observed.holder}"
            if not renewed and self._deadline_left() <= 0:
                return self._lose_reason()

    async def release(self) -> None:
        """Give the Lease up (empty holder) so a standby takes it on its next try."""
        if not self.leading or self.lost:
            return
        self.leading = False
        old = self.observed
        if old is None or old.holder != self.identity:
            return
        now = self.wall()
        record = replace(old, holder="", duration=1.0, renew_time=now, acquire_time=now)
        try:
            await self.store.update(record)
            log.info("released the Lease")
        except Exception as exc:  # the standby takes over after the lease duration instead
            log.warning("leader election: releasing the Lease failed: %s", exc)

    # ----- the fence ---------------------------------------------------------------------------

    def holds(self) -> bool:
        """True while the last renewal was sent less than renew deadline ago."""
        return self.leading and not self.lost and self._deadline_left() > 0

    def fence(self) -> None:
        """Called before every API request of the leader: lose (exit) when not provably leading."""
        if not self.holds():
            self.lost = True
            self.on_lost(self._lose_reason())

    def _deadline_left(self) -> float:
        if self.renewed_at is None:
            return 0.0
        return self.renewed_at + self.timing.renew_deadline - self.clock()

    def _lose_reason(self) -> str:
        return f"the Lease was not renewed within {self.timing.renew_deadline:g}s"


def _why(exc: BaseException) -> str:
    """One line: a missing RBAC permission names itself (the chart's Lease Role), a 404
    the namespace to create or pass with --leader-election-namespace."""
    from runwright.kube.errors import describe, forbidden

    if getattr(exc, "status", None) == 404:
        return f"{describe(exc)} (does the Lease's namespace exist? --leader-election-namespace)"
    return forbidden(exc) or describe(exc)


def exit_lost(reason: str) -> NoReturn:
    """End the process now: no cleanup handler may write after the Lease is lost."""
    log.critical("leader election lost (%s): exiting so that a new leader takes over", reason)
    logging.shutdown()
    os._exit(EXIT_LOST)


# ----- the Lease in the API server -----------------------------------------------------------


def _micro(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t is not None else None


class KubeLease:
    """LeaseStore over coordination.k8s.io/v1; its own API client, never rate limited,
    so a busy operator's own requests cannot delay the renewals that keep it leading."""

    def __init__(self, api: Any, namespace: str, name: str = LEASE_NAME) -> None:
        from kubernetes_asyncio import client

        self.leases = client.CoordinationV1Api(api)
        self.namespace, self.name = namespace, name

    def _body(self, record: LeaseRecord) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.resource_version is not None:
            meta["resourceVersion"] = record.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": record.holder,
                "leaseDurationSeconds": max(1, round(record.duration)),
                "acquireTime": _micro(record.acquire_time),
                "renewTime": _micro(record.renew_time),
                "leaseTransitions": record.transitions,
            },
        }

    @staticmethod
    def _record(lease: Any) -> LeaseRecord:
        spec = lease.spec
        return LeaseRecord(
            holder=spec.holder_identity or "",
            duration=float(spec.lease_duration_seconds or 0),
            acquire_time=spec.acquire_time,
            renew_time=spec.renew_time,
            transitions=spec.lease_transitions or 0,
            resource_version=lease.metadata.resource_version,
        )

    async def get(self) -> LeaseRecord | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            lease = await self.leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self._record(lease)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            lease = await self.leases.create_namespaced_lease(
                self.namespace, cast(Any, self._body(record))
            )
        except ApiException as exc:
            if exc.status == 409:
                raise LeaseConflict(str(exc.reason)) from None
            raise
        return self._record(lease)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            lease = await self.leases.replace_namespaced_lease(
                self.name, self.namespace, cast(Any, self._body(record))
            )
        except ApiException as exc:
            if exc.status == 409:
                raise LeaseConflict(str(exc.reason)) from None
            raise
        return self._record(lease)


#: The elector of this process once it leads (None: no election, or not leading yet).
ACTIVE: LeaderElector | None = None


def process_fence() -> Callable[[], None] | None:
    """The fence the operator's API client checks before each request (None: no election)."""
    return ACTIVE.fence if ACTIVE is not None else None


def role() -> str:
    """`leading` or `standby`, for /readyz (no election: always leading)."""
    return "standby" if ACTIVE is not None and not ACTIVE.holds() else "leading"
