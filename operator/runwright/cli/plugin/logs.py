"""`logs RUN [BLOCK [--item I]] [--attempt N] [-f] [--tail N] [--since D]`: pod, else archive.

An attempt's pod is found by the labels every executor puts on it
(runwright.dev/run, /block, /attempt), never through a Job: the Pod executor
makes no Jobs. While the pod exists its log comes from the API server; once it
is gone (the run deleted, or the pod cleaned up) from the archive, which keeps
each attempt's log tail. Without BLOCK, every attempt of every block is shown,
each line prefixed `[block/attempt]`; live pods are read with timestamps so
their lines interleave in time order.

A fan-out (forEach) block's items are attempts of their own (pods
`<run>-<block>-<item>-<attempt>`, labelled runwright.dev/item): `--item I` shows
item I's attempts (prefixed `[block/I/attempt]`), from its pods while they exist,
else from the archive, which keeps every item attempt's log tail. Without --item
only plain blocks' attempts are shown (a 5,000-item block would drown them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from runwright import labels
from runwright.archive import RunDetail, item_logs
from runwright.cli.plugin import archived, errors
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.selection import parse_age
from runwright.engine.naming import item_key


@dataclass(frozen=True)
class Source:
    """Where one attempt's log is: a pod (by name) or the archive's text."""

    block: str
    attempt: int
    pod: str | None = None
    text: str | None = None

    @property
    def prefix(self) -> str:
        """`[block/attempt] `: which attempt a line came from."""
        return f"[{self.block}/{self.attempt}] "


def attempt_of(pod: dict[str, Any]) -> tuple[str, int] | None:
    """(block, attempt) from a pod's labels; None for a pod that is not a block attempt.

    A fan-out item's pod is `(block/item, attempt)`: the item's own attempt chain.
    """
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    block, attempt = pod_labels.get(labels.BLOCK), pod_labels.get(labels.ATTEMPT)
    if not block or not str(attempt or "").isdigit():
        return None
    item = str(pod_labels.get(labels.ITEM) or "")
    key = item_key(str(block), int(item)) if item.isdigit() else str(block)
    return key, int(str(attempt))


def choose(
    available: Sequence[tuple[str, int]], block: str | None, attempt: int | None
) -> list[tuple[str, int]]:
    """Which attempts to show (PURE): one block's chosen attempt (default its latest), or
    every attempt of every block when no block is named."""
    if block is None:
        return sorted(set(available))
    mine = sorted(a for b, a in set(available) if b == block)
    if attempt is not None:
        return [(block, attempt)] if attempt in mine else []
    return [(block, mine[-1])] if mine else []


def split_timestamp(line: str) -> tuple[str, str]:
    """A `timestamps=true` log line as (RFC 3339 time, text)."""
    stamp, _, text = line.partition(" ")
    return stamp, text


async def _pod_lines(
    cluster: Cluster, namespace: str, source: Source, args: argparse.Namespace, stamps: bool
) -> list[tuple[str, str]]:
    lines = []
    async for line in cluster.pod_log(
        namespace, source.pod or "", tail=args.tail, since_seconds=_since(args), timestamps=stamps
    ):
        stamp, text = split_timestamp(line) if stamps else ("", line)
        lines.append((stamp, source.prefix + text))
    return lines


def _since(args: argparse.Namespace) -> int | None:
    return int(parse_age(args.since, "--since").total_seconds()) if args.since else None


def _archive_lines(source: Source, tail: int | None) -> list[str]:
    lines = (source.text or "").splitlines()
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return [source.prefix + line for line in lines]


async def _follow(
    cluster: Cluster, namespace: str, sources: list[Source], args: argparse.Namespace
) -> None:
    """Print every pod's lines as they come until each log ends (its pod finished)."""

    async def one(source: Source) -> None:
        async for line in cluster.pod_log(
            namespace, source.pod or "", follow=True, tail=args.tail, since_seconds=_since(args)
        ):
            print(source.prefix + line, flush=True)

    await asyncio.gather(*(one(s) for s in sources))


