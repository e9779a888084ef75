"""The plugin's command set: one parser for `kubectl runwright` and for `runwright`.

`register(subparsers)` adds the commands to any argparse subparsers (cli/main.py
adds them to `runwright`); `main()` is the `kubectl-runwright` console script.
Each command is an async function of (args, cluster): `dispatch` connects with the
user's kubeconfig, runs it, and turns a `PluginError` into one line on stderr and
its exit status (errors.py has the table).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from runwright.cli.exits import InputError
from runwright.cli.plugin import errors, listing
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.output import Format
from runwright.cli.plugin.selection import SortBy

if TYPE_CHECKING:
    from runwright.cli.plugin.client import Cluster

Command = Callable[[argparse.Namespace, "Cluster"], Awaitable[int]]
PROG = "kubectl-runwright"


def common_options() -> argparse.ArgumentParser:
    """kubectl's connection flags and the archive, accepted by every command."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("cluster and archive")
    group.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    group.add_argument("--context", help="kubeconfig context (default: the current one)")
    group.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    group.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    group.add_argument(
        "--archive",
        metavar="URL",
        help="run archive, e.g. sqlite:///archive.db (default: $RUNWRIGHT_ARCHIVE)",
    )
    return parent


def _output(
    parser: argparse.ArgumentParser, choices: Sequence[str], default: str = "table"
) -> None:
    parser.add_argument(
        "-o", "--output", choices=list(choices), default=default, help="output format"
    )


def _bulk(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="runs by name")
    listing.add_filters(parser)
    parser.add_argument("--all-failed", action="store_true", help="every Failed run in scope")
    parser.add_argument(
        "--all-running", action="store_true", help="every Pending, Queued or Running run in scope"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be touched")


def register(subparsers: Any) -> None:
    """Add every plugin command to `subparsers` (of `kubectl-runwright` or `runwright`)."""
    common = common_options()

    def add(
        name: str, module: str, help_text: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text, aliases=list(aliases)
        )
        parser.set_defaults(func=lambda args: dispatch(module, args), plugin_command=name)
        return parser

    p = add("list", "listing", "list runs (alias ls; archived runs too with --archived)", ["ls"])
    listing.add_filters(p)
    p.add_argument(
        "--sort",
        choices=[s.value for s in SortBy],
        default="started",
        help="order (default: newest started first)",
    )
    p.add_argument("--reverse", action="store_true", help="the other direction")
    p.add_argument("--limit", type=int, default=listing.DEFAULT_LIMIT, help="rows at most (0: all)")
    p.add_argument(
        "--archived", action="store_true", help="add runs from the archive, marked (archived)"
    )
    _output(p, [f.value for f in Format])

    p = add("get", "get", "one run: what happened (works for archived runs)")
    p.add_argument("run", metavar="RUN", help="the PipelineRun")
    _output(p, ["table", "json", "yaml"])

    p = add("timeline", "timeline", "a Gantt of the run's blocks and attempts")
    p.add_argument("run", metavar="RUN", help="the PipelineRun")
    _output(p, ["table", "json", "yaml"])

    p = add("logs", "logs", "block logs: from the pod while it exists, else the archive")
    p.add_argument("run", metavar="RUN", help="the PipelineRun")
    p.add_argument("block", nargs="?", metavar="BLOCK", help="one block (default: all, prefixed)")
    p.add_argument("--attempt", type=int, help="the attempt (default: the block's latest)")
    p.add_argument("--item", type=int, metavar="N", help="item N of a forEach block (0 = first)")
    p.add_argument("-f", "--follow", action="store_true", help="follow live pods' logs")
    p.add_argument("--tail", type=int, help="the last N lines of each attempt")
    p.add_argument("--since", help="only lines newer than this (pods): 10m, 1h")

    p = add("watch", "watch", "a live table until the runs finish")
    p.add_argument(
        "run", nargs="?", metavar="RUN", help="one run (else select runs with the filters)"
    )
    listing.add_filters(p)
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="on a terminal, seconds between redraws (durations tick); changes show at once",
    )

    p = add("retry", "actions", "retry runs in place (spec.retry)")
    _bulk(p)
    p.add_argument(
        "--from",
        dest="from_block",
        metavar="BLOCK",
        help="rerun this block and everything downstream",
    )
    p.add_argument(
        "--current-pipeline", action="store_true", help="re-freeze from the Pipeline as it is now"
    )

    p = add("rerun", "actions", "fresh runs with the same inputs (spec.rerunOf)")
    _bulk(p)
    p.add_argument("--current-pipeline", action="store_true", help="run the Pipeline as it is now")

    p = add("cancel", "actions", "cancel runs (spec.cancel)")
    _bulk(p)
    p.add_argument(
        "--skip-finally",
        action="store_true",
        help="do not run the Pipeline's finally blocks, stop those running (spec.skipFinally)",
    )

    p = add("delete", "actions", "delete runs (the archive keeps them)")
    _bulk(p)
    p.add_argument(
        "--older-than", metavar="AGE", help="only runs finished longer ago than this: 7d"
    )
    p.add_argument("--keep", type=int, metavar="N", help="keep each pipeline's N newest runs")

    p = add("export", "export", "the runs table as CSV or JSON, archive included")
    listing.add_filters(p)
    _output(p, ["csv", "json"], default="csv")
    p.add_argument("--file", metavar="F", help="write here instead of stdout")

    p = add("trigger", "trigger", "run, suspend, resume a Trigger, or show its next fires")
    p.add_argument(
        "trigger_command",
        choices=["run", "suspend", "resume", "next"],
        metavar="run|suspend|resume|next",
        help="what to do",
    )
    p.add_argument("name", metavar="NAME", help="the Trigger")
    p.add_argument(
        "--var", action="append", default=[], metavar="KEY=VALUE", help="trigger run: a variable"
    )
    p.add_argument("-c", "--count", type=int, default=5, help="trigger next: how many fires")
    _output(p, ["table", "json", "yaml"])


