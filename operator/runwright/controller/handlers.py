"""kopf wiring: which event calls which controller method. Nothing else lives here."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import kopf

from runwright import labels as keys
from runwright.controller import leader
from runwright.controller.archiver import (
    Archiver,
    ArchiveSettings,
    file_item_logs,
    file_logs,
    pending_for,
    pod_logs,
)
from runwright.controller.cleanup import ExpiredPods, FinishedJobs, NotArchivedYet
from runwright.controller.config import CONFIG
from runwright.controller.executors import (
    ChosenExecutor,
    KubeRunExecutor,
    LocalRunExecutor,
    News,
    executor_of_runs,
)
from runwright.controller.health import Health
from runwright.controller.kopflisting import bypass_first_listing, direct
from runwright.controller.runs import RunController
from runwright.controller.triggers import TriggerController
from runwright.controller.watchstore import KINDS, Catchup, Store, UidLister, watch_count
from runwright.engine.plan import AttemptState
from runwright.executors import job_manifest
from runwright.executors.contract import RunRef
from runwright.executors.job_records import JobRecord, PodRecord, job_record, pod_record
from runwright.executors.kubernetes import KubernetesExecutor
from runwright.executors.pod_records import AttemptPod, attempt_pod
from runwright.executors.pods import PodExecutor
from runwright.http import ApiEndpoint
from runwright.kube.client import Kube, new_api_client
from runwright.kube.ratelimit import TokenBucket, process_limiter

GROUP, VERSION = keys.GROUP, keys.VERSION
RUN_LABEL = {keys.RUN: kopf.PRESENT}
#: How long kopf's worker of an object waits for its next event before it ends.
IDLE_WORKER_SECONDS = 0.1
#: Objects per page of kopf's LIST at start.
LIST_PAGE = 500


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
    # Issue 17: kopf's worker for an object keeps its last event (the whole body) while
    # it idles for more, 5 s by default: every object listed at start was alive at once
    # (10,000 runs' bodies). Our handlers keep what they need; the worker may go at once.
    settings.queueing.idle_timeout = IDLE_WORKER_SECONDS
    # The start's LIST in pages: one page of bodies in memory, not every object's.
    settings.watching.chunk_size = LIST_PAGE

    api = await new_api_client()
    # Every request behind --qps/--burst and, under leader election, the Lease's fence.
    kube = Kube(
        api,
        limiter=process_limiter(CONFIG.qps, CONFIG.burst),
        event_limiter=TokenBucket(CONFIG.event_qps, CONFIG.event_burst, histogram=None),
        fence=leader.process_fence(),
    )
    job_manifest.JOB_TTL_SECONDS = CONFIG.job_ttl
    # Our own stores of the watched Jobs and pods (see watchstore.py for why not kopf's
    # indexes). A new way to find records is one more keyword: pods by run, say.
    jobs_store: Store[JobRecord] = Store(run=lambda r: (r.namespace, r.run))
    pods_store: Store[PodRecord] = Store(job=lambda r: (r.namespace, r.job))
    memo.jobs_store, memo.pods_store = jobs_store, pods_store
    # The Pod executor's pods (no Job) by run: what it observes.
    attempt_pods: Store[AttemptPod] = Store(run=lambda r: (r.pod.namespace, r.run))
    memo.attempt_pods = attempt_pods

    def jobs_of(namespace: str, run: str) -> list[JobRecord]:
        return jobs_store.by("run", (namespace, run))

    def pods_of(namespace: str, job: str) -> list[PodRecord]:
        return pods_store.by("job", (namespace, job))

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
        jobs = KubernetesExecutor(kube, pod_defaults=CONFIG.pod_defaults(), check_admission=True)
        memo.jobs = jobs
        wake = lambda ns, run: controller.wake(ns, run)  # noqa: E731 - bound once controller exists
        job_executor = KubeRunExecutor(jobs, jobs_of, pods_of, wake=wake)
        pods = PodExecutor(
            kube,
            lambda ns, run: attempt_pods.by("run", (ns, run)),
            pending_timeout=CONFIG.pod_pending_timeout,
            pod_defaults=CONFIG.pod_defaults(),
            wake=wake,
        )
        memo.pods = pods
        default = "Job" if CONFIG.executor == "job" else "Pod"
        executor = ChosenExecutor(pods, job_executor, default, lambda ns, run: executor_of(ns, run))
        controller = RunController(kube, executor, CONFIG)
        executor_of = executor_of_runs(controller)
    memo.runs = controller
    controller.has_jobs = lambda key: bool(jobs_store.by("run", key) or attempt_pods.by("run", key))
    memo.triggers = TriggerController(kube, controller)
    memo.archiver = archiver = _archiver(kube, controller, memo)
    await memo.archiver.start()

    async def attempt_ended(run: RunRef, _name: str) -> None:
        # The archive keeps each attempt's log from its pod: the Job waits for it.
        if not await archiver.archived(run.namespace, run.uid):
            raise NotArchivedYet(f"run {run.namespace}/{run.name} is not archived yet")

    if CONFIG.delete_finished_jobs and CONFIG.executor != "local":
        controller.cleanup = FinishedJobs(
            jobs_of,
            kube.delete_job,
            attempt_ended,
            pods_of=lambda ns, run: attempt_pods.by("run", (ns, run)),
            delete_pod=kube.delete_pod,
            job_pods_of=pods_of,
        )
    elif CONFIG.job_ttl and CONFIG.executor != "local":
        # Jobs carry their TTL; the Pod executor's pods are deleted by us, as late.
        pods_only = FinishedJobs(
            lambda _ns, _run: (),
            kube.delete_job,
            attempt_ended,
            pods_of=lambda ns, run: attempt_pods.by("run", (ns, run)),
            delete_pod=kube.delete_pod,
        )
        controller.expired_pods = ExpiredPods(CONFIG.job_ttl, pods_only)
    memo.kube = kube
    memo.news = News()
    # Nothing is planned until every object that existed at start has been seen.
    controller.hold()
    catchup = Catchup(
        KINDS, UidLister(api, CONFIG.namespaces), watches=watch_count(CONFIG.namespaces)
    )
    memo.catchup = catchup
    catchup.start()

    async def release() -> None:
        await catchup.done.wait()
        running: dict[tuple[str, str], int] = {}
        for key, jobs in jobs_store.groups("run").items():
            count = sum(1 for j in jobs.values() if j.state == AttemptState.RUNNING)
            if count:
                running[key] = count  # type: ignore[index]
        for key, pods in attempt_pods.groups("run").items():
            alive = sum(1 for p in pods.values() if not p.pod.terminated)
            if alive:
                running[key] = running.get(key, 0) + alive  # type: ignore[index,call-overload]
        controller.seed_claims(running)
        await controller.release()

    memo.release = asyncio.create_task(release(), name="release runs")
    # The start's LIST: no kopf worker per object, and its end is the catch-up's news.
    bypass_first_listing(memo, catchup.listed)
    if "api" in memo:
        # `runwright operator` serves /healthz and the endpoint before it leads (a
        # standby serves them too); the leader's endpoint decides on the controller.
        memo.api.triggers = memo.triggers
        memo.health.catching_up = catchup.waiting_for
        return
    memo.health = Health(api, CONFIG.health_host, CONFIG.health_port, catchup.waiting_for)
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


def _archiver(kube: Kube, controller: RunController, memo: kopf.Memo) -> Archiver:
    """The run archive's writer (inert with --archive none), wired to what it guards."""
    local: LocalRunExecutor | None = memo.get("local")
    if local is not None:

        def path_of(namespace: str, run: str, name: str) -> Path | None:
            executor = local.runs.get((namespace, run))
            known = executor.log_path(name) if executor is not None else None
            if known is None and local.workdir is not None:
                return local.workdir / namespace / run / f"{name}.log"
            return known

        logs, item_files = file_logs(path_of), file_item_logs(path_of)
    else:
        logs, item_files = pod_logs(kube), None
    settings = ArchiveSettings(url=CONFIG.archive, log_cap=CONFIG.archive_log_cap)
    archiver = Archiver(settings, kube, logs, controller.model.unarchived, item_files=item_files)
    if archiver.enabled:
        controller.reconciler.archive_pending = pending_for

        def confirmed(key: tuple[str, str]) -> None:
            state = controller.states.get(key)
            if state is not None:
                controller.on_change(key, state)  # the Trigger's history limits may act now

        archiver.on_confirmed = confirmed
    return archiver


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the workers and local processes; the runs go on in the cluster."""
    memo.release.cancel()
    await memo.catchup.close()
    await memo.triggers.close()
    await memo.runs.close()
    await memo.api.stop()
    if "local" in memo:
        await memo.local.close()
    await memo.health.stop()
    await memo.archiver.close()
    await memo.kube.close()


@kopf.on.event("batch", "v1", "jobs", labels=RUN_LABEL)
@direct("jobs", keys.RUN)  # every event straight here, past kopf's machinery (kopflisting.py)
async def job_event(
    event: kopf.RawEvent,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """A Job changed: keep its record, and wake its run if the change is news to it."""
    body = event["object"]
    meta = body["metadata"]
    obj = (meta.get("namespace", ""), meta["name"])
    record = None if event.get("type") == "DELETED" else job_record(body)
    memo.jobs_store.put(obj, record)
    memo.catchup.seen("jobs", meta.get("uid", ""))
    run = labels[keys.RUN]
    if memo.runs.is_parked(namespace or "", run) and (
        record is None or record.state != AttemptState.RUNNING
    ):
        return  # a finished run: only a stray running Job is its business
    if "jobs" in memo:
        # The watch shows the Job now (or its deletion): it is expected no longer. Done
        # here, not in the run's next reconcile, which may only come when the Job is
        # deleted: a stale expectation would then hold the attempt Running for minutes.
        memo.jobs.seen(namespace or "", [event["object"]["metadata"]["name"]])
    if memo.news.job(event.get("type"), event["object"]):
        memo.runs.wake(namespace or "", labels[keys.RUN])


@kopf.on.event("v1", "pods", labels=RUN_LABEL)
@direct("pods", keys.RUN)
async def pod_event(
    event: kopf.RawEvent,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """A block pod changed: keep its record, wake its run when it terminated or vanished."""
    body = event["object"]
    meta = body["metadata"]
    obj = (meta.get("namespace", ""), meta["name"])
    deleted = event.get("type") == "DELETED"
    memo.pods_store.put(obj, None if deleted else pod_record(body))
    memo.attempt_pods.put(obj, None if deleted else attempt_pod(body))
    memo.catchup.seen("pods", meta.get("uid", ""))
    if "pods" in memo:
        # The Pod executor's own pods: seen (no longer expected), and kept when deleted.
        if deleted and memo.pods.deleted(body) is not None:
            if memo.news.pod_deleted(body) and not memo.runs.is_parked(
                namespace or "", labels[keys.RUN]
            ):
                memo.runs.wake(namespace or "", labels[keys.RUN])
            return
        memo.pods.seen(namespace or "", [meta["name"]])
    if memo.runs.is_parked(namespace or "", labels[keys.RUN]):
        return
    if memo.news.pod(event.get("type"), body):
        memo.runs.wake(namespace or "", labels[keys.RUN])


@kopf.on.event(GROUP, VERSION, "pipelineruns")
@direct("pipelineruns")
async def run_event(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    """A run was listed, created, changed or deleted: (re)start or wake its worker."""
    memo.catchup.seen("pipelineruns", event["object"]["metadata"].get("uid", ""))
    memo.runs.run_event(event.get("type"), event["object"])
    memo.archiver.observe(event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, "pipelines")
async def pipeline_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """A Pipeline changed: validate it into status, and wake runs waiting for it."""
    body = event["object"]
    meta = body["metadata"]
    memo.catchup.seen("pipelines", meta.get("uid", ""))
    memo.triggers.pipeline_changed(meta["namespace"], meta["name"])
    if memo.runs.pipeline_event(event.get("type"), body):
        await memo.runs.sync_pipeline(meta["namespace"], meta["name"])


@kopf.on.event(GROUP, VERSION, "triggers")
async def trigger_event(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    """A Trigger was listed, created, changed or deleted: (re)start or wake its loop."""
    memo.triggers.trigger_event(event.get("type"), event["object"])


@kopf.on.event("v1", "namespaces")
async def namespace_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """The namespace block limit annotation may have changed."""
    meta = event["object"]["metadata"]
    memo.runs.namespace_event(meta["name"], meta.get("annotations") or {})
