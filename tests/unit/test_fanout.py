"""Fan-out (a block's forEach), one behaviour per test: items, their attempt chains, limits.

Driven through `plan()` with the scripted executor of tests/unit/sim.py; an item's script
is keyed "<block>/<index>" (else the block's script applies to every item).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runwright.api import BlockPhase, PipelineRunStatus, RunPhase
from runwright.api.fanout import ITEM_DETAIL, MAX_ITEMS
from runwright.engine import naming, templating
from runwright.engine.plan import PlanInput, plan
from runwright.engine.reasons import BlockReason, StopReason
from tests.unit.sim import FAIL, OK, T0, Outcome, Sim, run_spec, spec

LITERAL = """
blocks:
- name: each
  command: [x]
  args: ["{{ item }}", "{{ item.index }}"]
  forEach: {items: '["a", "b", "c"]'}
- {name: after, command: [x], upstream: [each], args: ["{{ blocks.each.outputs.n }}"]}
"""


def echo(key: str) -> Outcome:
    """An item that reports its own key as output `n`."""
    return Outcome(outputs={"n": key})


def fanout(items: str, extra: str = "", after: bool = True) -> str:
    text = f"""
blocks:
- name: each
  command: [x]
  args: ["{{{{ item }}}}"]
  forEach: {{items: '{items}'{extra}}}
"""
    if after:
        text += "- {name: after, command: [x], upstream: [each]}\n"
    return text


def test_each_item_runs_with_item_and_index_in_its_templates_and_contract() -> None:
    sim = Sim(spec(LITERAL), {"each": [Outcome(outputs={"n": "1"})]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    items = [s for s in sim.started if s.block == "each"]
    assert [s.args for s in items] == [["a", "0"], ["b", "1"], ["c", "2"]]
    assert [s.name for s in items] == ["r-each-0-1", "r-each-1-1", "r-each-2-1"]
    assert [s.item for s in items] == [0, 1, 2]
    assert [(s.contract["RUNWRIGHT_ITEM"], s.contract["RUNWRIGHT_ITEM_INDEX"]) for s in items] == [
        ("a", "0"),
        ("b", "1"),
        ("c", "2"),
    ]
    assert status.blocks["each"].items is not None
    assert status.blocks["each"].items.counts == {"Succeeded": 3}
    assert status.progress == "2/2"


def test_downstream_sees_each_output_as_a_json_list_in_item_order() -> None:
    # Items finish in reverse order; the list is still in item order.
    scripts = {f"each/{i}": [Outcome(seconds=10 - i, outputs={"n": f"v{i}"})] for i in range(3)}
    sim = Sim(spec(LITERAL), scripts)
    sim.run()
    after = next(s for s in sim.started if s.block == "after")
    assert json.loads(after.args[0]) == ["v0", "v1", "v2"]
    upstream = json.loads(after.contract["RUNWRIGHT_UPSTREAM_OUTPUTS"])
    assert json.loads(upstream["each"]["n"]) == ["v0", "v1", "v2"]


def test_items_come_from_an_upstream_output_rendered_as_a_json_list() -> None:
    pipeline = spec(
        """
blocks:
- {name: list, command: [x]}
- name: each
  command: [x]
  upstream: [list]
  args: ["{{ item.path }}-{{ item.index }}"]
  forEach: {items: "{{ blocks.list.outputs.files }}"}
