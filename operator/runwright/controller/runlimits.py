"""pipelineRunLimit and block budgets across runs: what the reconciler asks (reconcile.Limits).

Split from runs.py (one concern per module): the answers come from the read model
and the claims, which the run controller keeps up to date; this class only reads
them, and says whom to wake when a slot or a budget frees up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from runwright import labels
from runwright.api.pipeline import PipelineSpec
from runwright.controller.config import OperatorConfig
from runwright.controller.readmodel import ReadModel
from runwright.engine.concurrency import Claim, RunKey, block_budget, capacity_wakes
from runwright.reconcile import Worker

log = logging.getLogger("runwright.runs")


class RunLimits:
    """Admission (pipelineRunLimit) and block budgets of every run of one operator."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        #: The one in-memory picture that triggers and the API endpoint query too.
        self.model = ReadModel()
        self.states = self.model.runs
        self.claims = self.model.claims
        self.namespace_limits = self.model.namespace_limits
        self.workers: dict[RunKey, Worker] = {}
        #: Catching up after a start (`hold`): runs are remembered, none is planned yet.
        self.holding = False
        #: The budgets were rebuilt from the Jobs index (once, on the first event).
        self.claims_seeded = False

    def wake(self, namespace: str, run: str) -> None:
        """Reconcile the run soon (the run controller's workers do)."""
        raise NotImplementedError

    def admitted(
        self, key: RunKey, pipeline: str, execution_date: datetime, spec: PipelineSpec | None
    ) -> bool:
        """pipelineRunLimit: may the run become active now?"""
        limit = spec.concurrency.pipeline_run_limit if spec is not None else None
        if limit is None:
            return True
        if self.holding:
            return False  # an older run may not have been seen yet
        state = self.states.get(key)
        date = state.execution_date if state is not None and state.active else execution_date
        return self.model.runs.queue(key[0], pipeline).admitted(key[1], date, limit)

    def budget(self, key: RunKey, execution_date: datetime) -> int | None:
        """How many blocks the run may start now (global and namespace budgets)."""
        return block_budget(
            key,
            execution_date,
            self.claims,
            self.config.max_concurrent_blocks,
            self.namespace_limits.get(key[0]),
        )

    def seed_claims(self, running: Mapping[RunKey, int]) -> None:
        """Budgets rebuilt on start from the Jobs that exist, before any run is planned."""
        self.claims_seeded = True
        for key, count in running.items():
            if key not in self.claims:
                state = self.states.get(key)
                date = state.execution_date if state else datetime.min.replace(tzinfo=UTC)
                self.claims[key] = Claim(key[0], date, running=count, wanted=0)

    def namespace_event(self, name: str, annotations: Mapping[str, str]) -> None:
        """A Namespace's block limit annotation (runwright.dev/max-concurrent-blocks)."""
        value = annotations.get(labels.MAX_CONCURRENT_BLOCKS)
        try:
            limit = int(value) if value is not None else None
        except ValueError:
            log.warning(
                "namespace %s: %s=%r is not a number", name, labels.MAX_CONCURRENT_BLOCKS, value
            )
            limit = None
        if limit is None:
            self.namespace_limits.pop(name, None)
        else:
            self.namespace_limits[name] = limit
        for key, claim in self.claims.items():
            if key[0] == name and claim.wanted > 0:
                self.wake(*key)

    def _wake_admission(self, namespace: str, pipeline: str, spec: PipelineSpec | None) -> None:
        """A run of `pipeline` ended: wake its oldest runs queued on pipelineRunLimit."""
        limit = spec.concurrency.pipeline_run_limit if spec is not None else None
        for name in self.model.runs.queue(namespace, pipeline).wakes(limit):
            self.wake(namespace, name)

    def _wake_for_capacity(self, freed: int) -> None:
        """Wake the oldest runs queued on a budget, as many as can use `freed` slots."""
        for key in capacity_wakes(self.claims, freed, self.namespace_limits, self.workers):
            self.wake(*key)
