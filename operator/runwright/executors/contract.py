"""The one contract between a run's reconcile and the place its blocks run.

Jobs in a cluster and processes on this machine are two `Executor`s; the reconcile
(runwright/reconcile.py) cannot tell them apart. Both start an attempt under its
deterministic name (starting it again is a no-op), report the latest attempt of each
block as an engine `Observation` judged by the one verdict (engine/verdict.py), and
give every attempt the same environment by the one precedence rule below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from runwright import labels
from runwright.api.pipeline import EnvVar
from runwright.engine.plan import Observation, StartBlock


@dataclass(frozen=True)
class RunRef:
    """The PipelineRun whose blocks an executor runs: what an attempt's metadata needs of it."""

    namespace: str
    name: str
    uid: str
    pipeline: str
    trigger: str | None = None


class Executor(Protocol):
    """Where blocks run, as the reconcile sees it (Jobs, or local processes)."""

    def observe(self, run: RunRef) -> dict[str, Observation]:
        """The latest attempt of each block of the run."""

    def recheck_at(self, run: RunRef) -> datetime | None:
        """When to look again even if no event comes (e.g. a finished Job whose pod vanished)."""

    async def start(self, run: RunRef, action: StartBlock) -> None:
        """Start an attempt; an attempt that exists already is success."""

    async def stop(self, run: RunRef, name: str) -> None:
        """Stop an attempt; one that is gone already is success."""

    async def forget(self, run: RunRef) -> None:
        """The run is deleted: drop what is kept for it."""


def attempt_environment(action: StartBlock, output_path: str) -> list[EnvVar]:
    """An attempt's environment, in order: the contract (API.md), then the block's own.

    The contract variables and RUNWRIGHT_OUTPUT_PATH cannot be overridden by the
    block's env: a block that set RUNWRIGHT_BLOCK would lie about itself, and one
    that moved RUNWRIGHT_OUTPUT_PATH would lose its outputs. Same rule for a Job's
    container and a local process.
    """
    reserved = {*action.contract, labels.ENV_OUTPUT_PATH}
    env = [EnvVar(name=name, value=value) for name, value in action.contract.items()]
    env.append(EnvVar(name=labels.ENV_OUTPUT_PATH, value=output_path))
    env.extend(var for var in action.env if var.name not in reserved)
    return env