"""
    )
    files = json.dumps([{"path": "a.csv"}, {"path": "b.csv"}])
    sim = Sim(pipeline, {"list": [Outcome(outputs={"files": files})]})
    assert sim.run().phase == RunPhase.SUCCEEDED
    assert [s.args for s in sim.started if s.block == "each"] == [["a.csv-0"], ["b.csv-1"]]
    # An object item renders whole as its JSON.
    assert [s.contract["RUNWRIGHT_ITEM"] for s in sim.started if s.block == "each"] == [
        '{"path":"a.csv"}',
        '{"path":"b.csv"}',
    ]


def test_an_empty_list_succeeds_at_once_and_downstream_runs() -> None:
    sim = Sim(spec(fanout("[]")))
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.block for s in sim.started] == ["after"]


def test_each_item_is_retried_on_its_own_and_attempt_numbers_name_its_pods() -> None:
    pipeline = spec(fanout('["a", "b"]', after=False) + "retry: {limit: 2, backoffSeconds: 5}\n")
    sim = Sim(pipeline, {"each/1": [FAIL, FAIL, OK]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == ["r-each-0-1", "r-each-1-1", "r-each-1-2", "r-each-1-3"]
    items = status.blocks["each"].items
    assert items is not None and items.attempts == [1, 3]
    retry_starts = [p for p in sim.history if any(s.name == "r-each-1-2" for s in p.starts)]
    assert retry_starts and retry_starts[0].status.blocks["each"].phase == BlockPhase.RUNNING


def test_a_failure_past_allow_failures_fails_the_block_and_stops_its_other_items() -> None:
    scripts = {"each/0": [Outcome(seconds=1, exit_code=1, message="bad file")]}
    scripts |= {f"each/{i}": [Outcome(seconds=100)] for i in (1, 2)}
    sim = Sim(spec(fanout('["a", "b", "c"]') + "failFast: false\n"), scripts)
    status = sim.run()
    each = status.blocks["each"]
    assert status.phase == RunPhase.FAILED
    assert each.phase == BlockPhase.FAILED and each.reason == BlockReason.ITEMS_FAILED
    assert "1 of 3 items failed" in each.message and "bad file" in each.message
    assert each.items is not None and each.items.phases == "FCC"
    stops = [s for p in sim.history for s in p.stops]
    assert {(s.key, s.reason) for s in stops} == {
        ("each/1", StopReason.FAIL_FAST),
        ("each/2", StopReason.FAIL_FAST),
    }
    assert status.blocks["after"].phase == BlockPhase.UPSTREAM_FAILED
    assert status.failed_block == "each"


def test_allowed_failures_let_the_block_succeed_and_downstream_sees_null() -> None:
    pipeline = spec(
        LITERAL.replace(
            'forEach: {items: \'["a", "b", "c"]\'}',
            'forEach: {items: \'["a", "b", "c"]\', allowFailures: 1}',
        )
    )
    scripts = {f"each/{i}": [echo(f"each/{i}")] for i in (0, 2)} | {"each/1": [FAIL]}
    sim = Sim(pipeline, scripts)
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.blocks["each"].phase == BlockPhase.SUCCEEDED
    assert status.blocks["each"].items is not None
    assert status.blocks["each"].items.counts == {"Succeeded": 2, "Failed": 1}
    assert [f.index for f in status.blocks["each"].items.failed] == [1]
    after = next(s for s in sim.started if s.block == "after")
    assert json.loads(after.args[0]) == ["each/0", None, "each/2"]


def test_an_item_over_its_timeout_is_stopped_and_retried_alone() -> None:
    pipeline = spec(
        fanout('["a", "b"]', after=False) + "retry: {limit: 1, backoffSeconds: 1}\n"
    ).model_copy()
    pipeline.blocks[0] = pipeline.blocks[0].model_copy(update={"timeout_seconds": 30})
    sim = Sim(pipeline, {"each/1": [Outcome(seconds=100), OK]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    stops = [s for p in sim.history for s in p.stops]
    assert [(s.name, s.reason) for s in stops] == [("r-each-1-1", StopReason.TIMEOUT)]
    assert status.blocks["each"].items is not None
    assert status.blocks["each"].items.attempts == [1, 2]


def test_cancel_mid_fan_out_stops_the_running_items_and_cancels_the_rest() -> None:
    pipeline = spec(fanout('["a", "b", "c", "d"]', ", maxParallel: 2"))
    sim = Sim(pipeline, {"each": [Outcome(seconds=100)]})
    sim.step()
    assert [s.key for s in sim.history[-1].starts] == ["each/0", "each/1"]
    sim.spec = run_spec(cancel=True)
    sim.now += timedelta(seconds=5)
    result = sim.step()
    assert {(s.name, s.reason) for s in result.stops} == {
        ("r-each-0-1", StopReason.CANCELLED),
        ("r-each-1-1", StopReason.CANCELLED),
    }
    each = result.status.blocks["each"]
    assert result.status.phase == RunPhase.CANCELLED
    assert each.phase == BlockPhase.CANCELLED
    assert each.items is not None and each.items.phases == "CCCC"
    assert not result.starts


def test_max_parallel_bounds_the_items_in_flight() -> None:
    pipeline = spec(fanout(json.dumps(list(range(7))), ", maxParallel: 3", after=False))
    sim = Sim(pipeline, {"each": [Outcome(seconds=1)]})
    sim.run()
    waves = [len(p.starts) for p in sim.history if p.starts]
    assert waves == [3, 3, 1]


def test_block_run_limit_and_the_global_budget_count_items_like_blocks() -> None:
    pipeline = spec(
        fanout(json.dumps(list(range(6))), after=False) + "concurrency: {blockRunLimit: 4}\n"
    )
    sim = Sim(pipeline, {"each": [Outcome(seconds=1)]}, budget=lambda _now: 2)
    first = sim.step()
    assert len(first.starts) == 2
    assert first.running == 2
    assert first.queued_on_budget == ["each"] * 4
    limited = Sim(pipeline, {"each": [Outcome(seconds=1)]})
    assert len(limited.step().starts) == 4


def test_incomplete_retry_reruns_only_the_failed_items_and_attempts_go_on() -> None:
    pipeline = spec(fanout('["a", "b", "c"]', after=False))
    sim = Sim(pipeline, {"each/1": [FAIL, OK]})
    assert sim.run().phase == RunPhase.FAILED
    sim.spec = run_spec(retry={"id": "1", "mode": "Incomplete"})
    sim.started.clear()
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == ["r-each-1-2"]
    assert status.blocks["each"].items is not None
    assert status.blocks["each"].items.attempts == [1, 2, 1]


def test_from_block_retry_renders_the_items_again_with_fresh_attempt_numbers() -> None:
    pipeline = spec(fanout('["a", "b"]'))
    sim = Sim(pipeline, {"after": [FAIL, OK]})
    assert sim.run().phase == RunPhase.FAILED
    sim.spec = run_spec(retry={"id": "1", "mode": "FromBlock", "fromBlock": "each"})
    sim.started.clear()
    assert sim.run().phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == ["r-each-0-2", "r-each-1-2", "r-after-2"]


def test_items_that_are_not_a_json_list_fail_the_block_naming_the_field() -> None:
    pipeline = spec(
        """
