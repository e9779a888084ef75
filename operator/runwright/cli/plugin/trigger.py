"""`trigger run|suspend|resume|next NAME`: act on a Trigger the way the operator reads it.

- run: a manual run with the trigger's variables (and `--var K=V` over them), made
  by the same `run_manifest` the operator uses for its own fires, triggeredBy Manual;
- suspend / resume: `spec.suspend` true / false;
- next: the upcoming fire times of a Schedule trigger (engine/schedule.py's cron
  math), in the trigger's zone and in UTC.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from runwright.api.common import format_time
from runwright.api.run import TriggeredBy
from runwright.api.trigger import TriggerSpec, TriggerType
from runwright.cli.plugin import errors, output
from runwright.cli.plugin.client import RUNS, TRIGGERS, Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.engine import schedule
from runwright.engine.trigger_model import run_manifest


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """`--var KEY=VALUE` pairs as a dict; a pair without `=` is invalid input."""
    variables = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PluginError(f"--var {pair!r}: write KEY=VALUE", errors.INVALID_INPUT)
        variables[key] = value
    return variables


def spec_of(name: str, body: dict[str, object]) -> TriggerSpec:
    """The trigger's spec as the operator reads it."""
    try:
        return TriggerSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        raise PluginError(
            f"trigger {name}: spec not understood ({exc.errors()[0]['msg']})", errors.FAILED
        ) from None


def upcoming(spec: TriggerSpec, now: datetime, count: int) -> list[datetime]:
    """The next `count` fires after `now` (UTC); empty for a type without a schedule."""
    if spec.type != TriggerType.SCHEDULE or spec.schedule is None:
        return []
    return schedule.fires_between(spec.schedule, now, None, count)


def next_lines(spec: TriggerSpec, fires: list[datetime]) -> list[str]:
    """Each fire in the trigger's zone and in UTC, e.g. `2026-12-01 03:00 CET  2026-12-01T02:00:00Z`."""
    assert spec.schedule is not None
    zone = ZoneInfo(spec.schedule.timezone)
    return [
        f"{fire.astimezone(zone).strftime('%Y-%m-%d %H:%M %Z')}  {format_time(fire)}"
        for fire in fires
    ]


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """Dispatch the trigger subcommand."""
    ns, name = cluster.namespace, args.name
    body = await cluster.get_trigger(name)
    action = args.trigger_command
    if action in ("suspend", "resume"):
        await cluster.patch(TRIGGERS, ns, name, {"spec": {"suspend": action == "suspend"}})
        print(f"trigger/{name} {'suspended' if action == 'suspend' else 'resumed'}")
        return 0
    spec = spec_of(name, body)
    now = datetime.now(UTC)
    if action == "run":
        manifest = run_manifest(name, spec, None, now, TriggeredBy.MANUAL, parse_vars(args.var), ns)
        created = await cluster.create(RUNS, ns, manifest)
        print(f"pipelinerun/{created['metadata']['name']} created")
        return 0
    if spec.type != TriggerType.SCHEDULE or spec.schedule is None:
        raise PluginError(
            f"trigger {name} is of type {spec.type}: only a Schedule trigger has fire times",
            errors.INVALID_INPUT,
        )
    fires = upcoming(spec, now, args.count)
    if args.output in ("json", "yaml"):
        data = {
            "trigger": name,
            "timezone": spec.schedule.timezone,
            "suspended": spec.suspend,
            "fires": [
                {
                    "utc": format_time(f),
                    "local": f.astimezone(ZoneInfo(spec.schedule.timezone)).isoformat(),
                }
                for f in fires
            ],
        }
        sys.stdout.write(output.dump(data, output.Format(args.output)))
        return 0
    header = f"trigger/{name}: cron {spec.schedule.cron!r} in {spec.schedule.timezone}"
    if spec.suspend:
        header += " (suspended: none of these fires makes a run until resumed)"
    print(header)
    print("\n".join(next_lines(spec, fires)) or "no upcoming fires (the schedule has ended)")
    return 0
