"""kopf wiring: which event calls which controller method. Nothing else lives here."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from runwright import labels as keys
from runwright.controller.config import CONFIG
from runwright.controller.executors import (
    ChosenExecutor,
    KubeRunExecutor,
    LocalRunExecutor,
    News,
    executor_of_runs,
    store_values,
)
from runwright.controller.health import Health
from runwright.controller.runs import RunController
from runwright.controller.triggers import TriggerController
from runwright.engine.plan import AttemptState
from runwright.executors.job_records import JobRecord, PodRecord, job_record, pod_record
from runwright.executors.kubernetes import KubernetesExecutor
from runwright.executors.pod_records import AttemptPod, attempt_pod
from runwright.executors.pods import PodExecutor
from runwright.http import ApiEndpoint
from runwright.kube.client import Kube, new_api_client

GROUP, VERSION = keys.GROUP, keys.VERSION
RUN_LABEL = {keys.RUN: kopf.PRESENT}


class NoDiffBase(kopf.DiffBaseStorage):
    """No essence, no diff: this operator has no on.create/update/delete handlers.

    kopf builds a diff base for every event of every watched object, a deep copy of
    the whole body (a run's status with its frozen Pipeline included), and only
    change-detecting handlers read it. Ours are on.event and index handlers, so the
    copy was the largest single cost of an event; an empty essence makes it free.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Make every kopf setting explicit, then build the controller."""
    prefix = keys.GROUP
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.persistence.finalizer = f"{prefix}/finalizer"  # no handler here needs one
    # Only our Jobs and pods are watched: the filter runs in the API server.
    settings.watching.label_selectors["batch", "jobs"] = keys.RUN
    settings.watching.label_selectors["v1", "pods"] = keys.RUN
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.posting.level = logging.WARNING

    api = await new_api_client()
    kube = Kube(api)
    indexes: dict[str, Any] = {}
    memo.indexes = indexes

    def jobs_of(namespace: str, run: str) -> list[JobRecord]:
        return store_values(indexes.get("run_jobs"), (namespace, run))

    def pods_of(namespace: str, job: str) -> list[PodRecord]:
        return store_values(indexes.get("job_pods"), (namespace, job))

    if CONFIG.deprecated_executor is not None:
        logging.getLogger("runwright").warning(
            "--executor %s is deprecated: it means --executor %s (the default is now pod)",
            CONFIG.deprecated_executor,
            CONFIG.executor,
        )

    controller: RunController
    if CONFIG.executor == "local":
        local = LocalRunExecutor(CONFIG.workdir, lambda ns, run: controller.wake(ns, run))
        memo.local = local
        controller = RunController(kube, local, CONFIG)
    else:
        jobs = KubernetesExecutor(kube)
        memo.jobs = jobs
        wake = lambda ns, run: controller.wake(ns, run)  # noqa: E731 - bound once controller exists
        job_executor = KubeRunExecutor(jobs, jobs_of, pods_of, wake=wake)
        pods = PodExecutor(
            kube,
            lambda ns, run: attempt_pods_of(indexes, ns, run),
            pending_timeout=CONFIG.pod_pending_timeout,
            wake=wake,
        )
        memo.pods = pods
        default = "Job" if CONFIG.executor == "job" else "Pod"
        executor = ChosenExecutor(pods, job_executor, default, lambda ns, run: executor_of(ns, run))
        controller = RunController(kube, executor, CONFIG)
        executor_of = executor_of_runs(controller)
    memo.runs = controller
    memo.triggers = TriggerController(kube, controller)
    memo.kube = kube
    memo.news = News()
    memo.health = Health(api, CONFIG.health_host, CONFIG.health_port)
    await memo.health.start()
    memo.api = ApiEndpoint(kube, memo.triggers, CONFIG.health_host, CONFIG.api_port)
    try:
        await memo.api.start()
    except OSError as exc:
        # Runs and schedules do not need the endpoint: keep reconciling, say it loudly.
        logging.getLogger("runwright").error(
            "API-trigger endpoint not served: cannot listen on port %d (%s); "
            "pass --api-port with a free port",
            CONFIG.api_port,
            exc,
        )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the workers and local processes; the runs go on in the cluster."""
    await memo.triggers.close()
    await memo.runs.close()
    await memo.api.stop()
    if "local" in memo:
        await memo.local.close()
    await memo.health.stop()
    await memo.kube.close()


@kopf.index("batch", "v1", "jobs", labels=RUN_LABEL)
async def run_jobs(body: kopf.Body, **_: Any) -> dict[tuple[str, str], JobRecord] | None:
    """Jobs by (namespace, run): what the run controller observes."""
    record = job_record(body)
    return {(record.namespace, record.run): record} if record else None


@kopf.index("v1", "pods", labels=RUN_LABEL)
async def job_pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str], PodRecord] | None:
    """Pods by (namespace, Job name): exit codes and termination messages."""
    record = pod_record(body)
    return {(record.namespace, record.job): record} if record else None


