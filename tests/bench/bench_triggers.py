"""Schedule triggers on the local control plane: lag from the scheduled time to the run.

A benchmark, not a test: it prints a table and writes bench/results/triggers.json.
Goal reported against (never asserted): p99 lag under 1 s, and no missed or doubled fire.

    python tests/bench/bench_triggers.py [--minutes 5] [--triggers 100]

Setup (the helpers are bench_operator.py's): the control plane in
RUNWRIGHT_TEST_KUBECONFIG when set, else the local one (reused when running, else
started here and stopped at the end), crds/ applied, a fresh namespace, one Pipeline of
one block whose pods succeed at once, and the operator as a SUBPROCESS scoped to the
namespace (hack/operator_process.py, the launcher the tests and the demo use). Then
--triggers Schedule triggers `* * * * *` on that Pipeline, all with the same window:
startTime the first whole minute at least 30 s away (so every trigger is planned and
asleep before it), endTime --minutes - 1 minutes later. So each trigger fires exactly
--minutes times, at known instants, and every expected run name `<trigger>-<unix
seconds>` is known in advance.

How it measures (time.time() in this process; the fire times are exact whole minutes
of the same clock, which the operator's process shares):

- fire → run seen: when the run's ADDED event arrives in the bench's own watch (what
  any client of the API would see; includes the create round trip and the watch
  delivery).
- fire → run created, as the operator observed it: its runwright_trigger_lag_seconds
  histogram (scheduled time to the create's answer), scraped from its /metrics; a
  share of fires per bucket bound, so its p50/p99 are bucket bounds, not exact.
- missed: expected names never seen; doubled: creates of runs the API server refused
  as existing (409, from runwright_kube_requests_total) and runs in the namespace that
  no fire explains.

The runs execute too (one Job each, pods that succeed at once): the trigger loops
compete with the run controller at every minute, as they would in a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_operator import (
    KUBECONFIG,
    ROOT,
    SINGLE,
    dist_ms,
    fmt,
    on_bench_cluster,
    operator_process,
    pipeline_manifest,
    report_header,
    watch_forever,
)
from kubernetes_asyncio import client, config
from prometheus_client.parser import text_string_to_metric_families

from hack.operator_process import OperatorProcess  # importable: bench_operator put ROOT on sys.path
from runwright import labels

RESULTS = ROOT / "bench" / "results" / "triggers.json"
PIPELINE = "bench-tick"
RUNS = "pipelineruns"


@dataclass
class Stamps:
    """When the bench's watch first saw each run, stamped with time.time()."""

    seen: dict[str, float] = field(default_factory=dict)


STAMPS = Stamps()


@dataclass
class OperatorFigures:
    """What the operator's /metrics says about the fires, scraped at the end."""

    lag_buckets: dict[float, float] = field(default_factory=dict)
    """runwright_trigger_lag_seconds cumulative counts by upper bound (le)."""
    fires: float = 0.0
    conflicts: float = 0.0
    """PipelineRun creates answered 409: a run of that name existed (a doubled fire)."""


def scrape(operator: OperatorProcess, namespace: str) -> OperatorFigures:
    out = OperatorFigures()
    for family in text_string_to_metric_families(operator.metrics()):
        for s in family.samples:
            if s.name == "runwright_trigger_lag_seconds_bucket":
                if s.labels.get("namespace") == namespace:
                    le = float(s.labels["le"])
                    out.lag_buckets[le] = out.lag_buckets.get(le, 0.0) + s.value
            elif s.name == "runwright_trigger_fires_total":
                if s.labels.get("namespace") == namespace:
                    out.fires += s.value
            elif s.name == "runwright_kube_requests_total" and (
                s.labels["verb"],
                s.labels["resource"],
                s.labels["code"],
            ) == ("create", RUNS, "409"):
                out.conflicts += s.value
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> float | None:
    """The smallest bucket bound (ms) under which at least a share q of fires fall."""
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return None
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le * 1000
    return None


def trigger_manifest(name: str, first: datetime, last: datetime) -> dict[str, Any]:
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {
            "pipelineRef": {"name": PIPELINE},
            "type": "Schedule",
            "schedule": {
                "cron": "* * * * *",
                "startTime": first.strftime(stamp),
                "endTime": last.strftime(stamp),
            },
        },
    }


class Seen:
    """The bench's watch of runs: stamps each run's first event, and says when all came."""

    def __init__(self) -> None:
        self.expected: set[str] = set()
        self.missing = 0
        self.all = asyncio.Event()

    def expect(self, names: set[str]) -> None:
        self.expected = names
        self.missing = len(names - set(STAMPS.seen))

    def on_run(self, _type: str, run: dict[str, Any]) -> None:
        name = run["metadata"]["name"]
        if name not in STAMPS.seen:
            STAMPS.seen[name] = time.time()
            if name in self.expected:
                self.missing -= 1
                if self.missing == 0:
                    self.all.set()


