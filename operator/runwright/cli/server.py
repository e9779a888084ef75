"""`runwright server`: serve the web Runs view (runwright.web).

Two ways to run it. In the cluster (the chart's `server.enabled`), users log in
with their own token and every Kubernetes call is theirs. Locally,
`runwright server --kubeconfig K` acts as that kubeconfig's identity, like
`kubectl proxy`, and so listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from runwright.cli import exits
from runwright.cli.exits import InputError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `server` subcommand."""
    p = subparsers.add_parser(
        "server",
        help="serve the web Runs view (live runs, actions, export) as each user's identity",
        description="Serve the web Runs view. Users log in with their Kubernetes token "
        "(or send Authorization: Bearer); with --kubeconfig the server acts as that "
        "kubeconfig's identity and listens on 127.0.0.1 only.",
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 0.0.0.0; 127.0.0.1 with --kubeconfig)",
    )
    p.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    p.add_argument(
        "--kubeconfig",
        default=None,
        metavar="FILE",
        help="act as this kubeconfig's identity (local use, like kubectl proxy)",
    )
    p.add_argument(
        "--cluster-kubeconfig",
        default=None,
        metavar="FILE",
        help="outside a cluster: where the API server is (its identity is never used); "
        "default the in-cluster service account's API server",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="no actions: retry, rerun, cancel, delete are disabled",
    )
    p.add_argument(
        "--archive",
        default=None,
        metavar="URL",
        help="also list archived runs from this archive (sqlite:///PATH or postgresql://...)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="namespaces to look in for users who may not list runs cluster-wide (repeat)",
    )
    p.add_argument(
        "--log-followers",
        type=int,
        default=4,
        metavar="N",
        help="logs one user may follow live at once (default 4; more are refused)",
    )
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    host = args.host or ("127.0.0.1" if args.kubeconfig else "0.0.0.0")  # noqa: S104
    if args.kubeconfig and host not in LOCAL_HOSTS:
        raise InputError(
            f"--host {host}: with --kubeconfig the server acts as that identity for anyone "
            "who reaches it, so it listens on 127.0.0.1 only; drop --host"
        )
    if args.log_followers < 1:
        raise InputError(
            f"--log-followers {args.log_followers}: must be at least 1 (logs a user may follow)"
        )
    asyncio.run(_serve(args, host))
    return exits.SUCCEEDED


async def _serve(args: argparse.Namespace, host: str) -> None:
    from runwright.web import ClusterAccess, Settings, create_app

    if args.kubeconfig:
        access = await ClusterAccess.from_kubeconfig(args.kubeconfig, use_identity=True)
    elif args.cluster_kubeconfig:
        access = await ClusterAccess.from_kubeconfig(args.cluster_kubeconfig, use_identity=False)
    else:
        try:
            access = ClusterAccess.in_cluster()
        except RuntimeError as exc:
            raise InputError(str(exc)) from None
    engine = None
    if args.archive:
        from runwright.web.archived import open_read_only

        engine = open_read_only(args.archive)
    hosts: frozenset[str] = frozenset()
    if args.kubeconfig:
        hosts = frozenset(f"{name}:{args.port}" for name in ("127.0.0.1", "localhost", "[::1]"))
    settings = Settings(
        access=access,
        namespaces=tuple(args.namespace),
        read_only=args.read_only,
        archive=engine,
        allowed_hosts=hosts,
        log_followers=args.log_followers,
    )
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, args.port)
    await site.start()
    print(f"runwright server: http://{host}:{args.port}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
