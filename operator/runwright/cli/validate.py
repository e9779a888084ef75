"""`runwright validate FILE...`: every check the operator makes, without a cluster."""

from __future__ import annotations

import argparse
import sys

from runwright.cli import exits
from runwright.manifests import load_files


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `validate` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check manifests (schema, DAG, templates, cron, time zones) without running them",
        description="Check Pipeline, Trigger and PipelineRun manifests. Prints an ok line per "
        "valid resource, a skipped line per object of another kind (a Secret, a ConfigMap), "
        "and one line per problem (schema, DAG and templates, all in one pass); exit status "
        "0 when all are valid, else 2.",
    )
    parser.add_argument("files", metavar="FILE", nargs="+", help="YAML files to check")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Print `ok:` lines for valid resources and one line per problem."""
    loaded = load_files(args.files)
    for manifest in loaded.manifests:
        print(f"ok: {manifest.source}: {manifest.display}")
    for skipped in loaded.skipped:
        print(f"skipped: {skipped}")
    for problem in loaded.problems:
        print(problem, file=sys.stderr)
    return exits.SUCCEEDED if loaded.ok else exits.INVALID_INPUT
