"""Triggers get the resync safety net runs have, and see completion times as stored.

A trigger acts on its runs finishing (history limits, Forbid, Event fires) when the
run controller wakes it; a lost wake must delay that work by one resync period at
most, and the resync that does it says so (a warning naming the trigger, and
runwright_resync_repairs_total{kind="Trigger"}).

Completion times: the run controller knows a run's completion to the microsecond
until it reads the run back from the API server (whole seconds). CI once kept an
older run and deleted a newer one of four finishing within the same second: the
trigger must order them as a restarted operator would, from the stored times, the
executionDate breaking the tie.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright import labels
from runwright.api.trigger import RunPhase
from runwright.controller.config import OperatorConfig
from runwright.controller.readmodel import RunState
from runwright.controller.resync import MAX_RATE
from runwright.controller.runs import RunController
from runwright.controller.triggers import TriggerController
from runwright.metrics import METRICS

T0 = datetime(2026, 11, 30, 20, 56, 21, tzinfo=UTC)
KEY = ("ns", "hl")
PERIOD = 60.0


class FakeKube:
    """Records the runs the trigger deletes; answers every other call with success."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete(self, plural: str, ns: str, name: str) -> None:
        self.deleted.append(name)

    async def create(self, plural: str, ns: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(body)

    async def patch_status(self, *args: Any) -> None:
        pass

    async def event(self, *args: Any) -> None:
        pass


def once_trigger(**spec: Any) -> dict[str, Any]:
    """A Once trigger firing a day from T0: its own wake time is far past any resync."""
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {
            "name": KEY[1],
            "namespace": KEY[0],
            "uid": "u1",
            "generation": 1,
            "creationTimestamp": "2026-11-30T20:00:00Z",
        },
        "spec": {
            "pipelineRef": {"name": "hist"},
            "type": "Once",
            "once": {"at": (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            **spec,
        },
    }


class Setup:
    def __init__(self, period: float | None = PERIOD) -> None:
        self.now = T0
        self.kube = FakeKube()
        self.runs = RunController(
            self.kube,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            OperatorConfig(resync_period=period),
            clock=lambda: self.now,
        )
        self.runs.model.put_pipeline({"metadata": {"name": "hist", "namespace": "ns"}})
        self.triggers = TriggerController(
            self.kube,  # type: ignore[arg-type]
            self.runs,
            clock=lambda: self.now,
        )
        self.triggers.bodies[KEY] = once_trigger(successfulRunsHistoryLimit=1)

    def finished(self, name: str, fire: int, completed: datetime) -> None:
        """A Succeeded run of the trigger, put in the model with no wake (a lost one)."""
        self.runs.model.runs[("ns", name)] = RunState(
            pipeline="hist",
            execution_date=T0 - timedelta(minutes=10 - fire),
            created=T0 - timedelta(seconds=5),
            phase=RunPhase.SUCCEEDED,
            completed_at=completed,
            trigger=KEY[1],
        )


def repairs() -> float:
    value: float = METRICS.resync_repairs_total.labels("Trigger")._value.get()
    return value


async def test_a_lost_wake_is_repaired_by_the_resync_which_names_the_trigger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Setup()
    # Nothing to do yet: the trigger sleeps until its resync, not until its fire.
    assert await s.triggers._reconcile_key(KEY) == T0 + timedelta(seconds=PERIOD)
    s.finished("hl-old", 1, T0)
    s.finished("hl-new", 2, T0 + timedelta(seconds=3))  # its wake is lost
    before = repairs()
    s.now = T0 + timedelta(seconds=PERIOD)
    with caplog.at_level(logging.WARNING, "runwright.resync"):
        await s.triggers._reconcile_key(KEY)
    assert s.kube.deleted == ["hl-old"]
    assert repairs() == before + 1
    assert "trigger ns/hl moved on only at its periodic resync" in caplog.text
    assert "delete hl-old (beyond successfulRunsHistoryLimit (1))" in caplog.text


async def test_a_lost_pipeline_wake_shows_as_a_status_change_at_the_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Setup()
    s.runs.model.drop_pipeline("ns", "hist")
    await s.triggers._reconcile_key(KEY)  # not Ready: the Pipeline is missing
    s.runs.model.put_pipeline({"metadata": {"name": "hist", "namespace": "ns"}})  # no wake
    before = repairs()
    s.now = T0 + timedelta(seconds=PERIOD)
    with caplog.at_level(logging.WARNING, "runwright.resync"):
        await s.triggers._reconcile_key(KEY)
    assert repairs() == before + 1
    assert "trigger ns/hl moved on only at its periodic resync (status conditions" in caplog.text


async def test_the_same_work_done_for_an_event_is_not_a_repair(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Setup()
    await s.triggers._reconcile_key(KEY)
    s.finished("hl-old", 1, T0)
    s.finished("hl-new", 2, T0 + timedelta(seconds=3))
    before = repairs()
    s.now = T0 + timedelta(seconds=5)  # woken by the run's change, before the resync
    with caplog.at_level(logging.WARNING, "runwright.resync"):
        await s.triggers._reconcile_key(KEY)
    assert s.kube.deleted == ["hl-old"]
    assert repairs() == before
    assert "periodic resync" not in caplog.text


async def test_a_quiet_resync_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup()
    await s.triggers._reconcile_key(KEY)
    before = repairs()
    s.now = T0 + timedelta(seconds=PERIOD)
    with caplog.at_level(logging.WARNING, "runwright.resync"):
        again = await s.triggers._reconcile_key(KEY)
    assert again == s.now + timedelta(seconds=PERIOD)
    assert repairs() == before
    assert "periodic resync" not in caplog.text


async def test_the_period_stretches_with_the_triggers_and_zero_turns_it_off() -> None:
    s = Setup()
    for i in range(int(MAX_RATE * PERIOD * 2) - 1):  # with KEY: twice what a period allows
        s.triggers.bodies[("ns", f"t{i}")] = once_trigger()
    assert await s.triggers._reconcile_key(KEY) == T0 + timedelta(seconds=2 * PERIOD)
    off = Setup(period=0)
    assert await off.triggers._reconcile_key(KEY) == T0 + timedelta(days=1)


async def test_runs_finishing_within_one_second_keep_the_newest_fires() -> None:
    # The CI failure's operator log: four runs finishing within 21.1 s to 21.7 s, the
    # third read back from the API server (whole seconds), the others not. Names run
    # against fire order here, so only the executionDate can break the tie right.
    s = Setup()
    s.triggers.bodies[KEY] = once_trigger(successfulRunsHistoryLimit=2)
    s.finished("hl-d", 1, T0 + timedelta(microseconds=138632))
    s.finished("hl-c", 2, T0 + timedelta(microseconds=327020))
    s.finished("hl-b", 3, T0)  # finished at 21.47 s, read back as 21 s
    s.finished("hl-a", 4, T0 + timedelta(microseconds=609007))
    await s.triggers.reconcile(KEY)
    assert sorted(s.kube.deleted) == ["hl-c", "hl-d"]
