"""The trigger controller: one loop per Trigger, planning with `engine.triggers.plan_trigger`.

It gathers what the planner needs from memory the run controller already keeps (the
trigger's runs, the finished runs of an Event trigger's upstream pipeline, which
Pipelines exist), checks the API token Secret, calls the planner, and applies the
plan in order: cancel, create, delete, one status patch, Events. It sleeps until the
planner's wake time (the next fire): no polling, with one exception: the operator may
only `get` Secrets (no watch), so an API trigger whose token Secret is missing checks
again every SECRET_RECHECK_SECONDS until it appears.

Runs it creates are named from what fired, so a repeat after a crash, or a second
operator, gets a 409 that means "already done"; they are owned by the Trigger, so
deleting a Trigger deletes its runs (like a CronJob and its Jobs). Until the watch
delivers a run it created, the controller expects it (`expected`, recorded before the
create is sent), so a plan in that window still sees it as active. The API endpoint
shares these expectations: a run it just created counts for the trigger's next plan,
and a run the controller just created counts for the endpoint's concurrencyPolicy.

A trigger learns that its runs finished (history limits, Forbid, Event fires) from
wakes the run controller sends; no trigger sleeps past `--resync-period` (the same
safety net as runs, controller/resync.py), so a lost wake delays that work by a period
at most, and the resync that finds it says so.

Completion times reach the planner as the API server stores them, in whole seconds
(`api_time`): the run controller knows a run's completion to the microsecond until it
reads the run back, and a mix of the two misordered runs finishing within the same
second (the history limit deleted a newer run and kept an older one, for good).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from runwright import labels
from runwright.api.run import TriggeredBy
from runwright.api.trigger import RunPhase, TriggerSpec, TriggerStatus, TriggerType
from runwright.controller.readmodel import ReadModel
from runwright.controller.resync import Resync
from runwright.controller.runs import RUNS, RunController, RunState, parse_time
from runwright.controller.workers import WorkerPool
from runwright.engine.concurrency import RunKey
from runwright.engine.trigger_model import TriggerPlan
from runwright.engine.triggers import TriggerInput, TriggerRun, UpstreamRun, plan_trigger
from runwright.kube.client import Kube
from runwright.kube.expectations import Expectations
from runwright.metrics import METRICS

log = logging.getLogger("runwright.triggers")

TRIGGERS = "triggers"
#: A run created but not yet seen by the watch is remembered this long at most.
PENDING_SECONDS = 300
#: An API trigger whose token Secret is missing looks for it again this often (Secrets
#: are read, never watched: the operator's RBAC grants `get` only).
SECRET_RECHECK_SECONDS = 10

TriggerKey = tuple[str, str]
#: Runs created by a trigger (or its API endpoint) that the watch has not delivered yet,
#: by (namespace, run), owned by the trigger's key.
ExpectedRuns = Expectations[RunKey, TriggerRun]


def api_time(at: datetime | None) -> datetime | None:
    """A time as the API server keeps it (RFC 3339, whole seconds): what a restart reads."""
    return at.replace(microsecond=0) if at is not None else None


def trigger_runs(model: ReadModel, expected: ExpectedRuns, key: TriggerKey) -> list[TriggerRun]:
    """Every run of a trigger: those the watch shows, then those expected but not yet shown.

    The one answer to "which runs does this trigger have", for the trigger's plan and
    the API endpoint's concurrencyPolicy alike. Synchronous, so a caller can decide and
    record its own creation with no await in between. Expected runs the watch now
    shows stop being expected here.
    """
    namespace, name = key
    seen: dict[str, TriggerRun] = {}
    for run, state in model.runs_of_trigger(namespace, name):
        seen[run] = TriggerRun(
            name=run,
            phase=state.phase,
            created_at=state.created,
            execution_date=state.execution_date,
            completed_at=api_time(state.completed_at),
            triggered_by=TriggeredBy(state.triggered_by) if state.triggered_by else None,
            cancel_requested=state.cancel,
            archived=(namespace, run) not in model.unarchived,
        )
    pending = expected.of(key)
    expected.seen(k for k in pending if k[1] in seen)
    for (_, run), record in pending.items():
        seen.setdefault(run, record)
    return list(seen.values())


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Trigger as the owner of the runs it creates (deleted with it, like CronJob/Job)."""
    meta = body["metadata"]
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": False,
    }


