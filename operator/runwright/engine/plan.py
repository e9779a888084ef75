"""The run planner: (run, observed attempts, now, budgets) -> (new status, actions, wake time).

This is Runwright's reconcile function made pure. Both executors (Kubernetes Jobs and
local processes) call it the same way: gather what exists, call `plan`, carry out the
actions, persist `Plan.status`, and call again when something changes or at
`Plan.wake_at`. It never reads a clock or does I/O, so every rule in API.md is a unit
test, and calling it twice with the same inputs gives the same answer (what makes a
crash between "act" and "write status" harmless).

Who decides what:
- `run_model`: the inputs and outputs below, and the working state of one call;
- `run_lifecycle`: the run's own phases (start, admission, cancel, in-place retry,
  SLA, timeout, completion, retention);
- `block_states`: what happens to a block when an attempt ends or an upstream settles;
- `block_start`: which ready blocks start within the limits, and each start's intent;
- `reasons`: every reason, Event reason and condition these write.
"""

from __future__ import annotations

from runwright.api.run import TriggeredBy
from runwright.engine import run_lifecycle
from runwright.engine.block_states import block_ok, blocks_downstream, final_phase
from runwright.engine.events import Event
from runwright.engine.run_lifecycle import (
    PIPELINE_GRACE_SECONDS,
    effective_sla,
    effective_timeout,
)
from runwright.engine.run_model import (
    AttemptState,
    Observation,
    Plan,
    PlanInput,
    StartBlock,
    StopBlock,
    Work,
)


def plan(inp: PlanInput) -> Plan:
    """Decide what the run does next. Pure: same input, same output."""
    return run_lifecycle.run(Work(inp))


__all__ = [
    "PIPELINE_GRACE_SECONDS",
    "AttemptState",
    "Event",
    "Observation",
    "Plan",
    "PlanInput",
    "StartBlock",
    "StopBlock",
    "TriggeredBy",
    "block_ok",
    "blocks_downstream",
    "effective_sla",
    "effective_timeout",
    "final_phase",
    "plan",
]
