"""The `runwright` command: argument parsing, dispatch, and the one place errors become exits.

Bad input never shows a traceback: an InputError is one line (or one line per
manifest problem) and exit status 2. An unexpected exception is a bug of ours; it is
reported in one line too, with RUNWRIGHT_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from runwright.cli import exits, operator, run, server, validate
from runwright.cli.exits import InputError
from runwright.cli.plugin import commands as plugin


def version() -> str:
    """The installed version of the runwright package."""
    try:
        return metadata.version("runwright")
    except metadata.PackageNotFoundError:
        return "unknown"


def _version_command(_args: argparse.Namespace) -> int:
    print(f"runwright {version()}")
    return exits.SUCCEEDED


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="runwright",
        description="Runwright: Kubernetes-native pipelines. Local mode runs and checks "
        "manifests on this machine.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.register(subparsers)
    validate.register(subparsers)
    operator.register(subparsers)
    plugin.register(subparsers)  # the kubectl plugin's commands: list, get, logs, retry, ...
    server.register(subparsers)
    version_parser = subparsers.add_parser("version", help="print the version")
    version_parser.set_defaults(func=_version_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else exits.INVALID_INPUT
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return exits.INVALID_INPUT
    try:
        return func(args)
    except run.ManifestErrors as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exits.INVALID_INPUT
    except InputError as exc:
        print(f"runwright: error: {exc}", file=sys.stderr)
        return exits.INVALID_INPUT
    except BrokenPipeError:
        # The reader went away (`runwright run ... | head`): not worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exits.FAILED
    except KeyboardInterrupt:
        print("runwright: interrupted", file=sys.stderr)
        return exits.CANCELLED
    except Exception as exc:
        if os.environ.get("RUNWRIGHT_DEBUG"):
            raise
        print(
            f"runwright: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug; RUNWRIGHT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return exits.INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
