"""Which Job and pod events wake a run: only those that change what it observes."""

from __future__ import annotations

from datetime import UTC, datetime

from runwright.controller.executors import News
from runwright.engine.plan import AttemptState
from runwright.executors.job_records import JobRecord, PodRecord, job_news, pod_news

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def job(state: AttemptState = AttemptState.RUNNING, **changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "namespace": "ns",
        "run": "r",
        "block": "a",
        "attempt": 1,
        "name": "r-a-1",
        "state": state,
        "started_at": T0,
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


def pod(terminated: bool, **changes: object) -> PodRecord:
    fields: dict[str, object] = {
        "namespace": "ns",
        "job": "r-a-1",
        "exit_code": 0 if terminated else None,
        "reason": "",
        "message": "",
        "terminated": terminated,
    }
    fields.update(changes)
    return PodRecord(**fields)  # type: ignore[arg-type]


def test_a_fresh_or_starting_job_is_no_news() -> None:
    assert not job_news(None, job(started_at=None))
    assert not job_news(job(started_at=None), job())


def test_a_job_that_finished_is_news_even_when_first_seen_finished() -> None:
    assert job_news(job(), job(AttemptState.SUCCEEDED, finished_at=T0))
    assert job_news(None, job(AttemptState.FAILED, reason="DeadlineExceeded"))


def test_a_finished_job_rewritten_with_another_finish_time_is_no_news() -> None:
    done = job(AttemptState.SUCCEEDED, finished_at=T0)
    assert not job_news(done, job(AttemptState.SUCCEEDED, finished_at=datetime.now(UTC)))


def test_a_pod_is_news_only_when_it_terminates() -> None:
    assert not pod_news(None, pod(False))
    assert not pod_news(pod(False), pod(False, started_at=T0))
    assert pod_news(pod(False), pod(True))
    assert not pod_news(pod(True), pod(True))


def test_a_deleted_job_wakes_its_run_and_a_deleted_pod_does_not() -> None:
    news = News()
    body = {"metadata": {"namespace": "ns", "name": "r-a-1"}}
    assert news.job("DELETED", body)
    assert not news.pod("DELETED", body)


def _job_body(status: dict[str, object]) -> dict[str, object]:
    return {
        "metadata": {
            "name": "r-a-1",
            "namespace": "ns",
            "labels": {
                "runwright.dev/run": "r",
                "runwright.dev/block": "a",
                "runwright.dev/attempt": "1",
            },
        },
        "status": status,
    }


def _pod_body(state: dict[str, object], phase: str) -> dict[str, object]:
    return {
        "metadata": {"name": "r-a-1-x", "namespace": "ns", "labels": {"job-name": "r-a-1"}},
        "status": {"phase": phase, "containerStatuses": [{"name": "block", "state": state}]},
    }


def test_one_successful_attempt_wakes_its_run_twice() -> None:
    """The watch events of one attempt on a real cluster, in the order they come."""
    done = {
        "type": "SuccessCriteriaMet",
        "status": "True",
        "lastTransitionTime": "2026-11-21T02:00:09Z",
    }
    complete = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-21T02:00:10Z"}
    terminated = {"terminated": {"exitCode": 0, "reason": "Completed", "message": "{}"}}
    news = News()
    events = [
        news.job("ADDED", _job_body({})),
        news.job("MODIFIED", _job_body({"startTime": "2026-11-21T02:00:00Z", "active": 1})),
        news.pod("ADDED", _pod_body({"waiting": {"reason": "ContainerCreating"}}, "Pending")),
        news.pod(
            "MODIFIED", _pod_body({"running": {"startedAt": "2026-11-21T02:00:01Z"}}, "Running")
        ),
        news.job("MODIFIED", _job_body({"startTime": "2026-11-21T02:00:00Z", "ready": 1})),
        news.pod("MODIFIED", _pod_body(terminated, "Succeeded")),
        news.job(
            "MODIFIED", _job_body({"startTime": "2026-11-21T02:00:00Z", "conditions": [done]})
        ),
        news.job(
            "MODIFIED",
            _job_body({"startTime": "2026-11-21T02:00:00Z", "conditions": [done, complete]}),
        ),
    ]
    assert sum(events) == 2  # the pod's termination, the Job's verdict
