"""The operator's own API writes (runwright.kube) and refused Job creations.

Transient answers (5xx, 429, dropped connections, timeouts) are retried with a capped
backoff, a bounded number of times; answers that mean something (404, 409, 422, 403)
are never retried, so a create cannot be sent twice because of them. The Kubernetes
executor's own retries and its 409-as-success are covered in test_kubernetes_executor.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.api.pipeline import PipelineSpec
from runwright.controller.executors import KubeRunExecutor
from runwright.engine.plan import AttemptState, StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.kubernetes import ExecutorError
from runwright.kube.client import Kube
from runwright.kube.errors import forbidden, permission_missing
from runwright.kube.retry import RETRIES, RetryPolicy, is_transient, retrying
from runwright.metrics import Metrics


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The backoff delays `retrying` asked for, without waiting for them."""
    delays: list[float] = []

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    # retry.py calls asyncio.sleep through the module; nothing else sleeps in these tests.
    monkeypatch.setattr("asyncio.sleep", no_wait)
    yield delays


def scripted(*outcomes: Any) -> tuple[Callable[[], Awaitable[Any]], list[int]]:
    """A call answering with each outcome in turn (raised when an exception)."""
    calls: list[int] = []
    queue = list(outcomes)

    async def call() -> Any:
        calls.append(1)
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call, calls


TRANSIENT = [
    ApiException(status=500, reason="Internal Server Error"),
    ApiException(status=503, reason="Service Unavailable"),
    ApiException(status=429, reason="Too Many Requests"),
    aiohttp.ClientConnectionError("connection reset"),
    aiohttp.ServerDisconnectedError(),
    TimeoutError(),
    ConnectionResetError(),
]
FINAL = [400, 403, 404, 409, 422]


@pytest.mark.parametrize(
    "error", TRANSIENT, ids=lambda e: type(e).__name__ + str(getattr(e, "status", ""))
)
async def test_transient_failures_are_retried_until_the_call_succeeds(
    error: BaseException, slept: list[float]
) -> None:
    call, calls = scripted(error, error, "ok")
    assert is_transient(error)
    assert await retrying(call, "test") == "ok"
    assert len(calls) == 3
    assert slept == [0.1, 0.2]


@pytest.mark.parametrize("status", FINAL)
async def test_answers_that_mean_something_are_not_retried(status: int, slept: list[float]) -> None:
    call, calls = scripted(ApiException(status=status, reason="no"), "never")
    with pytest.raises(ApiException) as info:
        await retrying(call, "test")
    assert info.value.status == status
    assert len(calls) == 1
    assert slept == []


async def test_retries_are_bounded_and_the_backoff_capped(slept: list[float]) -> None:
    error = ApiException(status=500, reason="down")
    call, calls = scripted(*[error] * RETRIES)
    with pytest.raises(ApiException):
        await retrying(call, "test")
    assert len(calls) == RETRIES
    assert len(slept) == RETRIES - 1
    assert slept == sorted(slept) and max(slept) <= 2.0


async def test_a_request_that_never_answers_is_given_up_and_sent_again(
    slept: list[float],
) -> None:
    """No answer at all (a dead connection) must not hold a reconcile forever."""
    calls: list[int] = []
    never = asyncio.Event()

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            await never.wait()  # the first request hangs
        return "ok"

    policy = RetryPolicy(timeout=0.01)
    assert await retrying(call, "test", policy=policy) == "ok"
    assert len(calls) == 2


async def test_other_exceptions_are_bugs_and_raised_at_once(slept: list[float]) -> None:
    call, calls = scripted(KeyError("spec"), "never")
    with pytest.raises(KeyError):
        await retrying(call, "test")
    assert len(calls) == 1


# ----- Kube: what each answer means --------------------------------------------------------


def sent(kube: Kube, verb: str, resource: str, code: str) -> float:
    """Requests counted in runwright_kube_requests_total with these labels."""
    value = kube.metrics.registry.get_sample_value(
        "runwright_kube_requests_total", {"verb": verb, "resource": resource, "code": code}
    )
    return value or 0.0


