"""Where runs live, as the one reconcile sees them: the API server, or memory.

The reconcile (runwright/reconcile.py) reads a run's Pipeline and writes the run's
status, labels and Events through a `RunStore`. The operator's store
(controller/kubestore.py) is the kopf-fed read model plus the Kubernetes API;
`runwright run` uses `MemoryStore`, so local mode runs the very same reconcile with
no cluster.

Status is written as a JSON merge patch of what changed since the last write
(`merge_patch`), never the whole object: the frozen pipelineSpec is sent once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from runwright.api.pipeline import PipelineSpec
from runwright.engine.plan import Event


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: changed keys only.

    Objects are compared key by key, nested (a block's status is one key of
    `blocks`); a key gone from `new` is sent as null, which is how a merge patch
    deletes; lists and scalars are sent whole when they differ. An empty result
    means nothing changed, and nothing should be written.
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
            continue
        before = old[key]
        if before is value or before == value:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            inner = merge_patch(before, value)
            if inner:
                patch[key] = inner
        else:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def apply_merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Apply a JSON merge patch to `target` in place (what the API server does with one)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            apply_merge_patch(target[key], value)
        else:
            target[key] = _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


class RunStore(Protocol):
    """What the reconcile reads and writes besides the executor."""

    def pipeline(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        """The Pipeline's validated spec, else (None, why it is invalid), or (None, None)."""

    def pipeline_generation(self, namespace: str, name: str) -> int | None:
        """The Pipeline's metadata.generation (None: absent, or a store without them)."""

    async def get_run(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """Another run's body (a rerun's source), or None when it does not exist."""

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> str | None:
        """Merge-patch the run's status; returns the resourceVersion it made, if known."""

    async def patch_labels(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Merge-patch the run's labels (and spec defaults the operator fills in, if any);
        returns the resourceVersion it made, if known."""

    async def post_events(self, body: Mapping[str, Any], events: Sequence[Event]) -> None:
        """Record the run's history."""

    async def delete_run(self, namespace: str, name: str) -> None:
        """Delete the run (retention)."""


class MemoryStore:
    """One run and its Pipeline in memory: the store of `runwright run`."""

    def __init__(
        self,
        body: dict[str, Any],
        pipeline: PipelineSpec,
        on_events: Callable[[Sequence[Event]], None] = lambda _events: None,
    ) -> None:
        self.body = body
        self._pipeline = pipeline
        self._on_events = on_events
        self.deleted = False

    def pipeline(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        return self._pipeline, None

    def pipeline_generation(self, namespace: str, name: str) -> int | None:
        return None  # a Pipeline read from a file has no generation

    async def get_run(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.body if name == self.body["metadata"]["name"] else None

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> str | None:
        apply_merge_patch(self.body.setdefault("status", {}), patch)
        return None

    async def patch_labels(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> str | None:
        self.body["metadata"].setdefault("labels", {}).update(labels)
        if spec:
            self.body.setdefault("spec", {}).update(spec)
        return None

    async def post_events(self, body: Mapping[str, Any], events: Sequence[Event]) -> None:
        self._on_events(events)

    async def delete_run(self, namespace: str, name: str) -> None:
        self.deleted = True
