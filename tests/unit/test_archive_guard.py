"""Issue 12: with an archive configured, retention and history limits wait for it (pure engine).

The operator passes the archive's confirmation in (PlanInput.archive_pending,
TriggerRun.archived); the decisions themselves stay in the engine.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from runwright.api.trigger import RunPhase
from runwright.engine.plan import PlanInput, plan
from runwright.engine.trigger_model import TriggerRun
from runwright.engine.trigger_policy import beyond_history
from tests.unit.sim import T0, Sim, spec


def _finished_input(archive_pending: bool) -> tuple[PlanInput, datetime]:
    sim = Sim(spec("retention: {succeededSeconds: 60}\nblocks: [{name: a, command: [x]}]"))
    status = sim.run()
    assert status.completed_at is not None
    expires = status.completed_at + timedelta(seconds=60)
    inp = PlanInput(
        run_name="r",
        spec=sim.spec,
        status=status,
        now=expires,
        created_at=T0,
        pipeline=sim.pipeline,
        observed=sim.observed(),
        archive_pending=archive_pending,
    )
    return inp, expires


def test_retention_keeps_a_run_the_archive_has_not_confirmed() -> None:
    inp, _ = _finished_input(archive_pending=True)
    kept = plan(inp)
    assert not kept.delete
    # Once confirmed (the confirmation wakes the run), the same plan deletes it.
    assert plan(dataclasses.replace(inp, archive_pending=False)).delete


def test_history_limits_keep_unarchived_runs_and_still_count_them() -> None:
    day = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    runs = [
        TriggerRun("old", RunPhase.SUCCEEDED, day[0], completed_at=day[0], archived=False),
        TriggerRun("mid", RunPhase.SUCCEEDED, day[1], completed_at=day[1]),
        TriggerRun("new", RunPhase.SUCCEEDED, day[2], completed_at=day[2]),
    ]
    assert [d.name for d in beyond_history(runs, successful_limit=1, failed_limit=None)] == ["mid"]
    assert [d.name for d in beyond_history(runs, successful_limit=2, failed_limit=None)] == []