def figures(
    expected: dict[str, float], minutes: int, triggers: int, operator: OperatorFigures
) -> dict[str, Any]:
    seen = [STAMPS.seen[n] - at for n, at in expected.items() if n in STAMPS.seen]
    by_minute: dict[str, Any] = {}
    for at in sorted(set(expected.values())):
        lags = [STAMPS.seen[n] - a for n, a in expected.items() if a == at and n in STAMPS.seen]
        key = datetime.fromtimestamp(at, UTC).strftime("%H:%M")
        by_minute[key] = {"seen": len(lags), "max_ms": max(lags) * 1000 if lags else None}
    missed = sorted(set(expected) - set(STAMPS.seen))
    extra = sorted(set(STAMPS.seen) - set(expected))
    return {
        "triggers": triggers,
        "minutes": minutes,
        "fires_expected": len(expected),
        "runs_seen": len(set(STAMPS.seen) & set(expected)),
        "missed": missed,
        "doubled_409": operator.conflicts,
        "unexpected_runs": extra,
        "fire_to_run_seen_in_watch": dist_ms(seen),
        "operator_fires_counted": operator.fires,
        "operator_fire_to_created_bucket_p50_ms": bucket_quantile(operator.lag_buckets, 0.5),
        "operator_fire_to_created_bucket_p99_ms": bucket_quantile(operator.lag_buckets, 0.99),
        "operator_lag_buckets": {str(k): v for k, v in sorted(operator.lag_buckets.items())},
        "by_minute": by_minute,
    }


def print_table(report: dict[str, Any]) -> None:
    f = report["figures"]
    rows = [
        ("fires expected / runs seen", f"{f['fires_expected']}/{f['runs_seen']}"),
        ("missed fires", str(len(f["missed"]))),
        ("doubled fires (409 on create, runs no fire explains)",
         f"{fmt(f['doubled_409'])}, {len(f['unexpected_runs'])}"),
        ("fire→run seen in a watch p50 ms", fmt(f["fire_to_run_seen_in_watch"]["p50_ms"], 1)),
        ("fire→run seen in a watch p99 ms (goal <1000)", fmt(f["fire_to_run_seen_in_watch"]["p99_ms"], 1)),
        ("fire→run seen in a watch max ms", fmt(f["fire_to_run_seen_in_watch"]["max_ms"], 1)),
        ("operator's fire→created p50, bucket bound ms", fmt(f["operator_fire_to_created_bucket_p50_ms"], 0)),
        ("operator's fire→created p99, bucket bound ms", fmt(f["operator_fire_to_created_bucket_p99_ms"], 0)),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value:>12}")
    for minute, m in f["by_minute"].items():
        print(f"  fire {minute}: {m['seen']} runs, slowest {fmt(m['max_ms'], 1)} ms")
    print(f"\nreport: {RESULTS.relative_to(ROOT)}")


async def bench(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    await config.load_kube_config(config_file=str(KUBECONFIG))
    api = client.ApiClient()
    custom = client.CustomObjectsApi(api)
    operator = operator_process(namespace, args.max_concurrent_blocks, "triggers")
    seen = Seen()
    watcher = asyncio.create_task(
        watch_forever(
            custom.list_namespaced_custom_object,
            seen.on_run,
            group=labels.GROUP,
            version=labels.VERSION,
            namespace=namespace,
            plural=RUNS,
        )
    )
    # The first whole minute at least 30 s away (at most 90 s).
    first = (datetime.now(UTC) + timedelta(seconds=90)).replace(second=0, microsecond=0)
    last = first + timedelta(minutes=args.minutes - 1)
    names = [f"tick-{i:03d}" for i in range(args.triggers)]
    fires = [first + timedelta(minutes=m) for m in range(args.minutes)]
    expected = {f"{n}-{int(at.timestamp())}": at.timestamp() for n in names for at in fires}
    try:
        await custom.create_namespaced_custom_object(
            labels.GROUP,
            labels.VERSION,
            namespace,
            "pipelines",
            pipeline_manifest(PIPELINE, SINGLE),
        )
        await asyncio.to_thread(operator.start)
        for name in names:
            await custom.create_namespaced_custom_object(
                labels.GROUP,
                labels.VERSION,
                namespace,
                "triggers",
                trigger_manifest(name, first, last),
            )
        print(
            f"[bench] {args.triggers} triggers, fires {first:%H:%M} to {last:%H:%M} UTC "
            f"({len(expected)} runs expected)",
            flush=True,
        )
        seen.expect(set(expected))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.all.wait(), last.timestamp() + args.grace - time.time())
        await asyncio.sleep(2.0)  # settle: a late doubled create would land now
        counted = await asyncio.to_thread(scrape, operator, namespace)
    finally:
        await asyncio.to_thread(operator.stop)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        await api.close()
    return {
        **report_header("triggers"),
        "settings": {
            "triggers": args.triggers,
            "minutes": args.minutes,
            "cron": "* * * * *",
            "max_concurrent_blocks": args.max_concurrent_blocks,
            "operator": "subprocess (hack/operator_process.py): " + " ".join(operator.command()),
        },
        "goals": {"fire_to_run_seen_p99_ms": 1000, "missed": 0, "doubled": 0},
        "figures": figures(expected, args.minutes, args.triggers, counted),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=5, metavar="N",
                        help="fires per trigger, one a minute (default 5)")  # fmt: skip
    parser.add_argument("--triggers", type=int, default=100, metavar="N")
    parser.add_argument("--max-concurrent-blocks", type=int, default=500, metavar="N",
                        help="the operator's global block budget (default 500; 0: none)")  # fmt: skip
    parser.add_argument("--grace", type=float, default=60.0,
                        help="seconds after the last fire to wait for its runs (default 60)")  # fmt: skip
    parser.add_argument("--keep-namespace", action="store_true")
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.triggers < 1:
        parser.error("--minutes and --triggers must be at least 1")

    report = on_bench_cluster(
        "rw-bench-trg", args.keep_namespace, lambda namespace: asyncio.run(bench(args, namespace))
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
