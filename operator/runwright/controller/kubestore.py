"""The operator's RunStore: runs in the API server, Pipelines from the read model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.engine.plan import Event
from runwright.kube.client import Kube

RUNS = "pipelineruns"


class KubeStore:
    """Runs in the API server; Pipelines from the operator's read model."""

    def __init__(
        self,
        kube: Kube,
        pipelines: Callable[[str, str], tuple[PipelineSpec | None, str | None]],
        generations: Callable[[str, str], int | None] = lambda _ns, _name: None,
    ) -> None:
        self.kube = kube
        self._pipelines = pipelines
        self._generations = generations

    def pipeline(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        return self._pipelines(namespace, name)

    def pipeline_generation(self, namespace: str, name: str) -> int | None:
        return self._generations(namespace, name)

    async def get_run(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return await self.kube.get(RUNS, namespace, name)

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> str | None:
        return _version(await self.kube.patch_status(RUNS, namespace, name, patch))

    async def patch_labels(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> str | None:
        return _version(await self.kube.patch_labels(RUNS, namespace, name, labels, spec=spec))

    async def post_events(self, body: Mapping[str, Any], events: Sequence[Event]) -> None:
        """Hand the Events to the client's sink: posted in this order, soon, without the
        reconcile waiting for them (kube/eventsink.py)."""
        involved = {"kind": "PipelineRun", "metadata": body["metadata"]}
        for e in events:
            self.kube.event_later(involved, e.type, e.reason, e.message)

    async def delete_run(self, namespace: str, name: str) -> None:
        await self.kube.delete(RUNS, namespace, name)


def _version(answer: object) -> str | None:
    return answer if isinstance(answer, str) else None