class FakeCustom:
    """CustomObjectsApi stand-in answering from a script, recording every call."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _answer(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append((name, args, kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("get", args, kwargs)

    async def delete_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("delete", args, kwargs)

    async def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("patch_status", args, kwargs)

    async def create_namespaced_event(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("event", args, kwargs)

    async def read_namespaced_secret(self, *args: Any, **kwargs: Any) -> Any:
        return self._answer("secret", args, kwargs)


@pytest.fixture
async def kube() -> Any:
    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    k = Kube(api, metrics=Metrics())
    yield k
    await api.close()


async def test_get_of_a_missing_object_is_none(kube: Kube, slept: list[float]) -> None:
    kube.custom = FakeCustom(ApiException(status=404, reason="Not Found"))  # type: ignore[assignment]
    assert await kube.get("pipelineruns", "ns", "gone") is None


async def test_delete_of_a_missing_object_is_done(kube: Kube, slept: list[float]) -> None:
    fake = FakeCustom(ApiException(status=404, reason="Not Found"))
    kube.custom = fake  # type: ignore[assignment]
    await kube.delete("pipelineruns", "ns", "gone")
    assert len(fake.calls) == 1


async def test_a_conflicting_status_patch_is_raised_not_retried(
    kube: Kube, slept: list[float]
) -> None:
    fake = FakeCustom(ApiException(status=409, reason="Conflict"), {})
    kube.custom = fake  # type: ignore[assignment]
    with pytest.raises(ApiException):
        await kube.patch_status("pipelineruns", "ns", "r", {"phase": "Running"})
    assert len(fake.calls) == 1


async def test_a_status_patch_survives_a_restarting_api_server(
    kube: Kube, slept: list[float]
) -> None:
    fake = FakeCustom(ApiException(status=503, reason="Unavailable"), {})
    kube.custom = fake  # type: ignore[assignment]
    await kube.patch_status("pipelineruns", "ns", "r", {"phase": "Running"})
    assert [c[0] for c in fake.calls] == ["patch_status", "patch_status"]
    assert fake.calls[0][1] == fake.calls[1][1]  # the same merge patch, resent
    assert sent(kube, "patch", "pipelineruns/status", "200") == 1


async def test_a_lost_event_never_stalls_a_run(kube: Kube, slept: list[float]) -> None:
    fake = FakeCustom(ApiException(status=403, reason="Forbidden"))
    kube.events = fake  # type: ignore[assignment]
    involved = {"kind": "PipelineRun", "metadata": {"name": "r", "namespace": "ns", "uid": "u"}}
    await kube.event(involved, "Normal", "BlockStarted", "a started")
    assert len(fake.calls) == 1


# ----- a Job the API server refuses ------------------------------------------------------


class RefusingJobs:
    """KubernetesExecutor stand-in whose creates fail with the given ExecutorError."""

    def __init__(self, error: ExecutorError) -> None:
        self.error = error
        self.starts = 0

    async def start(self, run: RunRef, action: StartBlock) -> None:
        self.starts += 1
        raise self.error

    def seen(self, namespace: str, names: Any) -> None:
        pass

    def expected(self, namespace: str, run: str) -> set[tuple[str, int]]:
        return set()


RUN = RunRef(namespace="ns", name="r", uid="u", pipeline="p")
SPEC = PipelineSpec.model_validate({"template": {"image": "x"}, "blocks": [{"name": "a"}]})
START = StartBlock(
    block="a",
    attempt=1,
    name="r-a-1",
    image="x",
    command=[],
    args=[],
    env=[],
    contract={},
    timeout_seconds=None,
    ready_at=None,
)
NOW = datetime(2026, 11, 21, tzinfo=UTC)


def executor(error: ExecutorError, woken: list[tuple[str, str]] | None = None) -> KubeRunExecutor:
    return KubeRunExecutor(
        RefusingJobs(error),  # type: ignore[arg-type]
        lambda ns, run: [],
        lambda ns, job: [],
        clock=lambda: NOW,
        wake=lambda ns, run: (woken if woken is not None else []).append((ns, run)),
    )


async def test_a_refused_job_wakes_its_run_since_no_watch_event_will() -> None:
    woken: list[tuple[str, str]] = []
    ex = executor(ExecutorError(403, "create Job ns/r-a-1: forbidden"), woken)
    await ex.start(RUN, START)
    assert woken == [("ns", "r")]


class ExistingJobs(RefusingJobs):
    """KubernetesExecutor stand-in whose creates are answered 409 (the Job exists)."""

    def __init__(self) -> None:
        super().__init__(ExecutorError(None, "unused"))
        self.seen_names: list[str] = []

    async def start(self, run: RunRef, action: StartBlock) -> bool:  # type: ignore[override]
        self.starts += 1
        return False

    def seen(self, namespace: str, names: Any) -> None:
        self.seen_names.extend(names)


@pytest.mark.parametrize("in_the_watch", [True, False])
async def test_a_job_found_existing_wakes_its_run_only_when_the_watch_showed_it(
    in_the_watch: bool,
) -> None:
    """A predecessor made the Job and died before writing the status: if the watch showed
    it already, no event will come for it again, so the run is woken to judge it now;
    if not, its first event will wake the run."""
    woken: list[tuple[str, str]] = []
    jobs = ExistingJobs()
    listed = [SimpleNamespace(name=START.name)] if in_the_watch else []
    ex = KubeRunExecutor(
        jobs,  # type: ignore[arg-type]
        lambda ns, run: listed,  # type: ignore[arg-type,return-value]
        lambda ns, job: [],
        clock=lambda: NOW,
        wake=lambda ns, run: woken.append((ns, run)),
    )
    await ex.start(RUN, START)
    assert woken == ([("ns", "r")] if in_the_watch else [])
    assert jobs.seen_names == ([START.name] if in_the_watch else [])


@pytest.mark.parametrize("status", [403, 422])
async def test_a_refused_job_is_the_attempts_failure_not_a_retry(status: int) -> None:
    ex = executor(ExecutorError(status, "create Job ns/r-a-1: forbidden"))
    await ex.start(RUN, START)
    obs = ex.observe(RUN)["a"]
    assert (obs.attempt, obs.state, obs.reason) == (1, AttemptState.FAILED, "JobRejected")
    assert "forbidden" in obs.message


@pytest.mark.parametrize("status", [None, 500, 503])
async def test_a_create_that_outlasted_its_retries_raises_for_the_reconcile_to_repeat(
    status: int | None,
) -> None:
    ex = executor(ExecutorError(status, "create Job ns/r-a-1: gave up after 5 tries"))
    with pytest.raises(ExecutorError):
        await ex.start(RUN, START)
    assert ex.observe(RUN) == {}


# ----- RBAC denials: which permission is missing ---------------------------------------

DENIED = (
    'pipelineruns.runwright.dev "r" is forbidden: User "system:serviceaccount:rw:runwright" '
    'cannot patch resource "pipelineruns/status" in API group "runwright.dev" '
    'in the namespace "data"'
)


def forbidden_exception(message: str) -> ApiException:
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "message": message, "code": 403}).encode()
    return error


def test_a_403_names_the_verb_resource_group_namespace_and_account() -> None:
    said = forbidden(forbidden_exception(DENIED))
    assert said is not None
    assert said.startswith(
        "permission missing: patch pipelineruns/status in API group runwright.dev "
        "in namespace data for system:serviceaccount:rw:runwright"
    )
    assert "charts/runwright" in said


def test_a_core_group_cluster_scoped_denial_says_so() -> None:
    message = (
        'namespaces is forbidden: User "u" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )
    said = permission_missing(message)
    assert said is not None and said.startswith(
        "permission missing: list namespaces in API group core cluster-wide for u"
    )


def test_other_errors_are_not_permission_errors() -> None:
    assert forbidden(ApiException(status=404, reason="Not Found")) is None
    assert forbidden(ValueError("x")) is None
    # A 403 the pattern does not know still says it was forbidden, in the server's words.
    assert forbidden(forbidden_exception("webhook said no")) == "forbidden: webhook said no"


async def test_a_job_refused_by_rbac_fails_the_attempt_naming_the_permission() -> None:
    denied = DENIED.replace("patch", "create").replace("pipelineruns/status", "jobs")
    denied = denied.replace('"runwright.dev"', '"batch"')
    ex = executor(ExecutorError(403, f"create Job data/r-a-1: {denied}"))
    await ex.start(RUN, START)
    message = ex.observe(RUN)["a"].message
    assert message.startswith(
        "the API server refused Job r-a-1: permission missing: create jobs in API group batch"
    ), message


async def test_a_secret_the_operator_may_not_read_is_absent_and_logged(
    kube: Kube, slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    denied = DENIED.replace("patch", "get").replace("pipelineruns/status", "secrets")
    kube.core = FakeCustom(forbidden_exception(denied.replace('"runwright.dev"', '""')))  # type: ignore[assignment]
    assert await kube.secret_value("data", "api-token", "token") is None
    assert "permission missing: get secrets in API group core in namespace data" in caplog.text


# ----- Retry-After, the policy's bounds, the request counter ------------------------------


def throttled(status: int, retry_after: str) -> ApiException:
    error = ApiException(status=status, reason="Too Many Requests")
    error.headers = {"Retry-After": retry_after}
    return error


async def test_retry_after_is_the_wait_when_the_server_sends_it(slept: list[float]) -> None:
    call, calls = scripted(throttled(429, "3"), throttled(503, "0"), "ok")
    assert await retrying(call, "test") == "ok"
    assert len(calls) == 3
    assert slept == [3.0, 0.0]


async def test_retry_after_is_capped(slept: list[float]) -> None:
    policy = RetryPolicy(max_retry_after=5.0)
    call, _ = scripted(throttled(429, "120"), "ok")
    assert await retrying(call, "test", policy=policy) == "ok"
    assert slept == [5.0]


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2026 07:28:00 GMT", "", "soon"])
async def test_a_retry_after_that_is_not_seconds_falls_back_to_the_backoff(
    value: str, slept: list[float]
) -> None:
    call, _ = scripted(throttled(429, value), "ok")
    assert await retrying(call, "test") == "ok"
    assert slept == [0.1]


async def test_retry_after_on_a_final_answer_does_not_make_it_retried(slept: list[float]) -> None:
    call, calls = scripted(throttled(403, "1"), "never")
    with pytest.raises(ApiException):
        await retrying(call, "test")
    assert (len(calls), slept) == (1, [])


async def test_the_number_of_tries_is_the_policys(slept: list[float]) -> None:
    error = ApiException(status=500, reason="down")
    call, calls = scripted(*[error] * 3)
    with pytest.raises(ApiException):
        await retrying(call, "test", policy=RetryPolicy(tries=2, base_delay=1.0, max_delay=1.5))
    assert len(calls) == 2
    assert slept == [1.0]


async def test_every_request_sent_is_counted_by_its_answer(slept: list[float]) -> None:
    metrics = Metrics()
    error = ApiException(status=503, reason="Unavailable")
    call, _ = scripted(error, aiohttp.ServerDisconnectedError(), "ok")
    await retrying(call, "test", "patch", "pipelineruns/status", metrics=metrics)
    counted = {
        code: metrics.registry.get_sample_value(
            "runwright_kube_requests_total",
            {"verb": "patch", "resource": "pipelineruns/status", "code": code},
        )
        for code in ("503", "error", "200")
    }
    assert counted == {"503": 1.0, "error": 1.0, "200": 1.0}


async def test_a_created_custom_object_that_exists_is_none_sent_once(
    kube: Kube, slept: list[float]
) -> None:
    class Creating(FakeCustom):
        async def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
            return self._answer("create", args, kwargs)

    fake = Creating(ApiException(status=409, reason="Conflict"))
    kube.custom = fake  # type: ignore[assignment]
    assert await kube.create("pipelineruns", "ns", {"metadata": {"name": "r"}}) is None
    assert len(fake.calls) == 1
    assert sent(kube, "create", "pipelineruns", "409") == 1