blocks:
- {name: list, command: [x]}
- {name: each, command: [x], upstream: [list], forEach: {items: "{{ blocks.list.outputs.files }}"}}
"""
    )
    sim = Sim(pipeline, {"list": [Outcome(outputs={"files": '{"a": 1}'})]})
    status = sim.run()
    each = status.blocks["each"]
    assert each.phase == BlockPhase.FAILED and each.reason == BlockReason.INVALID_ITEMS
    assert each.message == "block each: forEach.items is a JSON dict; it must be a JSON list"


def test_a_list_over_the_cap_fails_with_too_many_items() -> None:
    pipeline = spec(
        """
blocks:
- {name: list, command: [x]}
- {name: each, command: [x], upstream: [list], forEach: {items: "{{ blocks.list.outputs.files }}"}}
"""
    )
    files = json.dumps(list(range(MAX_ITEMS + 1)))
    sim = Sim(pipeline, {"list": [Outcome(outputs={"files": files})]})
    each = sim.run().blocks["each"]
    assert each.reason == BlockReason.TOO_MANY_ITEMS
    assert each.message.startswith(f"block each: forEach.items: {MAX_ITEMS + 1:,} items is over")


def test_a_5000_item_fan_out_keeps_the_status_small() -> None:
    n = 5000
    failing = {f"each/{i}": [FAIL] for i in range(0, n, 100)}
    pipeline = spec(
        fanout(
            json.dumps([f"file-{i:05d}.csv" for i in range(n)]), ", allowFailures: 60", after=False
        )
    )
    sim = Sim(pipeline, {"each": [Outcome(seconds=1, outputs={"rows": "1200"})], **failing})
    status = sim.run(max_steps=100_000)
    items = status.blocks["each"].items
    assert status.phase == RunPhase.SUCCEEDED
    assert items is not None and items.counts == {"Succeeded": n - 50, "Failed": 50}
    assert len(items.failed) == ITEM_DETAIL
    size = len(json.dumps(status.dump(), separators=(",", ":")))
    assert size < 512 * 1024, size


def test_templates_may_name_item_only_in_a_fan_out_blocks_args_and_env() -> None:
    pipeline = spec(
        """
