"""A Pipeline's status: validity (the Ready condition) and what its runs are doing.

Pure: the handler passes the Pipeline body and the run summary the run controller
keeps in memory, and writes the result only when it differs from what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from runwright.api.common import Condition, ConditionStatus, RunRecord
from runwright.api.explain import explain, format_loc
from runwright.api.pipeline import Pipeline, PipelineSpec, PipelineStatus
from runwright.manifests import check


def validate_spec(raw: Mapping[str, Any]) -> tuple[PipelineSpec | None, str, str]:
    """(spec, reason, message): the parsed spec, or None with a CamelCase reason and a message."""
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        messages = [
            f"{format_loc(('spec', *err['loc']))}: {explain(err, PipelineSpec)}"
            for err in exc.errors()
        ]
        return None, "InvalidSpec", "; ".join(messages)
    problems = check(Pipeline(spec=spec))
    if problems:
        return None, problems[0].reason, problems_message([str(p) for p in problems])
    return spec, "Valid", ""


#: How many problems the Ready message lists: a 1,000-block Pipeline can have
#: thousands, and the condition must stay a readable, small part of the status.
MAX_LISTED_PROBLEMS = 10


def problems_message(problems: list[str]) -> str:
    """The problems joined, the first MAX_LISTED_PROBLEMS of them and a count of the rest."""
    listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
    rest = len(problems) - MAX_LISTED_PROBLEMS
    if rest <= 0:
        return listed
    return f"{listed}; and {rest} more (`runwright validate FILE` lists them all)"


def pipeline_status(
    body: Mapping[str, Any],
    *,
    active_runs: int,
    last_run: RunRecord | None,
    now: datetime,
    validated: tuple[PipelineSpec | None, str, str] | None = None,
) -> dict[str, Any]:
    """The status to write for a Pipeline body (merge-patch form: None deletes a field).

    `validated` is `validate_spec`'s answer when the caller has it cached already.
    """
    meta = body.get("metadata") or {}
    raw = body.get("spec") or {}
    spec, reason, message = validated if validated is not None else validate_spec(raw)
    old = PipelineStatus.model_validate(body.get("status") or {})
    ok = spec is not None
    previous = next((c for c in old.conditions if c.type == "Ready"), None)
    status_value = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    changed = previous is None or previous.status != status_value
    ready = Condition(
        type="Ready",
        status=status_value,
        reason=reason,
        message=message,
        last_transition_time=now if changed or previous is None else previous.last_transition_time,
        observed_generation=meta.get("generation"),
    )
    blocks = raw.get("blocks") if isinstance(raw, Mapping) else None
    status = PipelineStatus(
        observed_generation=meta.get("generation"),
        conditions=[*(c for c in old.conditions if c.type != "Ready"), ready],
        block_count=len(blocks) if isinstance(blocks, list) else None,
        active_runs=active_runs,
        last_run=last_run,
    )
    return status.model_dump(by_alias=True, mode="json")


def same_status(stored: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when writing `new` would change nothing (ignoring transition times)."""
    if not stored:
        return False
    current = PipelineStatus.model_validate(stored).model_dump(by_alias=True, mode="json")

    def strip(status: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(status)
        out["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            for c in status.get("conditions") or []
        ]
        return out

    return strip(current) == strip(new)
