"""Run one PipelineRun to the end on this machine, with the operator's own reconcile.

Each step is `runwright.reconcile.Reconciler` (gather -> plan -> apply), the very
function the operator runs, over a `MemoryStore` instead of the API server and the
run's processes instead of Jobs; so local and cluster semantics agree by
construction. Between steps the loop sleeps until a process exits or the plan's
`wake_at` (a retry backoff, a timeout, an SLA) comes due. No fixed-interval polling:
an idle run costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import string
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from runwright import labels
from runwright.api.common import LocalObjectReference, ObjectMeta
from runwright.api.pipeline import Pipeline
from runwright.api.run import PipelineRun, PipelineRunSpec, PipelineRunStatus, TriggeredBy
from runwright.engine.notifications import outstanding
from runwright.engine.plan import Event, Observation, StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.local import LocalExecutor, Warn
from runwright.notifier import EnvSecrets, Notifier
from runwright.reconcile import NoLimits, Reconciler, Worker
from runwright.store import MemoryStore

#: Called after every planning step with the run as it now stands and what happened.
OnUpdate = Callable[[PipelineRun, list[Event]], None]

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def local_run_name(pipeline: str) -> str:
    """`<pipeline>-local-<5 random chars>`: never clashes with a cluster run's name."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    return f"{pipeline}-local-{suffix}"


def new_run(
    pipeline: Pipeline, variables: Mapping[str, str], run_name: str, now: datetime
) -> PipelineRun:
    """The PipelineRun object a manual run of `pipeline` would be, before it starts."""
    name = pipeline.metadata.name or "pipeline"
    return PipelineRun(
        metadata=ObjectMeta(
            name=run_name,
            namespace=pipeline.metadata.namespace,
            labels={labels.PIPELINE: name},
            creation_timestamp=now,
        ),
        spec=PipelineRunSpec(
            pipeline_ref=LocalObjectReference(name=name),
            variables=dict(variables),
            execution_date=now,
            triggered_by=TriggeredBy.MANUAL,
        ),
        status=PipelineRunStatus(),
    )


async def run_pipeline(
    pipeline: Pipeline,
    *,
    variables: Mapping[str, str] | None = None,
    run_name: str | None = None,
    on_update: OnUpdate | None = None,
    cancel: asyncio.Event | None = None,
    workdir: Path | None = None,
    warn: Warn | None = None,
    handle_signals: bool = True,
    grace_seconds: float = 3.0,
    notifier: Notifier | None = None,
) -> PipelineRun:
    """Run the pipeline's blocks as local processes until the run finishes.

    Setting `cancel` (or SIGINT/SIGTERM when `handle_signals`) cancels the run the way
    `spec.cancel: true` does in a cluster: every process group is stopped and the run
    ends Cancelled, after its finally blocks; setting it again (a second Ctrl-C) skips
    them (`spec.skipFinally`). Whatever happens, no block process outlives this call.

    Notifications (spec.notifications) are sent as the operator sends them, with the
    Secret keys from `RUNWRIGHT_SECRET_<NAME>_<KEY>` environment variables unless
    `notifier` says otherwise; the call returns once each is sent or given up.
    """
    now = datetime.now(UTC)
    name = pipeline.metadata.name or "pipeline"
    run = new_run(pipeline, variables or {}, run_name or local_run_name(name), now)
    assert run.metadata.name is not None
    cancel = cancel or asyncio.Event()
    executor = LocalExecutor(workdir, grace_seconds=grace_seconds, warn=warn)
    body = run.model_dump(by_alias=True, mode="json", exclude_none=True)
    worker = Worker(
        key=(run.metadata.namespace or "", run.metadata.name),
        body=body,
        labels=dict(run.metadata.labels),
    )
    reconciler = Reconciler(MemoryStore(body, pipeline.spec), OneRun(executor), NoLimits())
    reconciler.notifier = notifier or Notifier(EnvSecrets())
    try:
        with _signals_set(cancel, enabled=handle_signals):
            while True:
                if cancel.is_set():
                    # The first cancel runs the finally blocks (spec.cancel); a second one
                    # stops them too (spec.skipFinally), as in a cluster.
                    cancel.clear()
                    field, key = (
                        ("skip_finally", "skipFinally") if run.spec.cancel else ("cancel", "cancel")
                    )
                    run.spec = run.spec.model_copy(update={field: True})
                    body["spec"][key] = True
                    worker.parsed = None  # an edit of the spec, as a new generation would be
                step = await reconciler.step(worker)
                if step is None:
                    raise RuntimeError(f"run {run.metadata.name}: its spec does not validate")
                wake_at = await reconciler.apply(worker, step)
                status = worker.status or step.result.status  # with notification outcomes
                run = _with_status(run, status)
                if on_update is not None:
                    on_update(run, step.result.events)
                if status.phase is not None and status.phase.finished:
                    if cancel.is_set() or not outstanding(status.notifications):
                        break  # Ctrl-C while a notification waits to be retried: give up
                    await _sleep_until_change(executor, cancel, wake_at)
                    continue
                if not step.result.starts and wake_at is None and executor.idle:
                    # Nothing runs and nothing is due: waiting would wait forever.
                    raise RuntimeError(
                        f"run {run.metadata.name} is {status.phase} with nothing running and "
                        "nothing scheduled; this is a bug in the planner, please report it"
                    )
                await _sleep_until_change(executor, cancel, wake_at)
    finally:
        await executor.close()
        await reconciler.notifier.close()
    return run


class OneRun:
    """A LocalExecutor behind the executor contract: the one run of `runwright run`."""

    def __init__(self, local: LocalExecutor) -> None:
        self.local = local

    def observe(self, run: RunRef) -> dict[str, Observation]:
        return self.local.observe()

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None  # a process exit always wakes the loop

    async def start(self, run: RunRef, action: StartBlock) -> None:
        await self.local.start(action)

    async def stop(self, run: RunRef, name: str) -> None:
        await self.local.stop(name)

    async def forget(self, run: RunRef) -> None:
        await self.local.close()


def _with_status(run: PipelineRun, status: PipelineRunStatus) -> PipelineRun:
    meta = run.metadata.model_copy(
        update={"labels": {**run.metadata.labels, labels.PHASE: str(status.phase or "")}}
    )
    return run.model_copy(update={"metadata": meta, "status": status})


async def _sleep_until_change(
    executor: LocalExecutor, cancel: asyncio.Event, wake_at: datetime | None
) -> None:
    """Until a process exits, the run is cancelled, or `wake_at` comes (whichever first)."""
    timeout = None
    if wake_at is not None:
        timeout = max((wake_at - datetime.now(UTC)).total_seconds(), 0.0)
    waiters = [
        asyncio.create_task(executor.wait()),
        asyncio.create_task(cancel.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


@contextlib.contextmanager
def _signals_set(event: asyncio.Event, *, enabled: bool) -> Iterator[None]:
    """SIGINT and SIGTERM set `event` while inside (Ctrl-C cancels the run, not Python)."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Only the main thread may install handlers; elsewhere the caller's cancel works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, event.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
