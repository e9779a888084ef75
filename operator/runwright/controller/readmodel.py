"""The operator's one in-memory picture of the cluster, with small questions to ask it.

Filled from kopf's watch events; read by the run and trigger controllers and the API
endpoint through the query methods below, never through its dicts. A Pipeline is
validated once per generation here, not on every run start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.api.trigger import RunPhase
from runwright.controller.pipelines import validate_spec
from runwright.engine.concurrency import Claim, RunKey

PipelineKey = tuple[str, str]


@dataclass
class RunState:
    """What the operator remembers of every run, for admission, triggers and Pipeline status."""

    pipeline: str
    execution_date: datetime
    created: datetime
    phase: RunPhase | None
    completed_at: datetime | None
    trigger: str | None = None
    triggered_by: str | None = None
    cancel: bool = False

    @property
    def active(self) -> bool:
        """Not finished yet (a run without a phase has not started)."""
        return self.phase is None or not self.phase.finished


@dataclass(frozen=True)
class Validated:
    """A Pipeline's spec checked once for one generation: the spec, or why it is invalid."""

    generation: Any
    spec: PipelineSpec | None
    reason: str
    message: str


class ReadModel:
    """Runs' summaries, Pipelines (validated per generation), Triggers, namespace limits, budgets."""

    def __init__(self) -> None:
        self.runs: dict[RunKey, RunState] = {}
        self.claims: dict[RunKey, Claim] = {}
        self.pipelines: dict[PipelineKey, dict[str, Any]] = {}
        self.namespace_limits: dict[str, int] = {}
        self.triggers: dict[tuple[str, str], dict[str, Any]] = {}
        #: Finished runs a configured archive has not confirmed (history limits keep them).
        self.unarchived: set[RunKey] = set()
        self._validated: dict[PipelineKey, Validated] = {}

    # ----- Pipelines ------------------------------------------------------------------

    def put_pipeline(self, body: Mapping[str, Any]) -> None:
        """A Pipeline was listed, added or modified."""
        meta = body["metadata"]
        self.pipelines[(meta["namespace"], meta["name"])] = dict(body)

    def drop_pipeline(self, namespace: str, name: str) -> None:
        """A Pipeline was deleted."""
        self.pipelines.pop((namespace, name), None)
        self._validated.pop((namespace, name), None)

    def pipeline_exists(self, namespace: str, name: str) -> bool:
        """Is there a Pipeline of that name (valid or not)?"""
        return (namespace, name) in self.pipelines

    def validated(self, namespace: str, name: str) -> Validated | None:
        """The Pipeline's validation, computed once per generation; None when it is absent."""
        body = self.pipelines.get((namespace, name))
        if body is None:
            return None
        generation = (body.get("metadata") or {}).get("generation")
        cached = self._validated.get((namespace, name))
        # Without a generation (hand-made bodies) the spec itself is the cache key.
        key = generation if generation is not None else body.get("spec")
        if cached is not None and cached.generation == key:
            return cached
        spec, reason, message = validate_spec(body.get("spec") or {})
        result = Validated(key, spec, reason, message)
        self._validated[(namespace, name)] = result
        return result

    def pipeline_spec(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        """(spec, None) for a valid Pipeline, (None, why) for an invalid one, (None, None) absent."""
        checked = self.validated(namespace, name)
        if checked is None:
            return None, None
        if checked.spec is None:
            return None, checked.message
        return checked.spec, None

    def pipeline_generation(self, namespace: str, name: str) -> int | None:
        """The Pipeline's metadata.generation: which spec a run froze (status.pipelineGeneration)."""
        body = self.pipelines.get((namespace, name))
        generation = ((body or {}).get("metadata") or {}).get("generation")
        return generation if isinstance(generation, int) else None

    # ----- Triggers -----------------------------------------------------------------

    def trigger(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Trigger's latest body, or None when there is no such Trigger."""
        return self.triggers.get((namespace, name))

    # ----- runs -----------------------------------------------------------------------

    def runs_in(self, namespace: str) -> Iterator[tuple[str, RunState]]:
        """(name, state) of every run in the namespace."""
        for (ns, name), state in list(self.runs.items()):
            if ns == namespace:
                yield name, state

    def runs_of_pipeline(self, namespace: str, pipeline: str) -> Iterator[tuple[str, RunState]]:
        """(name, state) of every run of one Pipeline."""
        for name, state in self.runs_in(namespace):
            if state.pipeline == pipeline:
                yield name, state

    def runs_of_trigger(self, namespace: str, trigger: str) -> Iterator[tuple[str, RunState]]:
        """(name, state) of every run a Trigger made."""
        for name, state in self.runs_in(namespace):
            if state.trigger == trigger:
                yield name, state