# ----- the Pod executor's pods, by run (a small index of its own, easy to move) ----------


@kopf.index("v1", "pods", labels=RUN_LABEL)
async def run_pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str], AttemptPod] | None:
    """Pods of the Pod executor (no Job) by (namespace, run): what it observes."""
    record = attempt_pod(body)
    return {(record.pod.namespace, record.run): record} if record else None


def attempt_pods_of(indexes: dict[str, Any], namespace: str, run: str) -> list[AttemptPod]:
    """The Pod executor's pods of one run, from the `run_pods` index."""
    return store_values(indexes.get("run_pods"), (namespace, run))


def _bind(memo: kopf.Memo, kwargs: dict[str, Any]) -> None:
    """Hand the (live) index objects to the controller, and rebuild budgets once on start."""
    run_jobs: kopf.Index[tuple[str, str], JobRecord] = kwargs["run_jobs"]
    job_pods: kopf.Index[tuple[str, str], PodRecord] = kwargs["job_pods"]
    memo.indexes["run_jobs"] = run_jobs
    memo.indexes["job_pods"] = job_pods
    memo.indexes["run_pods"] = kwargs.get("run_pods")
    # kopf hands every object its own shallow copy of the memo: the "done once" flag
    # lives on the controller, or each new Job and pod would seed again (O(runs) each).
    if not memo.runs.claims_seeded:
        running: dict[tuple[str, str], int] = {}
        for key in run_jobs:
            running[key] = sum(1 for j in run_jobs[key] if j.state == AttemptState.RUNNING)
        run_pods: kopf.Index[tuple[str, str], AttemptPod] | None = kwargs.get("run_pods")
        if run_pods is not None:
            for key in run_pods:
                alive = sum(1 for p in run_pods[key] if not p.pod.terminated)
                running[key] = running.get(key, 0) + alive
        memo.runs.seed_claims(running)


@kopf.on.event("batch", "v1", "jobs", labels=RUN_LABEL)
async def job_event(
    event: kopf.RawEvent,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """A Job changed: wake its run if the change is news to it."""
    _bind(memo, kwargs)
    if "jobs" in memo:
        # The watch shows the Job now (or its deletion): it is expected no longer. Done
        # here, not in the run's next reconcile, which may only come when the Job is
        # deleted: a stale expectation would then hold the attempt Running for minutes.
        memo.jobs.seen(namespace or "", [event["object"]["metadata"]["name"]])
    if memo.news.job(event.get("type"), event["object"]):
        memo.runs.wake(namespace or "", labels[keys.RUN])


@kopf.on.event("v1", "pods", labels=RUN_LABEL)
async def pod_event(
    event: kopf.RawEvent,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """A block pod changed: wake its run when it terminated (its exit code and message)."""
    _bind(memo, kwargs)
    body = event["object"]
    if "pods" in memo:
        # The Pod executor's own pods: seen (no longer expected), and kept when deleted.
        if event.get("type") == "DELETED" and memo.pods.deleted(body) is not None:
            if memo.news.pod_deleted(body):
                memo.runs.wake(namespace or "", labels[keys.RUN])
            return
        memo.pods.seen(namespace or "", [body["metadata"]["name"]])
    if memo.news.pod(event.get("type"), body):
        memo.runs.wake(namespace or "", labels[keys.RUN])


@kopf.on.event(GROUP, VERSION, "pipelineruns")
async def run_event(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    """A run was listed, created, changed or deleted: (re)start or wake its worker."""
    _bind(memo, kwargs)
    memo.runs.run_event(event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, "pipelines")
async def pipeline_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """A Pipeline changed: validate it into status, and wake runs waiting for it."""
    body = event["object"]
    meta = body["metadata"]
    memo.triggers.pipeline_changed(meta["namespace"], meta["name"])
    if memo.runs.pipeline_event(event.get("type"), body):
        await memo.runs.sync_pipeline(meta["namespace"], meta["name"])


@kopf.on.event(GROUP, VERSION, "triggers")
async def trigger_event(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    """A Trigger was listed, created, changed or deleted: (re)start or wake its loop."""
    _bind(memo, kwargs)
    memo.triggers.trigger_event(event.get("type"), event["object"])


@kopf.on.event("v1", "namespaces")
async def namespace_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """The namespace block limit annotation may have changed."""
    meta = event["object"]["metadata"]
    memo.runs.namespace_event(meta["name"], meta.get("annotations") or {})
