"""`runwright operator`: run the kopf operator with our flags."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from runwright.cli import exits

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from runwright.controller.leader import Timing

log = logging.getLogger("runwright.operator")

#: Waiting for an API server that does not answer: first delay, doubling to the cap.
API_WAIT_BACKOFF = (1.0, 30.0)
#: One try's time limit.
API_WAIT_TIMEOUT = 10.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `operator` subcommand."""
    p = subparsers.add_parser(
        "operator",
        help="run the operator (reconciles Pipelines and PipelineRuns)",
        description="Run the Runwright operator against the cluster in KUBECONFIG (or the "
        "in-cluster service account).",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeat for several; a glob like team-* works)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (default)"
    )
    p.add_argument(
        "--max-concurrent-blocks",
        type=int,
        default=20,
        metavar="N",
        help="blocks running at once across all runs (0: no limit; default 20)",
    )
    p.add_argument(
        "--executor",
        choices=["pod", "job", "local", "kubernetes"],
        default=os.environ.get("RUNWRIGHT_EXECUTOR", "pod"),
        help="pod: the operator creates each block attempt's pod (default); job: a Job per "
        "attempt (a Pipeline's spec.executor Pod|Job overrides these two); local: processes "
        "of the operator; kubernetes: deprecated name of job",
    )
    p.add_argument(
        "--pod-pending-timeout",
        type=float,
        default=float(os.environ.get("RUNWRIGHT_POD_PENDING_TIMEOUT", "600")),
        metavar="SECONDS",
        help="pod executor: fail an attempt whose pod is still Pending (unschedulable, image "
        "not pulled...) after this long; its retry policy applies (default 600)",
    )
    p.add_argument(
        "--resync-period",
        type=float,
        default=float(os.environ.get("RUNWRIGHT_RESYNC_PERIOD", "60")),
        metavar="SECONDS",
        help="reconcile every unfinished run at least this often even when no event came, "
        "a safety net that logs a warning when it finds work; 0 turns it off (default 60)",
    )
    p.add_argument(
        "--health-port", type=int, default=8080, help="port of /healthz and /metrics (default 8080)"
    )
    p.add_argument(
        "--api-port", type=int, default=8081, help="port of the API-trigger endpoint (default 8081)"
    )
    p.add_argument(
        "--qps",
        type=float,
        default=float(os.environ.get("RUNWRIGHT_QPS", "100")),
        help="client-side limit of the operator's API requests per second, Events apart "
        "(0: none; default 100)",
    )
    p.add_argument(
        "--burst",
        type=int,
        default=int(os.environ.get("RUNWRIGHT_BURST", "200")),
        help="API requests the --qps limit lets through at once (default 200)",
    )
    p.add_argument(
        "--event-qps",
        type=float,
        default=float(os.environ.get("RUNWRIGHT_EVENT_QPS", "50")),
        help="client-side limit of the operator's Events per second, apart from --qps: "
        "Events are posted behind the reconcile (0: none; default 50)",
    )
    p.add_argument(
        "--event-burst",
        type=int,
        default=int(os.environ.get("RUNWRIGHT_EVENT_BURST", "100")),
        help="Events the --event-qps limit lets through at once (default 100)",
    )
    p.add_argument(
        "--status-delay",
        type=float,
        default=float(os.environ.get("RUNWRIGHT_STATUS_DELAY", "1")),
        metavar="SECONDS",
        help="a run's status write whose only news is blocks started waits up to this "
        "long, so a block that ends within it is written once (0: never wait; default 1)",
    )
    election = p.add_argument_group("leader election (several replicas: one acts)")
    election.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="act only while holding the Lease runwright-operator (default on; "
        "--no-leader-elect for a single local operator)",
    )
    election.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        help="namespace of the Lease (default: POD_NAMESPACE, the pod's namespace, else "
        "the first -n namespace, else default)",
    )
    election.add_argument(
        "--leader-election-identity",
        metavar="ID",
        help="this replica's name in the Lease (default: hostname_pid)",
    )
    election.add_argument(
        "--leader-election-lease-duration",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long a standby waits on an unrenewed Lease before taking it (default 10)",
    )
    election.add_argument(
        "--leader-election-renew-deadline",
        type=float,
        default=7.0,
        metavar="SECONDS",
        help="a leader that has not renewed for this long exits (default 7)",
    )
    election.add_argument(
        "--leader-election-retry-period",
        type=float,
        default=1.5,
        metavar="SECONDS",
        help="how often the leader renews and a standby tries (default 1.5)",
    )
    p.add_argument(
        "--job-ttl",
        type=int,
        default=86400,
        metavar="SECONDS",
        help="delete a block's finished Job and pod this long after it ends "
        "(ttlSecondsAfterFinished; 0: keep them; default 86400, a day)",
    )
    p.add_argument(
        "--delete-finished-jobs",
        action="store_true",
        help="delete a finished run's Jobs and pods as soon as its final status is written "
        "(after the archive hook; default: leave them to --job-ttl)",
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument("--workdir", type=Path, help="local executor: where block logs go")
    p.add_argument(
        "--default-requests",
        default=None,
        metavar="R=Q,...",
        help="block container requests where the Pipeline sets none "
        "(default cpu=100m,memory=128Mi; '' for none)",
    )
    p.add_argument(
        "--default-limits",
        default=None,
        metavar="R=Q,...",
        help="block container limits where the Pipeline sets none (default memory=512Mi; '' for none)",
    )
    p.add_argument(
        "--pod-security",
        choices=["restricted", "none"],
        default=None,
        help="restricted: block pods meet Pod Security 'restricted' unless their Pipeline asks "
        "otherwise (default); none: pods exactly as the Pipeline writes them",
    )
    p.add_argument(
        "--archive",
        default=None,
        metavar="URL",
        help="the run archive: sqlite:///PATH, postgresql+asyncpg://USER@HOST/DB, or none "
        "(default: $RUNWRIGHT_ARCHIVE, else sqlite:///$XDG_DATA_HOME/runwright/archive.db, "
        "~/.local/share when XDG_DATA_HOME is unset); see docs/archive.md",
    )
    p.add_argument(
        "--archive-log-bytes",
        type=int,
        default=None,
        metavar="N",
        help="bytes of each attempt's log the archive keeps, its tail (default 1048576)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Configure and run kopf until interrupted."""
    import kopf

    from runwright.controller import config
    from runwright.executors.pod_security import parse_quantities

    if args.max_concurrent_blocks < 0:
        raise exits.InputError("--max-concurrent-blocks must be 0 (no limit) or more")
    config.CONFIG.namespaces = list(args.namespace)
    config.CONFIG.max_concurrent_blocks = args.max_concurrent_blocks or None
    if args.pod_pending_timeout <= 0:
        raise exits.InputError("--pod-pending-timeout must be more than 0 seconds")
    try:
        config.CONFIG.executor = config.executor_kind(args.executor)
    except ValueError as exc:
        raise exits.InputError(f"--executor (or RUNWRIGHT_EXECUTOR): {exc}") from None
    config.CONFIG.deprecated_executor = (
        args.executor if args.executor in config.DEPRECATED_EXECUTORS else None
    )
    config.CONFIG.pod_pending_timeout = args.pod_pending_timeout
    if args.resync_period < 0:
        raise exits.InputError("--resync-period must be 0 (off) or more seconds")
    config.CONFIG.resync_period = args.resync_period or None
    config.CONFIG.health_port = args.health_port
    config.CONFIG.api_port = args.api_port
    config.CONFIG.log_format = args.log_format
    config.CONFIG.workdir = args.workdir
    try:
        # Unset flags keep the environment's (RUNWRIGHT_DEFAULT_REQUESTS, ...) or the defaults.
        if args.default_requests is not None:
            config.CONFIG.default_requests = parse_quantities(
                args.default_requests, "--default-requests"
            )
        if args.default_limits is not None:
            config.CONFIG.default_limits = parse_quantities(args.default_limits, "--default-limits")
    except ValueError as exc:
        raise exits.InputError(str(exc)) from None
    if args.pod_security is not None:
        config.CONFIG.pod_security = args.pod_security
    if args.qps < 0 or args.burst < 1:
        raise exits.InputError("--qps must be 0 (no limit) or more, --burst 1 or more")
    config.CONFIG.qps = args.qps
    config.CONFIG.burst = args.burst
    if args.event_qps < 0 or args.event_burst < 1:
        raise exits.InputError("--event-qps must be 0 (no limit) or more, --event-burst 1 or more")
    config.CONFIG.event_qps = args.event_qps
    config.CONFIG.event_burst = args.event_burst
    if args.status_delay < 0:
        raise exits.InputError("--status-delay must be 0 (write at once) or more seconds")
    config.CONFIG.status_delay = args.status_delay
    timing = _timing(args)
    if args.archive is not None:
        config.CONFIG.archive = config.archive_setting(args.archive)
    if args.archive_log_bytes is not None:
        if args.archive_log_bytes < 0:
            raise exits.InputError("--archive-log-bytes must be 0 or more")
        config.CONFIG.archive_log_cap = args.archive_log_bytes
    if config.CONFIG.archive is not None:
        from runwright.archive import archive_url

        try:
            archive_url(config.CONFIG.archive)
        except ValueError as exc:
            raise exits.InputError(f"--archive: {exc}") from exc
    if args.job_ttl < 0:
        raise exits.InputError("--job-ttl must be 0 (keep finished Jobs) or more seconds")
    config.CONFIG.job_ttl = args.job_ttl or None
    config.CONFIG.delete_finished_jobs = args.delete_finished_jobs

    # Logging first: waiting for the API server logs a line per try.
    kopf.configure(
        debug=args.verbose,
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("runwright").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:
        # kopf logs every handler call on every object at INFO: a line per Job and pod
        # event. Our own Events and logs already tell the story; keep kopf's warnings.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    problem = asyncio.run(_preflight())
    if problem is not None:
        raise exits.InputError(problem)

    import runwright.controller  # noqa: F401  (registers the handlers)
    from runwright.controller.replica import serve

    return asyncio.run(serve(args, timing))


def _timing(args: argparse.Namespace) -> Timing:
    """The election's durations, checked together (client-go's rules)."""
    from runwright.controller.leader import Timing

    timing = Timing(
        args.leader_election_lease_duration,
        args.leader_election_renew_deadline,
        args.leader_election_retry_period,
    )
    problem = timing.problem()
    if problem is not None:
        raise exits.InputError(problem)
    return timing


async def _preflight() -> str | None:
    """Why the operator cannot run at all, or None once the API server answered.

    No cluster configured (no kubeconfig, not in a pod) is a configuration error: it
    fails at once with what to set. An API server that does not answer is transient
    (the control plane is restarting, the operator started first): it is waited for.
    """
    from runwright.kube.client import new_api_client

    try:
        api = await new_api_client()
    except Exception as exc:
        return (
            f"no cluster configured ({exc}); set KUBECONFIG to a kubeconfig file, or run "
            "the operator in a pod with a service account"
        )
    try:
        await wait_for_api_server(api)
    finally:
        await api.close()
    return None


async def wait_for_api_server(
    api: ApiClient,
    backoff: tuple[float, float] = API_WAIT_BACKOFF,
    try_seconds: float = API_WAIT_TIMEOUT,
) -> None:
    """Return once the API server answers /version; until then retry with backoff.

    Each failed try logs one line with the server's address, the error and the next
    delay (backoff[0] doubling to backoff[1]), so whoever watches the log knows what
    the operator waits for. Waits as long as it takes: an operator is a service.
    """
    from kubernetes_asyncio import client

    from runwright.kube.errors import describe

    versions = client.VersionApi(api)
    delay = backoff[0]
    while True:
        try:
            await asyncio.wait_for(versions.get_code(), try_seconds)
            return
        except Exception as exc:
            log.warning(
                "waiting for the API server at %s: %s; retrying in %s",
                api.configuration.host,
                describe(exc) or type(exc).__name__,
                f"{delay:g}s",
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff[1])
