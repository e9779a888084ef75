"""One replica of `runwright operator`: it always serves, and acts only while it leads.

Every replica serves /healthz, /readyz and /metrics and the API-trigger endpoint from
its start, so the endpoint stays up while the leader changes. The controllers (kopf:
runs, triggers, Pipelines) start only once this replica holds the Lease
(`controller.leader`); a fresh kopf start lists every object and rebuilds the block
budgets from the Jobs and pods it finds, which is what a takeover needs. If renewing
fails the process exits at once (the kubelet restarts it as a standby); a SIGTERM
stops kopf gracefully and then releases the Lease so the standby takes over at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
from collections.abc import Callable

from prometheus_client import Gauge

from runwright.cli import exits
from runwright.controller import leader
from runwright.controller.config import CONFIG
from runwright.controller.health import Health
from runwright.controller.kopflisting import install as route_listed_objects
from runwright.controller.kopfmemory import ForgetfulMemories
from runwright.controller.watchstore import KINDS
from runwright.http import ApiEndpoint
from runwright.kube.client import Kube, new_api_client
from runwright.kube.ratelimit import process_limiter
from runwright.metrics import METRICS

log = logging.getLogger("runwright.operator")

LEADING = Gauge(
    "runwright_leader",
    "1 while this replica holds the Lease and runs the controllers, 0 on a standby",
    registry=METRICS.registry,
)


def nothing_listed_yet() -> dict[str, int | None]:
    """Every watched kind still to be listed: what a leader not yet caught up reports."""
    return dict.fromkeys(KINDS)


class ElectionThread:
    """The election in a thread with its own event loop and API client.

    Renewals must not wait behind the controllers: a takeover's first listing of
    thousands of runs keeps the operator's event loop busy for seconds, and a renewal
    queued behind it could miss the renew deadline and make the leader exit. In its
    own thread (the GIL switches every few milliseconds) a renewal is sent on time
    whatever the controllers do; the fence reads its renew time across threads.
    """

    def __init__(self, namespace: str, identity: str, timing: leader.Timing) -> None:
        self.namespace, self.identity, self.timing = namespace, identity, timing
        self.loop: asyncio.AbstractEventLoop | None = None
        self.elector: leader.LeaderElector | None = None
        self.keeping: asyncio.Task[str] | None = None
        self.released: asyncio.Event

    def start(self, on_leading: Callable[[], object]) -> None:
        """Start the thread; `on_leading` is called (in the thread) once it holds the Lease."""
        threading.Thread(
            target=asyncio.run, args=(self._main(on_leading),), name="leader-election", daemon=True
        ).start()

    async def _main(self, on_leading: Callable[[], object]) -> None:
        self.loop = asyncio.get_running_loop()
        self.released = asyncio.Event()
        api = await new_api_client()  # its own client: never behind the rate limit
        elector = leader.LeaderElector(
            leader.KubeLease(api, self.namespace), self.identity, self.timing
        )
        self.elector = leader.ACTIVE = elector
        try:
            await elector.acquire()
            on_leading()
            self.keeping = asyncio.create_task(elector.keep())
            reason = await self.keeping
        except asyncio.CancelledError:  # the process is stopping: release() gives it up
            await self.released.wait()
            await api.close()
            return
        except Exception as exc:  # a bug: never lead (or go on leading) without renewals
            log.exception("leader election failed")
            leader.exit_lost(f"the election failed: {exc}")
        leader.exit_lost(reason)

    def role(self) -> str:
        """`leading` while the Lease is held (renewed within the deadline), else `standby`."""
        elector = self.elector
        return "leading" if elector is not None and elector.holds() else "standby"

    async def release(self) -> None:
        """Stop renewing and give the Lease up (from the operator's event loop)."""
        loop, elector = self.loop, self.elector
        if loop is None or elector is None:
            return

        async def give_up() -> None:
            if self.keeping is not None:
                self.keeping.cancel()  # no renewal after this: it would take the Lease back
            try:
                await elector.release()
            finally:
                self.released.set()

        done = asyncio.run_coroutine_threadsafe(give_up(), loop)
        await asyncio.wait_for(asyncio.wrap_future(done), self.timing.renew_deadline)


async def serve(args: argparse.Namespace, timing: leader.Timing) -> int:
    """Serve the endpoints, wait for the Lease (when electing), then run kopf while leading."""
    import kopf

    import runwright.controller  # noqa: F401  (registers the handlers)

    api = await new_api_client()
    kube = Kube(api, limiter=process_limiter(CONFIG.qps, CONFIG.burst))
    health = Health(api, CONFIG.health_host, CONFIG.health_port)
    health.role = leader.role
    await health.start()
    endpoint = ApiEndpoint(kube, None, CONFIG.health_host, CONFIG.api_port)
    try:
        await endpoint.start()
    except OSError as exc:
        log.error(
            "API-trigger endpoint not served: cannot listen on port %d (%s); "
            "pass --api-port with a free port",
            CONFIG.api_port,
            exc,
        )
    election: ElectionThread | None = None
    if args.leader_elect:
        namespace = args.leader_election_namespace or leader.default_namespace(CONFIG.namespaces)
        identity = args.leader_election_identity or leader.default_identity()
        election = ElectionThread(namespace, identity, timing)
        health.role = election.role
        leading = asyncio.Event()
        loop = asyncio.get_running_loop()
        log.info(
            "standby: serving, waiting for Lease %s/%s as %s",
            namespace,
            leader.LEASE_NAME,
            identity,
        )
        election.start(lambda: loop.call_soon_threadsafe(leading.set))
        await leading.wait()
    LEADING.set(1)
    namespaces = CONFIG.namespaces
    route_listed_objects()  # objects listed at start skip kopf's per-event machinery
    # Leading, not caught up: /readyz says so until kopf's startup hands over the
    # catch-up's own count (handlers.startup); it answered 200 in between.
    health.catching_up = nothing_listed_yet
    operator = asyncio.create_task(
        kopf.operator(
            standalone=True,  # no kopf peering: the Lease decides who acts
            clusterwide=not namespaces,
            namespaces=namespaces,
            memo=kopf.Memo(health=health, api=endpoint),
            memories=ForgetfulMemories(),  # nothing kept per object (kopfmemory.py)
        )
    )
    try:
        await operator  # until SIGTERM (kopf stops gracefully) or a failed start
    finally:
        LEADING.set(0)
        if election is not None:
            await election.release()
        await kube.close()
    return exits.SUCCEEDED
