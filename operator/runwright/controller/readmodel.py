"""The operator's one in-memory picture of the cluster, with small questions to ask it.

Filled from kopf's watch events; read by the run and trigger controllers and the API
endpoint through the query methods below, never through its dicts. A Pipeline is
validated once per generation here, not on every run start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.api.trigger import RunPhase
from runwright.controller.pipelines import validate_spec
from runwright.engine.concurrency import Claim, PipelineQueue, RunKey

PipelineKey = tuple[str, str]


@dataclass(slots=True)
class RunState:
    """What the operator remembers of every run, for admission, triggers and Pipeline status.

    A few fields, no body: a finished run costs this row and its index entries, not
    its frozen Pipeline and status (issue 17: about 100 KB per held run before). Rows
    are replaced, never changed in place: the indexes of `RunTable` file them by value.
    """

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

    @property
    def finished(self) -> bool:
        """Succeeded, Failed or Cancelled."""
        return not self.active


def _queued(state: RunState) -> tuple[bool, bool]:
    """(in the pipelineRunLimit queue, holding a slot): not finished, and Running."""
    return state.active, state.phase == RunPhase.RUNNING


def _drop(index: dict[Any, dict[str, RunState]], at: Any, name: str) -> None:
    bucket = index.get(at)
    if bucket is not None:
        bucket.pop(name, None)
        if not bucket:
            del index[at]


class RunTable(MutableMapping[RunKey, RunState]):
    """Every run's RunState, indexed as it changes: by namespace, pipeline and trigger.

    A plain dict to its users (and tests); every question the controllers ask of it
    (this pipeline's runs, this trigger's runs, may this run start) is answered from
    an index, never by a pass over every run.
    """

    def __init__(self) -> None:
        self._rows: dict[RunKey, RunState] = {}
        self._namespaces: dict[str, dict[str, RunState]] = {}
        self._pipelines: dict[PipelineKey, dict[str, RunState]] = {}
        self._triggers: dict[tuple[str, str], dict[str, RunState]] = {}
        self._queues: dict[PipelineKey, PipelineQueue] = {}

    def __getitem__(self, key: RunKey) -> RunState:
        return self._rows[key]

    def __iter__(self) -> Iterator[RunKey]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __setitem__(self, key: RunKey, state: RunState) -> None:
        if key in self._rows:
            self._unfile(key, self._rows[key])
        self._rows[key] = state
        namespace, name = key
        self._namespaces.setdefault(namespace, {})[name] = state
        self._pipelines.setdefault((namespace, state.pipeline), {})[name] = state
        if state.trigger is not None:
            self._triggers.setdefault((namespace, state.trigger), {})[name] = state
        queued, running = _queued(state)
        if queued:
            queue = self._queues.setdefault((namespace, state.pipeline), PipelineQueue())
            queue.add(name, state.execution_date, running=running)

    def __delitem__(self, key: RunKey) -> None:
        self._unfile(key, self._rows.pop(key))

    def _unfile(self, key: RunKey, state: RunState) -> None:
        namespace, name = key
        _drop(self._namespaces, namespace, name)
        _drop(self._pipelines, (namespace, state.pipeline), name)
        if state.trigger is not None:
            _drop(self._triggers, (namespace, state.trigger), name)
        queued, running = _queued(state)
        queue = self._queues.get((namespace, state.pipeline))
        if queued and queue is not None:
            queue.remove(name, state.execution_date, running=running)
            if not queue:
                del self._queues[(namespace, state.pipeline)]

    def in_namespace(self, namespace: str) -> Mapping[str, RunState]:
        """The runs of one namespace by name."""
        return self._namespaces.get(namespace) or {}

    def of_pipeline(self, namespace: str, pipeline: str) -> Mapping[str, RunState]:
        """The runs of one Pipeline by name."""
        return self._pipelines.get((namespace, pipeline)) or {}

    def of_trigger(self, namespace: str, trigger: str) -> Mapping[str, RunState]:
        """The runs one Trigger made, by name."""
        return self._triggers.get((namespace, trigger)) or {}

    def queue(self, namespace: str, pipeline: str) -> PipelineQueue:
        """The Pipeline's not-finished runs in pipelineRunLimit order (empty when none)."""
        return self._queues.get((namespace, pipeline)) or PipelineQueue()


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
        self.runs = RunTable()
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
        yield from list(self.runs.in_namespace(namespace).items())

    def runs_of_pipeline(self, namespace: str, pipeline: str) -> Iterator[tuple[str, RunState]]:
        """(name, state) of every run of one Pipeline."""
        yield from list(self.runs.of_pipeline(namespace, pipeline).items())

    def runs_of_trigger(self, namespace: str, trigger: str) -> Iterator[tuple[str, RunState]]:
        """(name, state) of every run a Trigger made."""
        yield from list(self.runs.of_trigger(namespace, trigger).items())
