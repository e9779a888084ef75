"""`runwright run FILE`: run one Pipeline on this machine and report how it ended."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console

from runwright.api.pipeline import Pipeline
from runwright.api.run import BlockPhase, PipelineRun
from runwright.api.trigger import RunPhase
from runwright.cli import exits, progress, runlogs
from runwright.cli.exits import InputError
from runwright.engine.dag import did_you_mean
from runwright.executors.localrun import local_run_name, run_pipeline
from runwright.manifests import load_files

OUTPUT_FORMATS = ("table", "json", "yaml")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run a Pipeline locally, each block as a process",
        description="Run the Pipeline in FILE on this machine with the same engine as the "
        "operator: each block's command + args as a local process (image is ignored). "
        "Exit status: 0 Succeeded, 1 Failed, 3 Cancelled, 2 invalid input.",
    )
    parser.add_argument("file", metavar="FILE", help="a YAML file with the Pipeline")
    parser.add_argument(
        "--var",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a run variable (overrides spec.variables); repeat for more",
    )
    parser.add_argument(
        "--pipeline", metavar="NAME", help="which Pipeline to run when FILE holds several"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUT_FORMATS,
        default="table",
        help="print the finished run as a summary table (default), or as the PipelineRun "
        "object in JSON or YAML",
    )
    parser.add_argument(
        "--log-dir",
        metavar="DIR",
        type=Path,
        help="where each run's block logs go, in DIR/<run>/ (default: $RUNWRIGHT_CACHE/runs, "
        "else ~/.cache/runwright/runs); the path is printed at the end",
    )
    parser.add_argument(
        "--keep-logs",
        metavar="N",
        type=_at_least_one,
        default=runlogs.KEEP_RUNS,
        help=f"keep the logs of the newest N runs in the log directory, delete older ones "
        f"(default {runlogs.KEEP_RUNS})",
    )
    parser.add_argument(
        "--archive",
        metavar="URL",
        help="also keep the finished run, every attempt and its output in this run archive "
        "(sqlite:///PATH or postgresql+asyncpg://...; see docs/archive.md)",
    )
    parser.set_defaults(func=command)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more (the run being started is kept)")
    return value


class ManifestErrors(InputError):
    """Several manifest problems, one line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def parse_variables(items: Sequence[str]) -> dict[str, str]:
    """`--var KEY=VALUE` items as a dict; a malformed one is an InputError."""
    variables: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f'--var "{item}": expected KEY=VALUE, e.g. --var env=dev')
        variables[key.strip()] = value
    return variables


def select_pipeline(path: str, wanted: str | None) -> Pipeline:
    """The one Pipeline of the file (or the one named `wanted`); problems are InputErrors."""
    loaded = load_files([path])
    if not loaded.ok:
        raise ManifestErrors([str(p) for p in loaded.problems])
    pipelines = [m for m in loaded.manifests if isinstance(m.resource, Pipeline)]
    names = [m.name for m in pipelines]
    if wanted is not None:
        for manifest in pipelines:
            if manifest.name == wanted and isinstance(manifest.resource, Pipeline):
                return manifest.resource
        listed = ", ".join(names) or "none"
        raise InputError(
            f'{path}: --pipeline "{wanted}": no such Pipeline (the file has: {listed})'
            f"{did_you_mean(wanted, names)}"
        )
    if not pipelines:
        kinds = ", ".join(m.display for m in loaded.manifests)
        raise InputError(f"{path}: has no Pipeline to run (it has: {kinds})")
    if len(pipelines) > 1:
        raise InputError(
            f"{path}: has {len(pipelines)} Pipelines ({', '.join(names)}); "
            "choose one with --pipeline NAME"
        )
    others = [m.display for m in loaded.manifests if not isinstance(m.resource, Pipeline)]
    if others:
        raise InputError(
            f"{path}: holds {', '.join(others)} besides Pipeline {names[0]}; local mode runs "
            f"one Pipeline, so pass --pipeline {names[0]} to run it anyway"
        )
    resource = pipelines[0].resource
    assert isinstance(resource, Pipeline)
    return resource


def command(args: argparse.Namespace) -> int:
    """Run the pipeline and print its outcome; the exit status says how it ended."""
    variables = parse_variables(args.var)
    if args.archive:
        from runwright.archive import archive_url

        try:
            archive_url(args.archive)
        except ValueError as exc:
            raise InputError(f"--archive: {exc}") from exc
    pipeline = select_pipeline(args.file, args.pipeline)
    # Logs are kept after the run (a failed block's full output is worth reading), in a
    # directory the user can find again; older runs' logs beyond --keep-logs go.
    run_name = local_run_name(pipeline.metadata.name or "pipeline")
    root = args.log_dir if args.log_dir is not None else runlogs.default_root()
    try:
        workdir = runlogs.new_run_dir(root, run_name)
    except OSError as exc:
        raise InputError(f"--log-dir {root}: cannot create {root / run_name}: {exc}") from exc
    runlogs.prune(root, args.keep_logs)
    view = progress.for_stream(sys.stderr)
    with view:
        run = asyncio.run(
            run_pipeline(
                pipeline,
                variables=variables,
                run_name=run_name,
                on_update=view.update,
                warn=view.warn,
                workdir=workdir,
            )
        )
    print_result(run, args.output)
    print(f"logs: {workdir}", file=sys.stderr)
    if args.archive:
        from runwright.cli.runarchive import archive_local_run

        uid = asyncio.run(archive_local_run(args.archive, run, workdir))
        print(f"archived: {run.metadata.name} (uid {uid}) in {args.archive}", file=sys.stderr)
    assert run.status is not None and run.status.phase is not None
    return exits.BY_PHASE.get(run.status.phase, exits.FAILED)


def print_result(run: PipelineRun, output: str) -> None:
    """The finished run on stdout, in the format asked for."""
    if output == "json":
        print(json.dumps(run.dump(), indent=2))
        return
    if output == "yaml":
        print(yaml.safe_dump(run.dump(), sort_keys=False), end="")
        return
    console = Console(file=sys.stdout)
    console.print(progress.run_table(run))
    status = run.status
    if status is None:
        return
    if status.metrics:
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(status.metrics.items()))
        console.print(f"metrics: {shown}")
    if status.phase != RunPhase.SUCCEEDED and status.message:
        console.print(f"{status.phase}: {status.message}", markup=False, highlight=False)
    for name, st in status.blocks.items():
        if st.phase == BlockPhase.FAILED and "\n" in st.message:
            console.print(f"--- {name} (last lines of its log)", markup=False)
            console.print(st.message, markup=False, highlight=False)
