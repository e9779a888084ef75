"""`retry`, `rerun`, `cancel`, `delete`: on one run, a list, `-l SEL`, `--all-failed`, `--all-running`.

Each action uses the API exactly as the operator reads it (API.md):
- retry: a merge patch of `spec.retry` with a new `id` (mode Incomplete, or
  FromBlock with `--from`; `pipelineSpec: Current` with `--current-pipeline`),
  conditional on the resourceVersion read, so two users retrying at once get one
  retry and one clear conflict;
- rerun: a new PipelineRun with `spec.rerunOf` (same inputs, a fresh run);
- cancel: `spec.cancel: true` (and `spec.skipFinally: true` with `--skip-finally`);
- delete: the PipelineRun (its Jobs and pods are owned by it and go with it).

Bulk actions list what they will touch and ask once (`--yes` skips, `--dry-run`
only shows), then print a line per run and a summary. Some runs failing is exit
status 1, with each failure named. `plan` is pure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from runwright import labels
from runwright.cli.plugin import errors
from runwright.cli.plugin.client import RUNS, Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.listing import cluster_rows, selection_of
from runwright.cli.plugin.rows import RunRow, from_body
from runwright.cli.plugin.selection import parse_age

#: Requests in flight at once during a bulk action (a polite client).
CONCURRENCY = 8
ACTIVE = ("Pending", "Queued", "Running")


class Verb(StrEnum):
    """The four actions."""

    RETRY = "retry"
    RERUN = "rerun"
    CANCEL = "cancel"
    DELETE = "delete"


PAST = {
    Verb.RETRY: "retried",
    Verb.RERUN: "rerun",
    Verb.CANCEL: "cancel requested",
    Verb.DELETE: "deleted",
}


@dataclass(frozen=True)
class Skip:
    """A selected run the action does not apply to, and why (not a failure)."""

    row: RunRow
    why: str


@dataclass(frozen=True)
class Plan:
    """The runs to act on, and the ones skipped with their reason."""

    act: list[RunRow]
    skip: list[Skip]


def plan(
    verb: Verb,
    rows: Sequence[RunRow],
    *,
    now: datetime,
    older_than: float | None = None,
    keep: int | None = None,
) -> Plan:
    """Which selected runs the action applies to (PURE).

    retry: finished runs (the operator refuses a retry of an active run). cancel:
    active runs. delete: `--older-than` keeps runs finished more recently (and
    every active run); `--keep N` keeps each pipeline's N newest runs.
    """
    act: list[RunRow] = []
    skip: list[Skip] = []
    kept: set[tuple[str, str]] = set()
    if verb == Verb.DELETE and keep is not None:
        by_pipeline: dict[tuple[str, str], list[RunRow]] = {}
        for row in rows:
            by_pipeline.setdefault((row.namespace, row.pipeline), []).append(row)
        for group in by_pipeline.values():
            group.sort(key=lambda r: r.created or r.started or now, reverse=True)
            kept.update(r.key for r in group[:keep])
    for row in rows:
        why = _why_not(verb, row, now, older_than)
        if why is None and row.key in kept:
            why = f"among the {keep} newest runs of pipeline {row.pipeline} (--keep)"
        if why is None:
            act.append(row)
        else:
            skip.append(Skip(row, why))
    return Plan(act, skip)


def _why_not(verb: Verb, row: RunRow, now: datetime, older_than: float | None) -> str | None:
    if row.archived:
        return "only in the archive (no PipelineRun to act on)"
    if verb == Verb.RETRY and not row.finished:
        return f"still {row.phase}: only a finished run can be retried (cancel it first)"
    if verb == Verb.CANCEL and row.finished:
        return f"already {row.phase}"
    if verb == Verb.DELETE and older_than is not None:
        if not row.finished or row.completed is None:
            return f"still {row.phase} (--older-than deletes finished runs only)"
        if (now - row.completed).total_seconds() < older_than:
            return "finished too recently for --older-than"
    return None


def next_retry_id(body: dict[str, Any]) -> str:
    """A retry id the run has not seen: one more than the largest numeric id so far."""
    seen = [
        str(((body.get("spec") or {}).get("retry") or {}).get("id") or ""),
        str((body.get("status") or {}).get("retryId") or ""),
    ]
    numbers = [int(s) for s in seen if s.isdigit()]
    candidate = (max(numbers) + 1) if numbers else 1
    while str(candidate) in seen:
        candidate += 1
    return str(candidate)


def retry_patch(body: dict[str, Any], from_block: str | None, current: bool) -> dict[str, Any]:
    """The merge patch of one in-place retry request (conditional on resourceVersion)."""
    blocks = (body.get("status") or {}).get("blocks") or {}
    if from_block is not None and from_block not in blocks:
        known = ", ".join(sorted(blocks)) or "none"
        raise PluginError(
            f"--from {from_block}: no such block in this run (blocks: {known})",
            errors.INVALID_INPUT,
        )
    request: dict[str, Any] = {
        "id": next_retry_id(body),
        "mode": "FromBlock" if from_block else "Incomplete",
        "fromBlock": from_block,  # None deletes an earlier request's block
        "pipelineSpec": "Current" if current else "Frozen",
    }
    return {
        "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
        "spec": {"retry": request},
    }


def rerun_manifest(row: RunRow, current: bool) -> dict[str, Any]:
    """A fresh PipelineRun repeating `row`'s inputs (spec.rerunOf)."""
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{row.pipeline}-", "namespace": row.namespace},
        "spec": {
            "pipelineRef": {"name": row.pipeline},
            "rerunOf": {"name": row.name, "pipelineSpec": "Current" if current else "Frozen"},
        },
    }


