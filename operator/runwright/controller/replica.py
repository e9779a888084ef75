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

from prometheus_client import Gauge

from runwright.cli import exits
from runwright.controller import leader
from runwright.controller.config import CONFIG
from runwright.controller.health import Health
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
    elector: leader.LeaderElector | None = None
    if args.leader_elect:
        namespace = args.leader_election_namespace or leader.default_namespace(CONFIG.namespaces)
        identity = args.leader_election_identity or leader.default_identity()
        lease_api = await new_api_client()  # its own client: never behind the rate limit
        elector = leader.LeaderElector(leader.KubeLease(lease_api, namespace), identity, timing)
        leader.ACTIVE = elector
        log.info(
            "standby: serving, waiting for Lease %s/%s as %s",
            namespace,
            leader.LEASE_NAME,
            identity,
        )
        await elector.acquire()
    LEADING.set(1)
    namespaces = CONFIG.namespaces
    operator = asyncio.create_task(
        kopf.operator(
            standalone=True,  # no kopf peering: the Lease decides who acts
            clusterwide=not namespaces,
            namespaces=namespaces,
            memo=kopf.Memo(health=health, api=endpoint),
        )
    )
    if elector is None:
        await operator
        await kube.close()
        return exits.SUCCEEDED
    kept = asyncio.create_task(elector.keep())
    done, _ = await asyncio.wait({operator, kept}, return_when=asyncio.FIRST_COMPLETED)
    if kept in done:
        leader.exit_lost(kept.result())
    kept.cancel()
    try:
        operator.result()  # a failed start raises here, after the Lease is released
    finally:
        LEADING.set(0)
        await elector.release()
        await kube.close()
    return exits.SUCCEEDED
