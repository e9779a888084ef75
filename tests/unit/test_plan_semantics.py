"""Every semantic bullet of API.md's PipelineRun section, one behaviour per test."""

from __future__ import annotations

from datetime import timedelta

from runwright.api import BlockPhase, PipelineRunStatus, RunPhase
from runwright.engine.plan import AttemptState, Observation, PlanInput, plan
from runwright.engine.reasons import BlockReason
from tests.unit.sim import FAIL, OK, T0, Outcome, Sim, run_spec, spec

DIAMOND = """
blocks:
- {name: extract, command: [x]}
- {name: clean, command: [x], upstream: [extract]}
- {name: enrich, command: [x], upstream: [extract]}
- {name: export, command: [x], upstream: [clean, enrich]}
"""


def test_a_diamond_runs_every_block_once_in_dependency_order() -> None:
    sim = Sim(spec(DIAMOND))
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.block for s in sim.started] == ["extract", "clean", "enrich", "export"]
    assert status.progress == "4/4"
    assert all(b.attempt == 1 for b in status.blocks.values())


def test_independent_blocks_start_together() -> None:
    sim = Sim(spec(DIAMOND))
    sim.run()
    waves = [{s.block for s in p.starts} for p in sim.history if p.starts]
    assert waves == [{"extract"}, {"clean", "enrich"}, {"export"}]


def test_outputs_reach_downstream_templates_and_the_contract() -> None:
    pipeline = spec(
        """
variables: {env: prod}
blocks:
- {name: load, command: [x]}
- name: use
  command: [x]
  upstream: [load]
  args: ["--rows={{ blocks.load.outputs.rows }}", "{{ variables.env }}-{{ run.attempt }}"]
  env: [{name: TARGET, value: "{{ variables.env | upper }}"}]
"""
    )
    sim = Sim(pipeline, {"load": [Outcome(outputs={"rows": "1200"})]})
    sim.run()
    use = sim.started[1]
    assert use.args == ["--rows=1200", "prod-1"]
    assert [(e.name, e.value) for e in use.env] == [("TARGET", "PROD")]
    assert '"rows": "1200"' in use.contract["RUNWRIGHT_UPSTREAM_OUTPUTS"]
    assert use.contract["RUNWRIGHT_ATTEMPT"] == "1"
    assert use.contract["RUNWRIGHT_EXECUTION_DATE"] == "2026-11-21T02:00:00Z"


def test_numeric_block_metrics_are_summed_on_the_run() -> None:
    sim = Sim(
        spec(DIAMOND),
        {
            "clean": [Outcome(metrics={"itemsProcessed": 10})],
            "enrich": [Outcome(metrics={"itemsProcessed": 5, "cost": 0.5})],
        },
    )
    status = sim.run()
    assert status.metrics == {"itemsProcessed": 15.0, "cost": 0.5}


def test_a_false_when_makes_the_block_and_its_downstream_condition_failed() -> None:
    pipeline = spec(
        """
variables: {env: dev}
blocks:
- {name: a, command: [x]}
- name: b
  command: [x]
  upstream: [a]
  when: [{input: "{{ variables.env }}", operator: In, values: [prod]}]
- {name: c, command: [x], upstream: [b]}
- {name: d, command: [x], upstream: [a]}
"""
    )
    sim = Sim(pipeline)
    status = sim.run()
    assert sim.phases() == {
        "a": "Succeeded",
        "b": "ConditionFailed",
        "c": "ConditionFailed",
        "d": "Succeeded",
    }
    assert status.phase == RunPhase.SUCCEEDED
    assert "false" in status.blocks["b"].message
    skipped = [
        e.message for p in sim.history for e in p.events if e.reason == "BlockConditionFailed"
    ]
    assert skipped == ["b skipped: when[0] is false", "c skipped: upstream b skipped"]


def test_a_when_can_read_upstream_outputs() -> None:
    pipeline = spec(
        """
blocks:
- {name: a, command: [x]}
- name: b
  command: [x]
  upstream: [a]
  when: [{input: "{{ blocks.a.outputs.go }}", operator: Equals, values: ["yes"]}]
"""
    )
    assert Sim(pipeline, {"a": [Outcome(outputs={"go": "yes"})]}).run().blocks["b"].phase == (
        BlockPhase.SUCCEEDED
    )
    assert Sim(pipeline, {"a": [Outcome(outputs={"go": "no"})]}).run().blocks["b"].phase == (
        BlockPhase.CONDITION_FAILED
    )