async def _archived(
    cluster: Cluster, name: str, archive: str | None, block: str | None, item: int | None
) -> tuple[RunDetail | None, dict[tuple[str, int], str]]:
    """The archived run and its stored logs by (block, attempt): plain blocks' logs, or
    with `item` that item's attempts' (keyed `block/item`)."""
    engine = archived.open_engine(archive, required=False)
    if engine is None:
        return None, {}
    try:
        detail = await archived.find_run(engine, cluster.namespace, name)
        if detail is None:
            return None, {}
        if item is None or block is None:
            return detail, {(log.block, log.attempt): log.text for log in detail.logs}
        try:
            found = await item_logs(engine, detail.run.uid, block, item)
        except SQLAlchemyError as exc:
            raise archived.unreachable(exc) from None
        return detail, {(item_key(block, item), log.attempt): log.text for log in found}
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """`logs`: print the chosen attempts' logs; not found when none has a log anywhere."""
    ns, name = cluster.namespace, args.run
    item: int | None = getattr(args, "item", None)
    if item is not None and args.block is None:
        raise PluginError("--item needs BLOCK: logs RUN BLOCK --item N", errors.INVALID_INPUT)
    shown = item_key(args.block, item) if item is not None else args.block
    body = await cluster.get_run(name)
    pods: dict[tuple[str, int], str] = {}
    if body is not None:
        for pod in await cluster.attempt_pods(ns, name):
            key = attempt_of(pod)
            # Items only when one is asked for: a plain listing stays the blocks'.
            if key is not None and (key[0] == shown or "/" not in key[0]):
                pods[key] = str(pod["metadata"]["name"])
    detail, stored = await _archived(cluster, name, args.archive, args.block, item)
    if body is None and detail is None:
        where = (
            "nor in the archive"
            if archived.archive_location(args.archive)
            else (f"(and no archive to look in: pass --archive URL or set {archived.ENV})")
        )
        raise PluginError(
            f"pipelinerun {ns}/{name} not found in the cluster {where}", errors.NOT_FOUND
        )
    chosen = choose([*pods, *stored], shown, args.attempt)
    if not chosen:
        what = f"block {args.block}" + (f" item {item}" if item is not None else "")
        what += f" attempt {args.attempt}" if args.attempt else ""
        if args.block is None:
            what = "any block"
        elif item is None and _is_fan_out(body, args.block):
            what += " (a forEach block: name an item with --item N)"
        archive = (
            "nothing archived"
            if archived.archive_location(args.archive)
            else f"no archive to look in: pass --archive URL or set {archived.ENV}"
        )
        raise PluginError(
            f"pipelinerun {ns}/{name}: no log of {what} (no pod left, {archive})",
            errors.NOT_FOUND,
        )
    sources = [Source(b, a, pod=pods.get((b, a)), text=stored.get((b, a))) for b, a in chosen]
    live = [s for s in sources if s.pod is not None]
    if args.follow and live:
        for source in sources:
            if source.pod is None:
                print("\n".join(_archive_lines(source, args.tail)), flush=True)
        await _follow(cluster, ns, live, args)
        return 0
    stamps = len(sources) > 1
    timed: list[tuple[str, str]] = []
    failures = []
    for source in sources:
        if source.pod is not None:
            try:
                timed.extend(await _pod_lines(cluster, ns, source, args, stamps))
                continue
            except PluginError as exc:
                if exc.status == errors.FORBIDDEN or source.text is None:
                    failures.append(f"{source.prefix}{exc}")
                    continue
        timed.extend(("", line) for line in _archive_lines(source, args.tail))
    # Archived lines carry no time: they keep their attempt order, before the live ones.
    timed.sort(key=lambda item: item[0]) if stamps else None
    for _, line in timed:
        sys.stdout.write(line + "\n")
    for failure in failures:
        print(f"kubectl-runwright: {failure}", file=sys.stderr)
    return errors.FAILED if failures else 0


def _is_fan_out(body: dict[str, Any] | None, block: str) -> bool:
    """The live run says the block is a forEach block (its status has items)."""
    state = (((body or {}).get("status") or {}).get("blocks") or {}).get(block) or {}
    return state.get("items") is not None


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)