def _fix_next_count(argv: list[str]) -> list[str]:
    """`trigger next NAME -n 5` as the issue writes it: a `-n NUMBER` after `next` is the
    count, not a namespace (`-n NS` before `next` still names the namespace)."""
    if not argv or argv[0] != "trigger" or "next" not in argv:
        return argv
    start = argv.index("next")
    fixed = list(argv)
    for i in range(start + 1, len(fixed) - 1):
        if fixed[i] == "-n" and fixed[i + 1].isdigit():
            fixed[i] = "--count"
    return fixed


async def _connected(command: Command, args: argparse.Namespace) -> int:
    from runwright.cli.plugin.client import Cluster, Target

    target = Target(args.kubeconfig, args.context, args.namespace, args.all_namespaces)
    async with await Cluster.connect(target) as cluster:
        return await command(args, cluster)


def dispatch(module: str, args: argparse.Namespace) -> int:
    """Run one command (its module is imported only now: the Kubernetes client, the
    archive's SQLAlchemy are not loaded for `--help` or another command); a PluginError
    (or bad input) is one line and its exit status."""
    command: Command = importlib.import_module(f"runwright.cli.plugin.{module}").run
    try:
        return asyncio.run(_connected(command, args))
    except PluginError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return errors.INVALID_INPUT


def build_parser() -> argparse.ArgumentParser:
    """The `kubectl runwright` parser."""
    parser = argparse.ArgumentParser(
        prog="kubectl runwright",
        description="See, follow, retry, cancel, export and clean up Runwright runs.",
        epilog="exit statuses: "
        + "; ".join(f"{code} {text}" for code, text in errors.EXIT_STATUSES),
    )
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `kubectl-runwright` console script."""
    parser = build_parser()
    args_list = _fix_next_count(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else errors.INVALID_INPUT
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return errors.INVALID_INPUT
    if args.command == "ls":
        args.command = "list"
    try:
        status: int = func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return errors.FAILED
    except Exception as exc:
        if os.environ.get("RUNWRIGHT_DEBUG"):
            raise
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} (this is a bug; "
            "RUNWRIGHT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return errors.INTERNAL_ERROR
    return status


if __name__ == "__main__":
    sys.exit(main())