def test_a_failed_block_makes_its_downstream_upstream_failed() -> None:
    pipeline = spec(
        """
failFast: false
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a]}
- {name: c, command: [x], upstream: [b]}
- {name: other, command: [x]}
"""
    )
    sim = Sim(pipeline, {"a": [FAIL]})
    status = sim.run()
    assert sim.phases() == {
        "a": "Failed",
        "b": "UpstreamFailed",
        "c": "UpstreamFailed",
        "other": "Succeeded",
    }
    assert status.phase == RunPhase.FAILED
    assert status.reason == "BlockFailed"
    assert "block a failed" in status.message


def test_without_fail_fast_independent_branches_run_to_the_end() -> None:
    pipeline = spec(
        """
failFast: false
blocks:
- {name: quick-fail, command: [x]}
- {name: slow, command: [x]}
- {name: after-slow, command: [x], upstream: [slow]}
"""
    )
    sim = Sim(pipeline, {"quick-fail": [FAIL], "slow": [Outcome(seconds=30)]})
    status = sim.run()
    assert sim.phases()["after-slow"] == "Succeeded"
    assert status.phase == RunPhase.FAILED


def test_fail_fast_cancels_running_blocks_and_stops_their_jobs() -> None:
    pipeline = spec(
        """
blocks:
- {name: quick-fail, command: [x]}
- {name: slow, command: [x]}
- {name: after-slow, command: [x], upstream: [slow]}
- {name: after-fail, command: [x], upstream: [quick-fail]}
"""
    )
    sim = Sim(pipeline, {"quick-fail": [FAIL], "slow": [Outcome(seconds=30)]})
    status = sim.run()
    assert sim.phases() == {
        "quick-fail": "Failed",
        "slow": "Cancelled",
        "after-slow": "Cancelled",
        "after-fail": "UpstreamFailed",
    }
    assert status.phase == RunPhase.FAILED
    stops = [s for p in sim.history for s in p.stops]
    assert [(s.block, s.name) for s in stops] == [("slow", "r-slow-1")]
    assert status.completed_at == T0 + timedelta(seconds=1)


def test_allow_failure_lets_downstream_start_and_the_run_succeed() -> None:
    pipeline = spec(
        """
blocks:
- {name: optional, command: [x], allowFailure: true}
- {name: next, command: [x], upstream: [optional]}
"""
    )
    sim = Sim(pipeline, {"optional": [FAIL]})
    status = sim.run()
    assert sim.phases() == {"optional": "Failed", "next": "Succeeded"}
    assert status.phase == RunPhase.SUCCEEDED


def test_a_failed_attempt_is_retried_after_the_backoff_showing_retrying() -> None:
    pipeline = spec(
        """
retry: {limit: 2, backoffSeconds: 5, backoffFactor: 3}
blocks: [{name: a, command: [x]}]
"""
    )
    sim = Sim(pipeline, {"a": [FAIL, FAIL, OK]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.blocks["a"].attempt == 3
    assert [s.name for s in sim.started] == ["r-a-1", "r-a-2", "r-a-3"]
    waits = [p for p in sim.history if p.status.blocks["a"].phase == BlockPhase.RETRYING]
    assert waits, "the block shows Retrying during the backoff"
    # attempt 1 ends at T0+1s, backoff 5s; attempt 2 ends at +7s, backoff 5*3 = 15s.
    starts = [p.status.blocks["a"].started_at for p in sim.history if p.starts]
    assert starts == [T0, T0 + timedelta(seconds=6), T0 + timedelta(seconds=22)]


def test_retries_are_capped_by_max_backoff_and_exhausted_retries_fail() -> None:
    pipeline = spec(
        """
retry: {limit: 3, backoffSeconds: 100, backoffFactor: 10, maxBackoffSeconds: 120}
blocks: [{name: a, command: [x], retry: {limit: 1}}]
"""
    )
    sim = Sim(pipeline, {"a": [FAIL]})
    status = sim.run()
    assert status.blocks["a"].attempt == 2  # the block's own limit wins
    assert status.blocks["a"].phase == BlockPhase.FAILED
    assert status.blocks["a"].started_at == T0 + timedelta(seconds=101)


def test_a_block_over_its_timeout_is_stopped_and_fails_with_reason_timeout() -> None:
    pipeline = spec("blocks: [{name: a, command: [x], timeoutSeconds: 5}]")
    sim = Sim(pipeline, {"a": [Outcome(seconds=60)]})
    status = sim.run()
    assert status.blocks["a"].phase == BlockPhase.FAILED
    assert status.blocks["a"].reason == "Timeout"
    assert [s.reason for p in sim.history for s in p.stops] == ["Timeout"]
    assert status.completed_at == T0 + timedelta(seconds=5)


def test_a_timed_out_attempt_is_retried() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x], timeoutSeconds: 5, retry: {limit: 1, backoffSeconds: 0}}]"
    )
    sim = Sim(pipeline, {"a": [Outcome(seconds=60), OK]})
    assert sim.run().phase == RunPhase.SUCCEEDED
    assert sim.status.blocks["a"].attempt == 2


