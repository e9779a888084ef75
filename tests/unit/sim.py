"""A scripted executor and a clock for driving `plan()` to the end in unit tests.

Each block gets a script of attempt outcomes; the driver calls plan, "runs" the starts,
advances the clock to the earliest finish or wake-up, and repeats until the run ends.
Every call's result is kept so tests can assert on the whole history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from runwright.api import BlockPhase, PipelineRunSpec, PipelineRunStatus, PipelineSpec
from runwright.api.pipeline import Block
from runwright.api.run import BlockStatus
from runwright.engine.plan import AttemptState, Observation, Plan, PlanInput, StartBlock, plan

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ends: after `seconds`, with `exit_code` (0 = success)."""

    seconds: float = 1.0
    exit_code: int = 0
    outputs: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""


OK = Outcome()
FAIL = Outcome(exit_code=1, message="boom")


def satisfies_downstream(block: Block, status: BlockStatus) -> bool:
    """The test's own oracle: a downstream block may start as far as this upstream goes.

    Written from API.md, apart from the engine's rules, so the property test checks the
    engine against the contract and not against itself.
    """
    return status.phase == BlockPhase.SUCCEEDED or (
        status.phase == BlockPhase.FAILED and block.allow_failure
    )


def spec(text: str) -> PipelineSpec:
    """A PipelineSpec from the YAML of its `spec:` body."""
    return PipelineSpec.model_validate(yaml.safe_load(text))


def run_spec(**fields: Any) -> PipelineRunSpec:
    return PipelineRunSpec.model_validate({"pipelineRef": {"name": "p"}, **fields})


@dataclass
class _Live:
    attempt: int
    started: datetime
    ends: datetime
    outcome: Outcome
    killed: bool = False


class Sim:
    """Drives one run through plan() with scripted outcomes."""

    def __init__(
        self,
        pipeline: PipelineSpec,
        scripts: Mapping[str, list[Outcome]] | None = None,
        *,
        spec: PipelineRunSpec | None = None,
        budget: Callable[[datetime], int | None] | None = None,
        admitted: bool = True,
    ) -> None:
        self.pipeline: PipelineSpec | None = pipeline
        """The live Pipeline each reconcile sees (a test may edit or delete it)."""
        self.pipeline_generation: int | None = None
        self.scripts = dict(scripts or {})
        self.spec = spec or run_spec()
        self.status = PipelineRunStatus()
        self.now = T0
        self.budget = budget or (lambda _now: None)
        self.admitted = admitted
        self.live: dict[str, _Live] = {}
        self.finished: dict[str, Observation] = {}
        self.history: list[Plan] = []
        self.started: list[StartBlock] = []

    def outcome(self, block: str, attempt: int) -> Outcome:
        # A fan-out item's script is keyed "<block>/<index>", else its block's applies.
        script = self.scripts.get(block) or self.scripts.get(block.split("/")[0], [OK])
        return script[min(attempt, len(script)) - 1]

    def observed(self) -> dict[str, Observation]:
        out = dict(self.finished)
        for name, live in self.live.items():
            if live.killed:
                continue
            if live.ends <= self.now:
                o = live.outcome
                out[name] = Observation(
                    attempt=live.attempt,
                    state=AttemptState.SUCCEEDED if o.exit_code == 0 else AttemptState.FAILED,
                    started_at=live.started,
                    finished_at=live.ends,
                    exit_code=o.exit_code,
                    reason="" if o.exit_code == 0 else "Error",
                    message=o.message,
                    outputs=o.outputs,
                    metrics=o.metrics,
                )
            else:
                out[name] = Observation(live.attempt, AttemptState.RUNNING, started_at=live.started)
        return out

    def step(self) -> Plan:
        """One reconcile: plan, then carry out the actions."""
        inp = PlanInput(
            run_name="r",
            spec=self.spec,
            status=self.status,
            now=self.now,
            created_at=T0,
            pipeline=self.pipeline,
            pipeline_generation=self.pipeline_generation,
            observed=self.observed(),
            admitted=self.admitted,
            budget=self.budget(self.now),
        )
        result = plan(inp)
        self.history.append(result)
        for stop in result.stops:
            live = self.live.get(stop.key)
            if live is not None and live.attempt == stop.attempt:
                live.killed = True
                self.finished[stop.key] = Observation(
                    stop.attempt, AttemptState.FAILED, exit_code=137, reason="Killed"
                )
        for start in result.starts:
            outcome = self.outcome(start.key, start.attempt)
            self.finished.pop(start.key, None)
            self.live[start.key] = _Live(
                start.attempt, self.now, self.now + timedelta(seconds=outcome.seconds), outcome
            )
            self.started.append(start)
        self.status = result.status
        return result

    def advance(self, wake_at: datetime | None) -> bool:
        """Move the clock to the next thing that happens; False when nothing will."""
        ends = [lv.ends for lv in self.live.values() if not lv.killed and lv.ends > self.now]
        candidates = [*ends, *([wake_at] if wake_at is not None else [])]
        pending = [
            name
            for name, lv in self.live.items()
            if not lv.killed and lv.ends <= self.now and self._running(name, lv.attempt)
        ]
        if not candidates:
            return bool(pending)
        self.now = max(self.now, min(candidates))
        return True

    def run(self, max_steps: int = 10_000) -> PipelineRunStatus:
        """Reconcile until the run is finished (and nothing more is planned)."""
        for _ in range(max_steps):
            result = self.step()
            phase = self.status.phase
            if phase is not None and phase.finished and not result.starts:
                return self.status
            if not result.starts and not self.advance(result.wake_at):
                raise AssertionError(f"run is stuck in {phase}: {self.status.blocks}")
            if result.starts:
                continue
        raise AssertionError("run did not finish")

    def _running(self, key: str, attempt: int) -> bool:
        """The status holds this attempt as Running (a block's, or a fan-out item's)."""
        block, _, index = key.partition("/")
        st = self.status.blocks.get(block)  # a retry may drop blocks gone from the Pipeline
        if st is None:
            return False
        if index:
            items = st.items
            i = int(index)
            return items is not None and items.phases[i] == "R" and items.attempts[i] == attempt
        return st.phase == "Running" and st.attempt == attempt

    def phases(self) -> dict[str, str]:
        return {name: str(b.phase) for name, b in self.status.blocks.items()}
