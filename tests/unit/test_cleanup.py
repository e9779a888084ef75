"""A finished run's Jobs are deleted after the archive hook saw each attempt."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from runwright.controller.cleanup import ExpiredPods, FinishedJobs, NotArchivedYet
from runwright.engine.plan import AttemptState
from runwright.executors.contract import RunRef
from runwright.executors.job_records import JobRecord, PodRecord
from runwright.executors.pod_records import AttemptPod

RUN = RunRef("ns", "r", "uid", "p", None)


def job(name: str, state: AttemptState) -> JobRecord:
    return JobRecord("ns", "r", name, 1, name, state)


async def test_finished_jobs_are_archived_then_deleted_and_running_ones_left() -> None:
    jobs = [job("a", AttemptState.SUCCEEDED), job("b", AttemptState.RUNNING)]
    events: list[str] = []

    async def delete(namespace: str, name: str) -> None:
        events.append(f"delete {namespace}/{name}")

    async def archive(run: RunRef, name: str) -> None:
        events.append(f"archive {run.name}/{name}")

    cleanup = FinishedJobs(lambda _ns, _run: jobs, delete, archive)
    assert await cleanup.clean(RUN) == 1
    assert events == ["archive r/a", "delete ns/a"]


async def test_a_failing_archive_keeps_the_job() -> None:
    deleted: list[str] = []

    async def delete(_namespace: str, name: str) -> None:
        deleted.append(name)

    async def archive(_run: RunRef, _name: str) -> None:
        raise OSError("archive down")

    cleanup = FinishedJobs(lambda _ns, _run: [job("a", AttemptState.FAILED)], delete, archive)
    assert await cleanup.clean(RUN) == 0
    assert deleted == []


async def test_a_run_not_archived_yet_keeps_its_jobs_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The operator's hook: no delete before the archive confirmed the run, no traceback."""
    deleted: list[str] = []

    async def delete(_namespace: str, name: str) -> None:
        deleted.append(name)

    async def not_yet(run: RunRef, _name: str) -> None:
        raise NotArchivedYet(f"run {run.namespace}/{run.name} is not archived yet")

    cleanup = FinishedJobs(lambda _ns, _run: [job("a", AttemptState.SUCCEEDED)], delete, not_yet)
    with caplog.at_level(logging.INFO, logger="runwright.cleanup"):
        assert await cleanup.clean(RUN) == 0
    assert deleted == []
    assert "not archived yet" in caplog.text and "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


def attempt_pod(name: str, terminated: bool) -> AttemptPod:
    record = PodRecord("ns", "", 0 if terminated else None, "", "", terminated)
    return AttemptPod("r", name, 1, name, record)


async def test_the_pod_executors_finished_pods_are_deleted_and_running_ones_left() -> None:
    """Pods of the Pod executor have no Job and no TTL: the operator deletes them."""
    events: list[str] = []

    async def delete_pod(namespace: str, name: str) -> None:
        events.append(f"delete pod {namespace}/{name}")

    async def delete_job(namespace: str, name: str) -> None:
        events.append(f"delete job {namespace}/{name}")

    async def archive(run: RunRef, name: str) -> None:
        events.append(f"archive {run.name}/{name}")

    pods = [attempt_pod("a", terminated=True), attempt_pod("b", terminated=False)]
    cleanup = FinishedJobs(
        lambda _ns, _run: [],
        delete_job,
        archive,
        pods_of=lambda _ns, _run: pods,
        delete_pod=delete_pod,
    )
    assert await cleanup.clean(RUN) == 1
    assert events == ["archive r/a", "delete pod ns/a"]


async def test_a_job_whose_pod_terminated_is_finished_before_its_condition() -> None:
    """The operator judges an attempt from its pod, so the run can finish while the Job
    controller has not yet written the Job's condition: that Job is deleted too."""
    deleted: list[str] = []

    async def delete(_namespace: str, name: str) -> None:
        deleted.append(name)

    done = PodRecord("ns", "a", 0, "", "", True)
    cleanup = FinishedJobs(
        lambda _ns, _run: [job("a", AttemptState.RUNNING), job("b", AttemptState.RUNNING)],
        delete,
        job_pods_of=lambda _ns, name: [done] if name == "a" else [],
    )
    assert await cleanup.clean(RUN) == 1
    assert deleted == ["a"]


async def test_expired_pods_go_a_job_ttl_after_their_run_ended_not_before() -> None:
    """--job-ttl for bare pods: Jobs carry it, pods do not, so the operator keeps it."""
    deleted: list[str] = []
    archived = {"ok": False}

    async def delete_pod(namespace: str, name: str) -> None:
        deleted.append(name)
        pods[:] = [p for p in pods if p.name != name]

    async def archive(run: RunRef, name: str) -> None:
        if not archived["ok"]:
            raise NotArchivedYet("run ns/r is not archived yet")

    async def no_jobs(namespace: str, name: str) -> None:
        raise AssertionError("Jobs carry their own TTL")

    pods = [attempt_pod("a", terminated=True), attempt_pod("b", terminated=True)]
    expired = ExpiredPods(
        3600,
        FinishedJobs(
            lambda _ns, _run: [],
            no_jobs,
            archive,
            pods_of=lambda _ns, _run: list(pods),
            delete_pod=delete_pod,
        ),
    )
    ended = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    # Before the TTL: nothing deleted, come back when it is due.
    assert await expired.expire(RUN, ended, ended + timedelta(minutes=5)) == ended + timedelta(
        hours=1
    )
    assert deleted == []
    # Due, but the archive has not confirmed the run: kept, looked at again later.
    due = ended + timedelta(hours=1)
    assert await expired.expire(RUN, ended, due) == due + ExpiredPods.RETRY
    assert deleted == []
    archived["ok"] = True
    assert await expired.expire(RUN, ended, due + ExpiredPods.RETRY) is None
    assert deleted == ["a", "b"]
    # Nothing left: no timer at all.
    assert await expired.expire(RUN, ended, due + timedelta(hours=5)) is None