def test_a_run_over_its_timeout_ends_with_timeout_status() -> None:
    for timeout_status, phase in (("Failed", RunPhase.FAILED), ("Cancelled", RunPhase.CANCELLED)):
        pipeline = spec(
            f"""
timeoutSeconds: 10
timeoutStatus: {timeout_status}
blocks: [{{name: a, command: [x]}}, {{name: b, command: [x], upstream: [a]}}]
"""
        )
        sim = Sim(pipeline, {"a": [Outcome(seconds=60)]})
        status = sim.run()
        assert status.phase == phase
        assert status.reason == "Timeout"
        assert status.timed_out
        assert sim.phases() == {"a": "Cancelled", "b": "Cancelled"}
        assert status.completed_at == T0 + timedelta(seconds=10)
        assert any(e.reason == "TimedOut" for p in sim.history for e in p.events)


def test_the_runs_own_timeout_overrides_the_pipelines() -> None:
    pipeline = spec("timeoutSeconds: 1000\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline, {"a": [Outcome(seconds=60)]}, spec=run_spec(timeoutSeconds=30))
    assert sim.run().completed_at == T0 + timedelta(seconds=30)


def test_cancel_stops_running_jobs_and_cancels_unfinished_blocks() -> None:
    pipeline = spec(DIAMOND)
    sim = Sim(pipeline, {"extract": [Outcome(seconds=100)]})
    sim.step()
    sim.spec = run_spec(cancel=True)
    result = sim.step()
    assert result.status.phase == RunPhase.CANCELLED
    assert result.status.reason == "Cancelled"
    assert [s.name for s in result.stops] == ["r-extract-1"]
    assert set(sim.phases().values()) == {"Cancelled"}
    assert [e.reason for e in result.events] == ["RunCancelled"]


def test_cancel_before_start_never_starts_anything() -> None:
    sim = Sim(spec(DIAMOND), spec=run_spec(cancel=True))
    result = sim.step()
    assert result.status.phase == RunPhase.CANCELLED
    assert not result.starts


def test_retry_incomplete_reruns_every_block_not_succeeded_and_counts_attempts_on() -> None:
    pipeline = spec(
        """
failFast: false
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a]}
- {name: c, command: [x]}
"""
    )
    sim = Sim(pipeline, {"b": [FAIL, OK]})
    assert sim.run().phase == RunPhase.FAILED
    sim.spec = run_spec(retry={"id": "1", "mode": "Incomplete"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.retry_id == "1"
    assert [s.name for s in sim.started] == ["r-a-1", "r-c-1", "r-b-1", "r-b-2"]
    # The same id is not a new request.
    assert not sim.step().starts


def test_retry_from_block_reruns_it_and_everything_downstream() -> None:
    sim = Sim(spec(DIAMOND))
    assert sim.run().phase == RunPhase.SUCCEEDED
    sim.spec = run_spec(retry={"id": "x", "mode": "FromBlock", "fromBlock": "clean"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    reruns = [s.name for s in sim.started[4:]]
    assert reruns == ["r-clean-2", "r-export-2"]
    assert status.blocks["enrich"].attempt == 1


def test_retry_from_an_unknown_block_is_rejected_with_a_condition() -> None:
    sim = Sim(spec(DIAMOND))
    sim.run()
    sim.spec = run_spec(retry={"id": "2", "mode": "FromBlock", "fromBlock": "clen"})
    result = sim.step()
    assert result.status.phase == RunPhase.SUCCEEDED
    cond = next(c for c in result.status.conditions if c.type == "RetryAccepted")
    assert cond.status == "False"
    assert 'did you mean "clean"' in cond.message


def test_block_run_limit_queues_the_rest_and_starts_them_oldest_first() -> None:
    pipeline = spec(
        """
concurrency: {blockRunLimit: 2}
blocks: [{name: a, command: [x]}, {name: b, command: [x]}, {name: c, command: [x]},
         {name: d, command: [x]}]
"""
    )
    sim = Sim(pipeline, {"a": [Outcome(seconds=5)], "b": [Outcome(seconds=10)]})
    first = sim.step()
    assert [s.block for s in first.starts] == ["a", "b"]
    assert first.status.blocks["c"].phase == BlockPhase.QUEUED
    assert first.status.blocks["c"].reason == "BlockRunLimit"
    sim.run()
    assert [s.block for s in sim.started] == ["a", "b", "c", "d"]
    running_counts = [
        sum(1 for b in p.status.blocks.values() if b.phase == BlockPhase.RUNNING)
        for p in sim.history
    ]
    assert max(running_counts) == 2


def test_a_zero_budget_queues_ready_blocks_with_reason_concurrency_limit() -> None:
    sim = Sim(spec(DIAMOND), budget=lambda now: 0 if now < T0 + timedelta(seconds=50) else None)
    result = sim.step()
    assert not result.starts
    assert result.status.blocks["extract"].phase == BlockPhase.QUEUED
    assert result.status.blocks["extract"].reason == "ConcurrencyLimit"


def test_a_run_not_admitted_waits_queued_or_is_skipped() -> None:
    wait = Sim(spec("blocks: [{name: a, command: [x]}]"), admitted=False)
    result = wait.step()
    assert result.status.phase == RunPhase.QUEUED
    assert result.status.reason == "ConcurrencyLimit"
    assert not result.starts
    wait.admitted = True
    assert wait.run().phase == RunPhase.SUCCEEDED

    skip = Sim(
        spec("concurrency: {onLimit: Skip}\nblocks: [{name: a, command: [x]}]"), admitted=False
    )
    result = skip.step()
    assert result.status.phase == RunPhase.CANCELLED
    assert result.status.reason == "ConcurrencyLimit"


def test_sla_missed_is_flagged_once_with_an_event_while_the_run_goes_on() -> None:
    pipeline = spec("slaSeconds: 10\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline, {"a": [Outcome(seconds=30)]})
    status = sim.run()
    assert status.sla_missed
    assert status.phase == RunPhase.SUCCEEDED
    events = [e for p in sim.history for e in p.events if e.reason == "SLAMissed"]
    assert len(events) == 1


def test_a_run_finishing_within_its_sla_is_not_flagged() -> None:
    pipeline = spec("slaSeconds: 100\nblocks: [{name: a, command: [x]}]")
    assert not Sim(pipeline).run().sla_missed


def test_variables_resolve_pipeline_then_trigger_then_run() -> None:
    pipeline = spec("variables: {a: p, b: p, c: p}\nblocks: [{name: x, command: [x]}]")
    inp = PlanInput(
        run_name="r",
        spec=run_spec(variables={"c": "run"}),
        status=PipelineRunStatus(),
        now=T0,
        created_at=T0,
        pipeline=pipeline,
        trigger_variables={"b": "trigger", "c": "trigger"},
    )
    assert plan(inp).status.variables == {"a": "p", "b": "trigger", "c": "run"}


def test_the_spec_is_frozen_at_start_and_later_pipeline_edits_do_not_apply() -> None:
    sim = Sim(spec("blocks: [{name: a, command: [x], args: [one]}]"), {"a": [FAIL]})
    sim.step()
    sim.pipeline = spec("blocks: [{name: a, command: [x], args: [two]}, {name: b, command: [x]}]")
    sim.run()
    assert set(sim.status.blocks) == {"a"}
    assert sim.started[0].args == ["one"]


def test_an_invalid_pipeline_fails_the_run_with_a_condition_naming_the_field() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x], upstream: [lod]}, {name: load, command: [x]}]"
    )
    result = Sim(pipeline).step()
    assert result.status.phase == RunPhase.FAILED
    assert result.status.reason == "InvalidPipeline"
    assert 'did you mean "load"' in result.status.message
    cond = next(c for c in result.status.conditions if c.type == "PipelineValid")
    assert cond.reason == "UnknownUpstream"


def test_a_missing_pipeline_waits_briefly_then_fails() -> None:
    inp = PlanInput(
        run_name="r", spec=run_spec(), status=PipelineRunStatus(), now=T0, created_at=T0
    )
    waiting = plan(inp)
    assert waiting.status.phase is None
    assert waiting.status.reason == "PipelineNotFound"
    assert waiting.wake_at == T0 + timedelta(seconds=30)
    later = plan(
        PlanInput(
            run_name="r",
            spec=run_spec(),
            status=waiting.status,
            now=T0 + timedelta(seconds=30),
            created_at=T0,
        )
    )
    assert later.status.phase == RunPhase.FAILED
    assert "does not exist" in later.status.message


def test_a_job_that_disappears_fails_the_attempt_with_job_deleted_and_is_retried() -> None:
    pipeline = spec("blocks: [{name: a, command: [x], retry: {limit: 1, backoffSeconds: 5}}]")
    sim = Sim(pipeline)
    sim.step()
    result = plan(
        PlanInput(
            run_name="r",
            spec=sim.spec,
            status=sim.status,
            now=T0 + timedelta(seconds=1),
            created_at=T0,
            observed={},
        )
    )
    block = result.status.blocks["a"]
    assert block.phase == BlockPhase.RETRYING
    assert block.reason == "JobDeleted"


def test_a_start_whose_status_write_was_lost_is_adopted_not_repeated() -> None:
    sim = Sim(spec("blocks: [{name: a, command: [x]}]"))
    lost = sim.step()
    assert lost.starts
    # The status patch never happened: plan again from the old (empty-block) status.
    inp = PlanInput(
        run_name="r",
        spec=sim.spec,
        status=lost.status.model_copy(
            update={
                "blocks": {
                    "a": lost.status.blocks["a"].model_copy(
                        update={"phase": BlockPhase.PENDING, "attempt": 0, "job": None}
                    )
                }
            }
        ),
        now=T0,
        created_at=T0,
        observed={"a": Observation(1, AttemptState.RUNNING, started_at=T0)},
    )
    again = plan(inp)
    assert not again.starts
    assert again.status.blocks["a"].phase == BlockPhase.RUNNING
    assert again.status.blocks["a"].attempt == 1


def test_a_live_attempt_of_a_block_that_is_not_running_is_stopped() -> None:
    sim = Sim(spec(DIAMOND), {"extract": [Outcome(seconds=100)]})
    sim.step()
    sim.spec = run_spec(cancel=True)
    cancelled = sim.step()
    # The stop was lost; the Job still runs. The next reconcile stops it again.
    again = plan(
        PlanInput(
            run_name="r",
            spec=sim.spec,
            status=cancelled.status,
            now=T0,
            created_at=T0,
            observed={"extract": Observation(1, AttemptState.RUNNING)},
        )
    )
    assert [s.name for s in again.stops] == ["r-extract-1"]


def test_every_transition_posts_an_event() -> None:
    pipeline = spec("retry: {limit: 1, backoffSeconds: 1}\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline, {"a": [FAIL, OK]})
    sim.run()
    reasons = [e.reason for p in sim.history for e in p.events]
    assert reasons == [
        "RunStarted",
        "BlockStarted",
        "BlockRetrying",
        "BlockStarted",
        "BlockSucceeded",
        "RunSucceeded",
    ]


def test_retention_deletes_a_finished_run_after_its_phase_ttl() -> None:
    pipeline = spec("retention: {succeededSeconds: 60}\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline)
    status = sim.run()
    last = sim.history[-1]
    assert last.wake_at == status.completed_at + timedelta(seconds=60)  # type: ignore[operator]
    sim.now = last.wake_at
    assert sim.step().delete


def test_duration_and_progress_are_reported() -> None:
    sim = Sim(spec(DIAMOND), {"extract": [Outcome(seconds=4)]})
    status = sim.run()
    assert status.duration_seconds == 6
    assert status.progress == "4/4"
    assert sim.history[0].status.progress == "0/4"


def test_a_rerun_repeats_the_source_runs_frozen_spec_variables_and_date() -> None:
    source = Sim(
        spec("variables: {v: old}\nblocks: [{name: a, command: [x], args: ['{{ variables.v }}']}]")
    )
    source.spec = run_spec(executionDate="2026-01-01T00:00:00Z", variables={"v": "run"})
    source_status = source.run()
    edited = spec("variables: {v: new}\nblocks: [{name: b, command: [x]}]")
    inp = PlanInput(
        run_name="r2",
        spec=run_spec(rerunOf={"name": "r"}, triggeredBy="Rerun"),
        status=PipelineRunStatus(),
        now=T0,
        created_at=T0,
        pipeline=edited,
        rerun_source=source_status,
    )
    result = plan(inp)
    assert set(result.status.blocks) == {"a"}
    assert result.status.variables == {"v": "run"}
    assert result.status.execution_date == source_status.execution_date
    assert [s.args for s in result.starts] == [["run"]]


def test_a_rerun_of_a_missing_run_fails_naming_the_field() -> None:
    inp = PlanInput(
        run_name="r2",
        spec=run_spec(rerunOf={"name": "gone"}),
        status=PipelineRunStatus(),
        now=T0,
        created_at=T0,
        pipeline=spec("blocks: [{name: a, command: [x]}]"),
    )
    result = plan(inp)
    assert result.status.phase == RunPhase.FAILED
    assert result.status.reason == "InvalidRerun"
    assert 'spec.rerunOf.name: PipelineRun "gone" does not exist' in result.status.message


FAN = """
concurrency: {blockRunLimit: 3}
blocks:
- {name: a, command: [x]}
- {name: b, command: [x]}
- {name: c, command: [x]}
- {name: d, command: [x]}
"""


def test_the_plan_says_which_blocks_wait_on_the_global_or_namespace_budget() -> None:
    result = Sim(spec(FAN), budget=lambda _now: 1).step()
    assert [s.block for s in result.starts] == ["a"]
    assert result.running == 1
    assert result.queued_on_budget == ["b", "c", "d"]


def test_blocks_queued_on_the_run_limit_do_not_claim_the_budget() -> None:
    result = Sim(spec(FAN), budget=lambda _now: 10).step()
    assert result.running == 3
    assert result.status.blocks["d"].reason == BlockReason.BLOCK_RUN_LIMIT
    assert result.queued_on_budget == []


def test_a_start_carries_the_whole_pod_intent() -> None:
    pipeline = spec(
        """
template:
  image: base:1
  serviceAccountName: etl
  nodeSelector: {pool: batch}
  labels: {team: data, tier: low}
  annotations: {note: template}
  resources: {limits: {cpu: "1"}}
blocks:
- {name: a, command: [x], labels: {tier: high}, annotations: {note: block}}
- {name: b, command: [x], resources: {limits: {cpu: "2"}}}
"""
    )
    starts = {s.block: s for s in Sim(pipeline).step().starts}
    a, b = starts["a"], starts["b"]
    assert a.labels == {"team": "data", "tier": "high"}
    assert a.annotations == {"note": "block"}
    assert a.resources == {"limits": {"cpu": "1"}}
    assert b.labels == {"team": "data", "tier": "low"}
    assert b.resources == {"limits": {"cpu": "2"}}
    assert a.pod_template.service_account_name == "etl"
    assert a.pod_template.node_selector == {"pool": "batch"}


def test_a_template_that_fails_to_render_fails_the_block_without_spending_retries() -> None:
    pipeline = spec(
        """
retry: {limit: 3}
blocks:
- {name: load, command: [x]}
- {name: use, command: [x], upstream: [load], args: ["{{ blocks.load.outputs.rows }}"]}
"""
    )
    status = Sim(pipeline).run()  # load succeeds without writing the output `rows`
    use = status.blocks["use"]
    assert (use.phase, use.reason, use.retries) == (
        BlockPhase.FAILED,
        BlockReason.INVALID_TEMPLATE,
        0,
    )
    assert status.phase == RunPhase.FAILED