async def _act(cluster: Cluster, verb: Verb, row: RunRow, args: argparse.Namespace) -> str:
    """Do the action on one run; the line to print on success."""
    ns, name = row.namespace, row.name
    if verb == Verb.RETRY:
        body = await cluster.get_run(name, ns)
        if body is None:
            raise PluginError("deleted meanwhile", errors.NOT_FOUND)
        patch = retry_patch(body, args.from_block, args.current_pipeline)
        await cluster.patch(RUNS, ns, name, patch)
        return f"retry id {patch['spec']['retry']['id']}"
    if verb == Verb.RERUN:
        created = await cluster.create(RUNS, ns, rerun_manifest(row, args.current_pipeline))
        return f"as pipelinerun/{created['metadata']['name']}"
    if verb == Verb.CANCEL:
        cancel: dict[str, bool] = {"cancel": True}
        if getattr(args, "skip_finally", False):
            cancel["skipFinally"] = True
        await cluster.patch(RUNS, ns, name, {"spec": cancel})
        return ""
    await cluster.delete(RUNS, ns, name)
    return ""


async def targets(
    cluster: Cluster, args: argparse.Namespace, now: datetime
) -> tuple[list[RunRow], list[tuple[str, str]]]:
    """The selected runs, and the named runs that do not exist (name, why)."""
    if args.runs:
        rows, missing = [], []
        for name in args.runs:
            body = await cluster.get_run(name)
            if body is None:
                missing.append((name, f"pipelinerun {cluster.namespace}/{name} not found"))
            else:
                rows.append(from_body(body))
        return rows, missing
    selection = selection_of(args, now)
    if args.all_failed:
        selection = dataclasses.replace(selection, phases=("Failed",))
    if args.all_running:
        selection = dataclasses.replace(selection, phases=ACTIVE)
    given = (args.phase, args.pipeline, args.trigger, args.by, args.since, args.until)
    if not any((*given, args.selector, args.search, args.all_failed, args.all_running)):
        raise PluginError(
            "name the runs, or select them: -l SELECTOR, --all-failed, --all-running, "
            "--phase, --pipeline, ...",
            errors.INVALID_INPUT,
        )
    return await cluster_rows(cluster, selection), []


def confirm(verb: Verb, count: int) -> bool:
    """Ask once on the terminal; without one, the user must say --yes."""
    if not sys.stdin.isatty():
        raise PluginError(
            f"{verb} of {count} runs needs confirmation: pass --yes (or --dry-run to only see them)",
            errors.INVALID_INPUT,
        )
    answer = input(f"{verb.capitalize()} these {count} runs? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """One action over the selected runs: a line per run, a summary, exit 1 on any failure."""
    verb = Verb(args.plugin_command)
    now = datetime.now(UTC)
    rows, missing = await targets(cluster, args, now)
    older = (
        parse_age(args.older_than, "--older-than").total_seconds()
        if getattr(args, "older_than", None)
        else None
    )
    chosen = plan(verb, rows, now=now, older_than=older, keep=getattr(args, "keep", None))
    bulk = not args.runs or len(args.runs) > 1
    for skip in chosen.skip:
        print(f"pipelinerun/{skip.row.name} skipped: {skip.why}")
    if not chosen.act:
        for name, why in missing:
            print(f"pipelinerun/{name} failed: {why}")
        print(f"nothing to {verb}" + (f"; {len(missing)} not found" if missing else ""))
        return errors.NOT_FOUND if missing and not rows else (errors.FAILED if missing else 0)
    if bulk or args.dry_run:
        print(f"will {verb} {len(chosen.act)} run{'s' if len(chosen.act) != 1 else ''}:")
        for row in chosen.act:
            print(f"  {row.namespace}/{row.name}  {row.phase}")
    if args.dry_run:
        print("dry run: nothing changed")
        return 0
    if bulk and not args.yes and not confirm(verb, len(chosen.act)):
        print("nothing changed")
        return 0
    outcomes = await _run_all(cluster, verb, chosen.act, args)
    failed = [(name, why) for name, why in missing]
    statuses = []
    for row, (ok, text, status) in zip(chosen.act, outcomes, strict=True):
        if ok:
            print(f"pipelinerun/{row.name} {PAST[verb]}" + (f" ({text})" if text else ""))
        else:
            print(f"pipelinerun/{row.name} failed: {text}")
            failed.append((row.name, text))
            statuses.append(status)
    done = len(chosen.act) - len(statuses)
    summary = f"{PAST[verb]} {done} of {len(chosen.act) + len(missing)}"
    if chosen.skip:
        summary += f", {len(chosen.skip)} skipped"
    if failed:
        summary += f"; failed: {', '.join(name for name, _ in failed)}"
    print(summary)
    if not failed:
        return 0
    if done == 0 and len(set(statuses)) == 1 and not missing:
        return statuses[0]  # every run refused the same way (e.g. 5: forbidden)
    return errors.FAILED


async def _run_all(
    cluster: Cluster, verb: Verb, rows: Sequence[RunRow], args: argparse.Namespace
) -> list[tuple[bool, str, int]]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: RunRow) -> tuple[bool, str, int]:
        async with gate:
            try:
                return True, await _act(cluster, verb, row, args), 0
            except PluginError as exc:
                return False, str(exc), exc.status

    tasks: list[Awaitable[tuple[bool, str, int]]] = [one(row) for row in rows]
    return list(await asyncio.gather(*tasks))
