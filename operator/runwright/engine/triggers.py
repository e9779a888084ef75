"""Trigger validation: the config block must match the type, and the schedule must be sound.

The CRD says the same with CEL rules at `kubectl apply` time; this is the copy that
`runwright validate` and the operator use, with messages that say how to fix it.
"""

from __future__ import annotations

from runwright.api.trigger import TriggerSpec, TriggerType
from runwright.engine import schedule
from runwright.engine.dag import Problem

#: The config field each trigger type needs (AlwaysOn needs none; Once's is optional).
CONFIG_FIELD: dict[TriggerType, str] = {
    TriggerType.SCHEDULE: "schedule",
    TriggerType.ONCE: "once",
    TriggerType.EVENT: "event",
    TriggerType.API: "api",
}
_EXAMPLE = {
    "schedule": 'schedule: {cron: "0 2 * * *"}',
    "event": "event: {pipelineRef: {name: upstream-load}}",
    "api": "api: {tokenSecretRef: {name: my-token}}",
}


def validate_config(spec: TriggerSpec) -> list[Problem]:
    """A trigger carries exactly the one config block its type needs."""
    problems: list[Problem] = []
    wanted = CONFIG_FIELD.get(spec.type)
    for name in ("schedule", "once", "event", "api"):
        present = getattr(spec, name) is not None
        if name == wanted and not present and name != "once":
            problems.append(
                Problem(
                    f"spec.{name}",
                    f"is required when spec.type is {spec.type}; add {_EXAMPLE[name]}",
                    "MissingConfig",
                )
            )
        elif name != wanted and present:
            owner = next(t for t, f in CONFIG_FIELD.items() if f == name)
            problems.append(
                Problem(
                    f"spec.{name}",
                    f"is only allowed when spec.type is {owner} (spec.type is {spec.type}); "
                    f"remove it or change spec.type",
                    "UnexpectedConfig",
                )
            )
    return problems


def validate(spec: TriggerSpec) -> list[Problem]:
    """Every problem of a trigger spec that needs no cluster to find."""
    return validate_config(spec) + schedule.validate(spec)