class TriggerController:
    """Owns every trigger loop of one operator."""

    def __init__(
        self,
        kube: Kube,
        runs: RunController,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.runs = runs
        self.clock = clock
        #: The read model's Trigger bodies (the API endpoint reads them there too).
        self.bodies: dict[TriggerKey, dict[str, Any]] = runs.model.triggers
        self.statuses: dict[TriggerKey, TriggerStatus] = {}
        self.written: dict[TriggerKey, dict[str, Any]] = {}
        self.expected: ExpectedRuns = Expectations(
            PENDING_SECONDS, lambda: self.clock().timestamp()
        )
        #: No trigger sleeps past its resync, and a resync that does work is logged.
        self.resync = Resync(runs.config.resync_period, clock, kind="Trigger")
        self.pool: WorkerPool[TriggerKey] = WorkerPool("Trigger", self._reconcile_key, clock)
        runs.on_change = self.run_changed

    # ----- events in ---------------------------------------------------------------------

    def trigger_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A Trigger was listed, added, modified or deleted."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.statuses.pop(key, None)
            self.written.pop(key, None)
            self.expected.forget_owner(key)
            self.resync.due.pop(key, None)
            self.pool.stop(key)
            return
        self.bodies[key] = dict(body)
        self.pool.ensure(key)

    def run_changed(self, key: RunKey, state: RunState) -> None:
        """A run appeared, changed phase or went away: wake the triggers that care."""
        namespace = key[0]
        if state.trigger:
            self.pool.wake((namespace, state.trigger))
        if state.phase is None or not state.phase.finished:
            return
        for trigger_key, body in self.bodies.items():
            spec = body.get("spec") or {}
            event = spec.get("event") or {}
            if (
                trigger_key[0] == namespace
                and spec.get("type") == TriggerType.EVENT
                and (event.get("pipelineRef") or {}).get("name") == state.pipeline
            ):
                self.pool.wake(trigger_key)

    def pipeline_changed(self, namespace: str, pipeline: str) -> None:
        """A Pipeline appeared or went away: triggers of it may become (un)ready."""
        for key, body in self.bodies.items():
            ref = ((body.get("spec") or {}).get("pipelineRef") or {}).get("name")
            if key[0] == namespace and ref == pipeline:
                self.pool.wake(key)

    async def close(self) -> None:
        """End every loop."""
        await self.pool.close()

    # ----- the reconcile -----------------------------------------------------------------

    def _upstream(self, namespace: str, pipeline: str, trigger: str) -> list[UpstreamRun]:
        # Runs the trigger made itself never fire it: with event.pipelineRef equal to its
        # own pipeline, they would chain forever.
        return [
            UpstreamRun(name=run, phase=state.phase, completed_at=at)
            for run, state in self.runs.model.runs_of_pipeline(namespace, pipeline)
            if state.trigger != trigger
            and state.phase is not None
            and state.phase.finished
            and (at := api_time(state.completed_at)) is not None
        ]

    async def _reconcile_key(self, key: TriggerKey) -> datetime | None:
        """The worker's reconcile: the trigger's, with the resync's wake time as a cap."""
        wake_at = await self.reconcile(key, resync=self.resync.by_timer(key))
        gone = key not in self.bodies
        return self.resync.cap(key, wake_at, gone, len(self.bodies))

    async def reconcile(self, key: TriggerKey, *, resync: bool = False) -> datetime | None:
        """Plan the trigger once and apply the plan; returns the next wake time.

        `resync`: this reconcile is the periodic resync (no event woke it): any work it
        does is work a lost wake should have done, and is reported.
        """
        body = self.bodies.get(key)
        if body is None:
            return None
        namespace, name = key
        meta = body["metadata"]
        try:
            spec = TriggerSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            log.error("trigger %s/%s has an invalid spec: %s", namespace, name, exc)
            return None
        status = self.statuses.get(key)
        if status is None:
            status = TriggerStatus.model_validate(body.get("status") or {})
            self.written[key] = status.model_dump(by_alias=True, mode="json")
        now = self.clock()
        secret_ok: bool | None = None
        if spec.type == TriggerType.API and spec.api is not None:
            ref = spec.api.token_secret_ref
            secret_ok = await self.kube.secret_value(namespace, ref.name, ref.key) is not None
        upstream: list[UpstreamRun] = []
        if spec.type == TriggerType.EVENT and spec.event is not None:
            upstream = self._upstream(namespace, spec.event.pipeline_ref.name, name)
        plan = plan_trigger(
            TriggerInput(
                name=name,
                spec=spec,
                status=status,
                now=now,
                created_at=parse_time(meta.get("creationTimestamp")) or now,
                runs=trigger_runs(self.runs.model, self.expected, key),
                upstream_runs=upstream,
                pipeline_exists=self.runs.model.pipeline_exists(namespace, spec.pipeline_ref.name),
                secret_ok=secret_ok,
                namespace=namespace,
                generation=meta.get("generation"),
            )
        )
        for cancel in plan.cancel:
            await self.kube.patch_spec(RUNS, namespace, cancel.name, {"cancel": True})
        for create in plan.create:
            manifest = dict(create.manifest)
            manifest["metadata"] = {
                **manifest["metadata"],
                "namespace": namespace,
                "ownerReferences": [owner_reference(body)],
            }
            # Expected before the request is sent: a watch event that beats the answer
            # is not lost, and the API endpoint sees the run from this instant.
            self.expected.expect(
                (namespace, create.name),
                key,
                TriggerRun(
                    name=create.name,
                    phase=RunPhase.PENDING,
                    created_at=now,
                    execution_date=create.execution_date,
                    triggered_by=TriggeredBy(manifest["spec"].get("triggeredBy", "Manual")),
                ),
            )
            try:
                await self.kube.create(RUNS, namespace, manifest)
            except BaseException:
                # No run (a refusal), or perhaps one (retries ran out): the next plan
                # decides again from what the watch shows.
                self.expected.forget((namespace, create.name))
                raise
            scheduled = create.execution_date if spec.type == TriggerType.SCHEDULE else None
            METRICS.observe_trigger_fire(
                namespace, name, spec.pipeline_ref.name, str(spec.type), scheduled, now
            )
        for delete in plan.delete:
            await self.kube.delete(RUNS, namespace, delete.name)
        dump = plan.status.model_dump(by_alias=True, mode="json")
        if resync:
            self.resync.report(key, _moved(plan, self.written.get(key) or {}, dump))
        if dump != self.written.get(key):
            await self.kube.patch_status(TRIGGERS, namespace, name, dump)
            self.written[key] = dump
        self.statuses[key] = plan.status
        involved = {"apiVersion": labels.API_VERSION, "kind": "Trigger", "metadata": meta}
        for reason, count in plan.skipped_by_reason().items():
            METRICS.observe_trigger_skipped(namespace, name, spec.pipeline_ref.name, reason, count)
        for event in plan.events:
            await self.kube.event(involved, event.type, event.reason, event.message)
        if secret_ok is False:
            recheck = now + timedelta(seconds=SECRET_RECHECK_SECONDS)
            return recheck if plan.wake_at is None else min(plan.wake_at, recheck)
        return plan.wake_at


def _moved(plan: TriggerPlan, written: Mapping[str, Any], dump: Mapping[str, Any]) -> list[str]:
    """What a trigger plan does: its cancels, creates and deletes, and the status fields
    it changes (a Pipeline that appeared makes the trigger Ready: a status change only)."""
    moved = [f"cancel {c.name}" for c in plan.cancel]
    moved += [f"create {c.name}" for c in plan.create]
    moved += [f"delete {d.name} ({d.reason})" for d in plan.delete]
    fields = sorted(k for k in written.keys() | dump.keys() if written.get(k) != dump.get(k))
    return moved + ([f"status {', '.join(fields)}"] if fields else [])
