"""A Job whose pod vanished is rechecked once, when its grace ends; never again after.

Issue 16: three one-block runs finished, the pod of one was deleted, and its run's
reconcile asked, every time, to be called again at the end of the lost pod's grace:
a time in the past once the grace had ended, so the worker reconciled it in a tight
loop (219,437 reconciles in 40 s). A finished run whose pods or Jobs disappear has
nothing left to recheck.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runwright.controller.executors import KubeRunExecutor
from runwright.engine.plan import AttemptState
from runwright.executors.contract import RunRef
from runwright.executors.job_records import POD_GRACE_SECONDS, JobRecord, PodRecord, recheck_at
from runwright.executors.kubernetes import KubernetesExecutor

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=POD_GRACE_SECONDS)
RUN = RunRef(namespace="ns", name="r", uid="u1", pipeline="p", trigger=None)


def finished_job(name: str = "r-a-1", state: AttemptState = AttemptState.SUCCEEDED) -> JobRecord:
    return JobRecord(
        namespace="ns",
        run="r",
        block="a",
        attempt=1,
        name=name,
        state=state,
        started_at=T0 - timedelta(seconds=5),
        finished_at=T0,
        owner_uid="u1",
    )


def test_a_grace_that_ended_is_no_reason_to_recheck() -> None:
    jobs = [finished_job()]
    assert recheck_at(jobs, {}, now=T0 + timedelta(seconds=1)) == T0 + GRACE
    # Before the fix: T0 + GRACE, in the past, forever.
    assert recheck_at(jobs, {}, now=T0 + GRACE) is None
    assert recheck_at(jobs, {}, now=T0 + timedelta(hours=3)) is None


def test_the_earliest_pending_grace_wins_and_ended_ones_are_skipped() -> None:
    old = finished_job("r-a-1")
    new = JobRecord(**{**old.__dict__, "name": "r-b-1", "block": "b", "finished_at": T0 + GRACE})
    assert recheck_at([old, new], {}, now=T0 + GRACE) == T0 + 2 * GRACE


def test_a_terminated_pod_needs_no_recheck() -> None:
    pod = PodRecord(
        namespace="ns", job="r-a-1", exit_code=0, reason="", message="", terminated=True
    )
    assert recheck_at([finished_job()], {"r-a-1": pod}, now=T0) is None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def executor(clock: Clock, jobs: list[JobRecord]) -> KubeRunExecutor:
    return KubeRunExecutor(
        KubernetesExecutor(None),  # type: ignore[arg-type]  # no write in these tests
        lambda ns, run: list(jobs),
        lambda ns, job: [],
        clock=clock,
    )


def test_a_run_whose_pod_vanished_is_judged_then_left_alone() -> None:
    clock = Clock(T0 + timedelta(seconds=1))
    ex = executor(clock, [finished_job()])
    assert ex.observe(RUN)["a"].state == AttemptState.RUNNING  # the pod event may be late
    assert ex.recheck_at(RUN) == T0 + GRACE
    clock.now = T0 + GRACE
    assert ex.observe(RUN)["a"].state == AttemptState.SUCCEEDED  # judged from the Job
    assert ex.recheck_at(RUN) is None
    clock.now = T0 + timedelta(hours=1)
    ex.observe(RUN)
    assert ex.recheck_at(RUN) is None


def test_the_recheck_uses_the_observation_time_not_a_later_one() -> None:
    clock = Clock(T0 + GRACE - timedelta(milliseconds=1))
    ex = executor(clock, [finished_job()])
    assert ex.observe(RUN)["a"].state == AttemptState.RUNNING
    clock.now = T0 + GRACE  # the grace ends between observe() and recheck_at()
    assert ex.recheck_at(RUN) == T0 + GRACE  # still rechecked: the Running must be judged
