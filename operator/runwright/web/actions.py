"""Actions on runs, as the user: in-place retry, rerun, cancel, delete; one run or many.

Each action writes exactly the fields the operator reads (API.md,
docs/run-semantics.md): `spec.retry {id, mode, fromBlock, pipelineSpec}` with a
new id, a new PipelineRun with `spec.rerunOf`, `spec.cancel: true`, or a
delete. A refusal of the API server (RBAC, validation, not found) comes back
per run in the server's own words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.kube.errors import api_message
from runwright.web.kubeapi import RUNS, UserKube

ACTIONS = ("retry", "rerun", "cancel", "delete")
RETRY_MODES = ("Incomplete", "FromBlock")
PIPELINE_SPECS = ("Frozen", "Current")


class ActionError(ValueError):
    """An action request the server cannot carry out as asked (names the field and fix)."""


@dataclass(frozen=True)
class Action:
    """One requested action and its options."""

    verb: str
    mode: str = "Incomplete"
    from_block: str = ""
    pipeline_spec: str = "Frozen"


@dataclass(frozen=True)
class Outcome:
    """What happened to one run: ok, or the API server's refusal in plain words."""

    namespace: str
    name: str
    ok: bool
    message: str

    def json(self) -> dict[str, Any]:
        """The outcome as the browser gets it."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "ok": self.ok,
            "message": self.message,
        }


def parse_action(body: Mapping[str, Any]) -> tuple[Action, list[tuple[str, str]]]:
    """The action and its target runs from a request body; bad input raises ActionError."""
    verb = body.get("action")
    if verb not in ACTIONS:
        raise ActionError(f"action: {verb!r} is not an action; use one of {', '.join(ACTIONS)}")
    mode = body.get("mode") or "Incomplete"
    if mode not in RETRY_MODES:
        raise ActionError(f"mode: {mode!r}; use Incomplete or FromBlock")
    from_block = str(body.get("fromBlock") or "")
    if verb == "retry" and mode == "FromBlock" and not from_block:
        raise ActionError("fromBlock: required with mode FromBlock (the block to retry from)")
    pipeline_spec = body.get("pipelineSpec") or "Frozen"
    if pipeline_spec not in PIPELINE_SPECS:
        raise ActionError(f"pipelineSpec: {pipeline_spec!r}; use Frozen or Current")
    targets = body.get("runs")
    if not isinstance(targets, list) or not targets:
        raise ActionError("runs: a list of {namespace, name} is required (select some runs)")
    runs: list[tuple[str, str]] = []
    for i, target in enumerate(targets):
        if not isinstance(target, dict) or not target.get("namespace") or not target.get("name"):
            raise ActionError(f"runs[{i}]: needs a namespace and a name")
        runs.append((str(target["namespace"]), str(target["name"])))
    return Action(verb, mode, from_block, pipeline_spec), runs


def next_retry_id(run: Mapping[str, Any]) -> str:
    """A retry id the operator has not handled yet (ids are compared, not ordered)."""
    spec_id = str(((run.get("spec") or {}).get("retry") or {}).get("id") or "")
    handled = str((run.get("status") or {}).get("retryId") or "")
    numbers = [int(i) for i in (spec_id, handled) if i.isdigit()]
    return str(max(numbers, default=0) + 1)


def retry_patch(run: Mapping[str, Any], action: Action) -> dict[str, Any]:
    """The merge patch asking the operator for an in-place retry."""
    request: dict[str, Any] = {"id": next_retry_id(run), "mode": action.mode}
    request["fromBlock"] = action.from_block if action.mode == "FromBlock" else None
    request["pipelineSpec"] = action.pipeline_spec
    return {"spec": {"retry": request}}


def rerun_body(run: Mapping[str, Any], action: Action) -> dict[str, Any]:
    """A new PipelineRun repeating `run`'s inputs (the operator copies them at start)."""
    spec = run.get("spec") or {}
    pipeline = (spec.get("pipelineRef") or {}).get("name", "")
    name = run["metadata"]["name"]
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{pipeline or name}-"},
        "spec": {
            "pipelineRef": {"name": pipeline},
            "triggeredBy": "Rerun",
            "rerunOf": {"name": name, "pipelineSpec": action.pipeline_spec},
        },
    }


async def _one(kube: UserKube, action: Action, namespace: str, name: str) -> str:
    if action.verb == "cancel":
        await kube.patch_object(RUNS, namespace, name, {"spec": {"cancel": True}})
        return "cancel requested"
    if action.verb == "delete":
        await kube.delete_object(RUNS, namespace, name)
        return "deleted"
    run = await kube.get_object(RUNS, namespace, name)
    if action.verb == "retry":
        patch = retry_patch(run, action)
        await kube.patch_object(RUNS, namespace, name, patch)
        return f"retry {patch['spec']['retry']['id']} requested ({action.mode})"
    created = await kube.create_object(RUNS, namespace, rerun_body(run, action))
    return f"rerun created: {created['metadata']['name']}"


def refusal(exc: ApiException) -> str:
    """The API server's refusal in plain words (403s say so first)."""
    words = api_message(exc)
    if exc.status == 403:
        return f"Kubernetes refused (permission denied): {words}"
    if exc.status == 404:
        return f"Kubernetes says it does not exist: {words}"
    return f"Kubernetes refused: {words}"


async def perform(kube: UserKube, action: Action, runs: Sequence[tuple[str, str]]) -> list[Outcome]:
    """Carry out `action` on each run, one by one; a refusal stops only that run."""
    outcomes: list[Outcome] = []
    for namespace, name in runs:
        try:
            message = await _one(kube, action, namespace, name)
        except ApiException as exc:
            outcomes.append(Outcome(namespace, name, False, refusal(exc)))
        else:
            outcomes.append(Outcome(namespace, name, True, message))
    return outcomes