blocks:
- {name: plain, command: [x], args: ["{{ item }}"]}
- name: each
  command: [x]
  args: ["{{ item.index }}"]
  when: [{input: "{{ item }}", operator: Exists}]
  forEach: {items: '[1]'}
"""
    )
    problems = [str(p) for p in templating.validate(pipeline)]
    assert len(problems) == 2
    assert problems[0].startswith("spec.blocks[0].args[0]: item is reserved")
    assert problems[1].startswith("spec.blocks[1].when[0].input: item is reserved")


def test_literal_items_that_are_not_json_are_refused_up_front() -> None:
    problems = templating.validate(spec(fanout("[a, b]", after=False)))
    assert [p.field for p in problems] == ["spec.blocks[0].forEach.items"]
    assert "not JSON" in problems[0].message


def test_a_block_named_like_an_item_is_refused() -> None:
    pipeline = spec(fanout('["a"]', after=False) + "- {name: each-1, command: [x]}\n")
    problems = templating.validate(pipeline)
    assert [(p.field, p.reason) for p in problems] == [("spec.blocks[1].name", "DuplicateBlock")]


def test_a_yaml_list_for_items_says_to_write_json_text() -> None:
    with pytest.raises(ValidationError, match="JSON text, not a YAML list"):
        spec("blocks:\n- {name: each, command: [x], forEach: {items: [a, b]}}\n")


def test_item_attempt_names_are_dns_labels_and_hashed_when_long() -> None:
    assert naming.item_attempt_name("run", "each", 12, 3) == "run-each-12-3"
    long = naming.item_attempt_name("r" * 50, "b" * 40, 4999, 2)
    assert len(long) <= 63 and long.endswith("-4999-2")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long)
    assert naming.split_key(naming.item_key("each", 7)) == ("each", 7)
    assert naming.split_key("each") == ("each", None)


def test_a_lost_start_write_is_adopted_not_started_twice() -> None:
    pipeline = spec(fanout('["a"]', after=False))
    sim = Sim(pipeline, {"each": [Outcome(seconds=100)]})
    first = sim.step()
    assert [s.name for s in first.starts] == ["r-each-0-1"]
    lost = PlanInput(
        run_name="r",
        spec=sim.spec,
        status=sim.history[0].status.model_copy(
            update={
                "blocks": {
                    **sim.history[0].status.blocks,
                    "each": sim.history[0]
                    .status.blocks["each"]
                    .model_copy(
                        update={
                            "items": sim.history[0]
                            .status.blocks["each"]
                            .items.model_copy(  # type: ignore[union-attr]
                                update={"phases": "P", "attempts": [0], "active": []}
                            )
                        }
                    ),
                }
            }
        ),
        now=T0 + timedelta(seconds=1),
        created_at=T0,
        pipeline=pipeline,
        observed=sim.observed(),
    )
    again = plan(lost)
    assert not again.starts
    items = again.status.blocks["each"].items
    assert items is not None and items.phases == "R" and items.attempts == [1]


# ----- properties ----------------------------------------------------------------------


@st.composite
def fan_outs(draw: st.DrawFn) -> tuple[str, dict[str, list[Outcome]], int | None, int, int]:
    n = draw(st.integers(0, 12))
    max_parallel = draw(st.integers(1, 4))
    limit = draw(st.one_of(st.none(), st.integers(1, 5)))
    retries = draw(st.integers(0, 2))
    allow = draw(st.integers(0, 3))
    outcome = st.builds(
        Outcome,
        seconds=st.integers(1, 5).map(float),
        exit_code=st.sampled_from([0, 0, 0, 1]),
    )
    scripts = {
        f"each/{i}": [
            Outcome(o.seconds, o.exit_code, {"i": str(i)} if o.exit_code == 0 else {})
            for o in draw(st.lists(outcome, min_size=1, max_size=3))
        ]
        for i in range(n)
    }
    text = fanout(
        json.dumps(list(range(n))), f", maxParallel: {max_parallel}, allowFailures: {allow}"
    )
    text += f"retry: {{limit: {retries}, backoffSeconds: 1}}\nfailFast: false\n"
    if limit is not None:
        text += f"concurrency: {{blockRunLimit: {limit}}}\n"
    return text, scripts, limit, max_parallel, allow


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fan_outs())
def test_fan_out_properties(
    case: tuple[str, dict[str, list[Outcome]], int | None, int, int],
) -> None:
    text, scripts, limit, max_parallel, allow = case
    sim = Sim(spec(text), scripts)
    status = sim.run()
    assert status.phase is not None and status.phase.finished
    for p in sim.history:
        each = p.status.blocks["each"]
        if each.items is not None:
            # maxParallel bounds items in flight; blockRunLimit bounds running items.
            in_flight = each.items.phases.count("R") + each.items.phases.count("W")
            assert in_flight <= max_parallel
            assert p.running <= (limit or max_parallel)
    each = status.blocks["each"]
    assert each.items is not None
    phases = each.items.phases
    assert set(phases) <= {"S", "F", "C"}
    failed = phases.count("F")
    assert (each.phase == BlockPhase.SUCCEEDED) == (failed <= allow and "C" not in phases)
    assert (status.blocks["after"].phase == BlockPhase.SUCCEEDED) == (
        each.phase == BlockPhase.SUCCEEDED
    )
    # Outputs are in item order: item i reported i.
    for i, out in enumerate(each.items.outputs):
        assert out in ({}, {"i": str(i)})
        assert (out != {}) == (phases[i] == "S")


def test_no_item_state_leaks_into_a_plain_run() -> None:
    sim = Sim(spec("blocks:\n- {name: a, command: [x]}\n"))
    status = sim.run()
    assert status.blocks["a"].items is None
    assert "items" not in status.dump()["blocks"]["a"]
    assert isinstance(PipelineRunStatus.model_validate(status.dump()), PipelineRunStatus)


def test_slots_freed_by_items_that_just_ended_serve_the_next_items_at_once() -> None:
    # The global budget is counted against what the run held at its last plan: items
    # seen ending in this call give their slots back to the next items in the same call.
    pipeline = spec(fanout(json.dumps(list(range(6))), after=False))
    held = {"budget": 3}
    sim = Sim(pipeline, {"each": [Outcome(seconds=1)]}, budget=lambda _now: held["budget"])
    first = sim.step()
    assert [s.key for s in first.starts] == ["each/0", "each/1", "each/2"]
    held["budget"] = 0  # the operator: 3 - 3 running (as of the last plan)
    sim.now += timedelta(seconds=1)
    second = sim.step()
    assert [s.key for s in second.starts] == ["each/3", "each/4", "each/5"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fan_outs(), st.integers(1, 12))
def test_cancel_at_any_step_stops_every_running_item_and_starts_none(
    case: tuple[str, dict[str, list[Outcome]], int | None, int, int], steps: int
) -> None:
    text, scripts, _limit, _max_parallel, _allow = case
    sim = Sim(spec(text), scripts)
    for _ in range(steps):
        result = sim.step()
        if sim.status.phase is not None and sim.status.phase.finished:
            return
        if not result.starts and not sim.advance(result.wake_at):
            return
    each = sim.status.blocks["each"]
    running = (
        {f"each/{e.index}" for e in each.items.active if e.phase == BlockPhase.RUNNING}
        if each.items is not None
        else set()
    )
    sim.spec = run_spec(cancel=True)
    result = sim.step()
    assert result.status.phase == RunPhase.CANCELLED
    assert not result.starts
    assert {s.key for s in result.stops} >= running
    after = result.status.blocks["each"]
    if after.items is not None:
        assert set(after.items.phases) <= {"S", "F", "C"}
        assert not after.items.active


def test_a_literal_list_over_the_cap_makes_the_pipeline_not_valid() -> None:
    items = json.dumps(list(range(MAX_ITEMS + 1)))
    problems = templating.validate(spec(fanout(items, after=False)))
    assert [(p.field, p.reason) for p in problems] == [
        ("spec.blocks[0].forEach.items", "TooManyItems")
    ]
    assert f"{MAX_ITEMS + 1:,} items is over the {MAX_ITEMS:,}" in problems[0].message
