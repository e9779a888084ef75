"""The operator against the real control plane: API.md's PipelineRun semantics, one test each.

Every test starts its own `runwright operator -n <its namespace>` (a subprocess, see
operator_fixture.py), applies a Pipeline whose pods are scripted for the kwok node
through pod labels and annotations (`pod(...)` per block, `template(...)` for all),
starts runs, and waits for what the API says must happen by polling the API server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runwright import labels

from .operator_fixture import (
    Operator,
    Operators,
    Runs,
    block,
    block_phases,
    block_status,
    most_at_once,
    pipeline,
    pod,
    pod_end,
    status,
    template,
)

pytestmark = pytest.mark.integration

FINISHED_JOB = ("Complete", "Failed")


def container(job: dict[str, Any]) -> dict[str, Any]:
    (c,) = job["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = c
    return result


def env_of(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(job).get("env", [])}


def chain(*names: str, **fields: Any) -> list[dict[str, Any]]:
    """Blocks a -> b -> c ..."""
    return [block(n, *names[i - 1 : i], **fields) for i, n in enumerate(names)]


# ----- dependencies, conditions, outputs --------------------------------------------------


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_diamond_succeeds_and_passes_outputs_to_downstream_args(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "diamond",
            [
                block("a", **pod(outputs={"rows": "12"})),
                block("b", "a", args=["--rows", "{{ blocks.a.outputs.rows }}"]),
                block("c", "a", **pod(outputs={"n": "3"})),
                block("d", "b", "c", args=["{{ blocks.c.outputs.n }}"]),
            ],
            template(duration="1s"),
        )
    )
    runs.start("dia-1", "diamond")
    run = runs.wait_finished("dia-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert block_phases(run) == dict.fromkeys("abcd", "Succeeded")
    assert block_status(run, "a")["outputs"] == {"rows": "12"}
    assert block_status(run, "c")["outputs"] == {"n": "3"}
    assert status(run)["progress"] == "4/4"
    b_job = runs.get("dia-1-b-1", kind="job")
    assert container(b_job)["args"] == ["--rows", "12"]
    assert json.loads(env_of(b_job)[labels.ENV_UPSTREAM_OUTPUTS]) == {"a": {"rows": "12"}}
    d_job = runs.get("dia-1-d-1", kind="job")
    assert container(d_job)["args"] == ["3"]
    assert runs.job_names("dia-1") == {"dia-1-a-1", "dia-1-b-1", "dia-1-c-1", "dia-1-d-1"}


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_false_when_makes_the_block_and_its_downstream_condition_failed(
    operator: Operator, runs: Runs
) -> None:
    prod_only = [{"input": "{{ variables.env }}", "operator": "In", "values": ["prod"]}]
    runs.apply(
        pipeline(
            "cond",
            [block("a"), block("b", "a", when=prod_only), block("c", "b")],
            variables={"env": "dev"},
        )
    )
    runs.start("cond-1", "cond")
    run = runs.wait_finished("cond-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert block_phases(run) == {"a": "Succeeded", "b": "ConditionFailed", "c": "ConditionFailed"}
    assert block_status(run, "b")["reason"] == "ConditionFalse"
    assert runs.job_names("cond-1") == {"cond-1-a-1"}


# ----- failure ---------------------------------------------------------------------------


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_failed_block_makes_its_downstream_upstream_failed(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("fail", chain("a", "b", "c"), template(fail=True)))
    runs.start("fail-1", "fail")
    run = runs.wait_finished("fail-1")

    assert (status(run)["phase"], status(run)["reason"]) == ("Failed", "BlockFailed")
    assert block_phases(run) == {"a": "Failed", "b": "UpstreamFailed", "c": "UpstreamFailed"}
    assert runs.job_names("fail-1") == {"fail-1-a-1"}


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_fail_fast_cancels_running_blocks_and_deletes_their_jobs(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "ff",
            [
                block("bad", **pod(fail=True, duration="1s")),
                block("slow", **pod(duration="1h")),
                block("after", "bad"),
            ],
        )
    )
    runs.start("ff-1", "ff")
    run = runs.wait_finished("ff-1")

    assert (status(run)["phase"], status(run)["reason"]) == ("Failed", "BlockFailed")
    assert block_phases(run) == {"bad": "Failed", "slow": "Cancelled", "after": "UpstreamFailed"}
    assert block_status(run, "slow")["reason"] == "FailFast"
    runs.cluster.wait_for("the slow Job deleted", lambda: "ff-1-slow-1" not in runs.job_names())


def test_without_fail_fast_independent_branches_run_to_the_end(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "nff",
            [
                block("bad", **pod(fail=True)),
                block("after-bad", "bad"),
                block("slow", **pod(duration="2s")),
                block("after-slow", "slow"),
            ],
            failFast=False,
        )
    )
    runs.start("nff-1", "nff")
    run = runs.wait_finished("nff-1")

    assert status(run)["phase"] == "Failed", status(run)
    assert block_phases(run) == {
        "bad": "Failed",
        "after-bad": "UpstreamFailed",
        "slow": "Succeeded",
        "after-slow": "Succeeded",
    }


def test_an_allowed_failure_lets_downstream_run_and_the_run_succeed(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "af",
            [block("flaky", allowFailure=True, **pod(fail=True)), block("next", "flaky")],
        )
    )
    runs.start("af-1", "af")
    run = runs.wait_finished("af-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert block_phases(run) == {"flaky": "Failed", "next": "Succeeded"}


# ----- retries and timeouts ---------------------------------------------------------------


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_failed_attempt_is_retried_after_its_backoff_as_a_new_job(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "retry",
            [block("a", retry={"limit": 1, "backoffSeconds": 3})],
            template(fail=True, exit_code=3),
        )
    )
    runs.start("retry-1", "retry")
    retrying = runs.wait_block("retry-1", "a", "Retrying")
    waiting = block_status(retrying, "a")
    assert (waiting["attempt"], waiting["retries"], waiting["exitCode"]) == (1, 1, 3)
    assert waiting["nextAttemptAt"]

    run = runs.wait_finished("retry-1")
    assert status(run)["phase"] == "Failed", status(run)
    final = block_status(run, "a")
    assert (final["phase"], final["attempt"], final["job"]) == ("Failed", 2, "retry-1-a-2")
    assert runs.job_names("retry-1") == {"retry-1-a-1", "retry-1-a-2"}
    assert all(j["spec"]["backoffLimit"] == 0 for j in runs.jobs("retry-1"))


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_block_over_its_timeout_fails_with_reason_timeout(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("bto", [block("a", timeoutSeconds=1)], template(duration="1h")))
    runs.start("bto-1", "bto")
    # The Job controller enforces the timeout too, even with the operator down.
    assert runs.wait_job("bto-1-a-1")["spec"]["activeDeadlineSeconds"] == 1
    run = runs.wait_finished("bto-1")

    assert status(run)["phase"] == "Failed", status(run)
    a = block_status(run, "a")
    assert (a["phase"], a["reason"]) == ("Failed", "Timeout")


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_run_over_its_timeout_with_timeout_status_cancelled_is_cancelled(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "rto",
            [block("a")],
            template(duration="1h"),
            timeoutSeconds=2,
            timeoutStatus="Cancelled",
        )
    )
    runs.start("rto-1", "rto")
    run = runs.wait_finished("rto-1")

    st = status(run)
    assert (st["phase"], st["reason"], st["timedOut"]) == ("Cancelled", "Timeout", True)
    assert block_phases(run) == {"a": "Cancelled"}
    runs.wait_event("rto-1", "TimedOut")
    runs.cluster.wait_for("the Job deleted", lambda: not runs.job_names("rto-1"))


# ----- cancel, retry requests, reruns ------------------------------------------------------


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_cancel_deletes_running_jobs_and_finishes_the_run_cancelled(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("cx", [block("a"), block("b"), block("c", "a")], template(duration="1h")))
    runs.start("cx-1", "cx")
    runs.wait_pod_running("cx-1-a-1")
    runs.wait_pod_running("cx-1-b-1")
    runs.patch("cx-1", {"spec": {"cancel": True}})
    run = runs.wait_finished("cx-1")

    assert (status(run)["phase"], status(run)["reason"]) == ("Cancelled", "Cancelled")
    assert block_phases(run) == dict.fromkeys("abc", "Cancelled")
    runs.wait_event("cx-1", "RunCancelled")
    runs.cluster.wait_for("the Jobs deleted", lambda: not runs.job_names("cx-1"))


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_retry_incomplete_reruns_only_what_did_not_succeed(operator: Operator, runs: Runs) -> None:
    runs.apply(
        pipeline(
            "inc",
            [block("ok"), block("x"), block("after-x", "x")],
            template(duration="4s"),
            failFast=False,
        )
    )
    runs.start("inc-1", "inc")
    # Someone deletes x's Job mid-run: x fails (JobDeleted, no retries left), after-x never runs.
    runs.wait_pod_running("inc-1-x-1")
    runs.cluster.kubectl("delete", "job", "inc-1-x-1", "-n", runs.ns, "--wait=false")
    failed = runs.wait_finished("inc-1")
    assert block_phases(failed) == {"ok": "Succeeded", "x": "Failed", "after-x": "UpstreamFailed"}

    runs.patch("inc-1", {"spec": {"retry": {"id": "1", "mode": "Incomplete"}}})
    run = runs.wait(
        "inc-1",
        "retry 1 handled and the run finished",
        lambda b: status(b).get("retryId") == "1" and status(b).get("phase") == "Succeeded",
    )
    assert block_phases(run) == dict.fromkeys(["ok", "x", "after-x"], "Succeeded")
    attempts = {n: block_status(run, n)["attempt"] for n in ("ok", "x", "after-x")}
    assert attempts == {"ok": 1, "x": 2, "after-x": 1}
    assert runs.job_names("inc-1") == {"inc-1-ok-1", "inc-1-x-2", "inc-1-after-x-1"}
    runs.wait_event("inc-1", "RunRetried")


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_retry_from_block_reruns_that_block_and_its_downstream(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("fb", chain("a", "b", "c")))
    runs.start("fb-1", "fb")
    assert status(runs.wait_finished("fb-1"))["phase"] == "Succeeded"

    runs.patch("fb-1", {"spec": {"retry": {"id": "1", "mode": "FromBlock", "fromBlock": "b"}}})
    run = runs.wait(
        "fb-1",
        "retry 1 handled and the run finished again",
        lambda b: (
            status(b).get("retryId") == "1"
            and status(b).get("phase") == "Succeeded"
            and block_status(b, "c").get("attempt") == 2
        ),
    )
    attempts = {n: block_status(run, n)["attempt"] for n in "abc"}
    assert attempts == {"a": 1, "b": 2, "c": 2}
    assert runs.job_names("fb-1") == {"fb-1-a-1", "fb-1-b-1", "fb-1-b-2", "fb-1-c-1", "fb-1-c-2"}


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_rerun_of_repeats_the_source_runs_frozen_spec_and_variables(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("src", chain("a", "b"), variables={"who": "first"}))
    runs.start("src-1", "src", variables={"day": "mon"})
    source = runs.wait_finished("src-1")
    # The Pipeline changes after the source ran; the rerun must not see it.
    runs.apply(pipeline("src", chain("a", "b", "c"), variables={"who": "second"}))
    runs.start("src-2", "src", rerunOf={"name": "src-1"})
    rerun = runs.wait_finished("src-2")

    assert status(rerun)["phase"] == "Succeeded", status(rerun)
    assert status(rerun)["variables"] == {"who": "first", "day": "mon"}
    assert status(rerun)["pipelineSpec"] == status(source)["pipelineSpec"]
    assert status(rerun)["executionDate"] == status(source)["executionDate"]
    assert runs.job_names("src-2") == {"src-2-a-1", "src-2-b-1"}


# ----- concurrency ----------------------------------------------------------------------------


def _queued_reasons(run: dict[str, Any]) -> set[str]:
    return {
        b.get("reason", "")
        for b in (status(run).get("blocks") or {}).values()
        if b.get("phase") == "Queued"
    }


def test_block_run_limit_queues_blocks_beyond_it(operator: Operator, runs: Runs) -> None:
    runs.apply(
        pipeline(
            "brl",
            [block(n) for n in "abcde"],
            template(duration="1s"),
            concurrency={"blockRunLimit": 2},
        )
    )
    runs.start("brl-1", "brl")
    queued = runs.wait("brl-1", "a block Queued", lambda b: _queued_reasons(b))
    assert _queued_reasons(queued) == {"BlockRunLimit"}
    run = runs.wait_finished("brl-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    pods = runs.pods("brl-1")
    assert len(pods) == 5
    assert most_at_once(pods, pod_end) == 2


@pytest.mark.operator_args("--max-concurrent-blocks", "2")
def test_the_global_block_limit_holds_across_runs(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("glob", [block(n) for n in "abc"], template(duration="1s")))
    for i in (1, 2):
        runs.start(f"glob-{i}", "glob")
    # Six blocks, two slots: one run or the other waits on the global budget.
    queued = runs.cluster.wait_for(
        "a block Queued",
        lambda: set().union(*(_queued_reasons(runs.get(f"glob-{i}")) for i in (1, 2))),
    )
    assert queued == {"ConcurrencyLimit"}
    for i in (1, 2):
        assert status(runs.wait_finished(f"glob-{i}"))["phase"] == "Succeeded"

    pods = runs.pods()
    assert len(pods) == 6
    assert most_at_once(pods, pod_end) == 2


def test_the_namespace_annotation_limits_blocks_in_it(
    operators: Operators, runs: Runs, ns: str
) -> None:
    runs.cluster.kubectl("annotate", "namespace", ns, f"{labels.MAX_CONCURRENT_BLOCKS}=1")
    operators()  # started after the annotation, so it knows the limit before any run
    runs.apply(pipeline("nsl", [block(n) for n in "abc"], template(duration="1s")))
    runs.start("nsl-1", "nsl")
    run = runs.wait_finished("nsl-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    pods = runs.pods("nsl-1")
    assert len(pods) == 3
    assert most_at_once(pods, pod_end) == 1


def test_pipeline_run_limit_wait_queues_a_run_until_the_active_one_finishes(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "prl",
            [block("a")],
            template(duration="4s"),
            concurrency={"pipelineRunLimit": 1, "onLimit": "Wait"},
        )
    )
    runs.start("prl-1", "prl")
    runs.wait_phase("prl-1", "Running")
    runs.start("prl-2", "prl")
    queued = runs.wait_phase("prl-2", "Queued")
    assert status(queued)["reason"] == "ConcurrencyLimit"

    second = runs.wait_finished("prl-2")
    first = runs.get("prl-1")
    assert status(first)["phase"] == status(second)["phase"] == "Succeeded"
    assert status(second)["startedAt"] >= status(first)["completedAt"]


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_pipeline_run_limit_skip_cancels_the_new_run(operator: Operator, runs: Runs) -> None:
    runs.apply(
        pipeline(
            "skip",
            [block("a")],
            template(duration="1h"),
            concurrency={"pipelineRunLimit": 1, "onLimit": "Skip"},
        )
    )
    runs.start("skip-1", "skip")
    runs.wait_phase("skip-1", "Running")
    runs.start("skip-2", "skip")
    skipped = runs.wait_finished("skip-2")

    assert (status(skipped)["phase"], status(skipped)["reason"]) == (
        "Cancelled",
        "ConcurrencyLimit",
    )
    assert runs.job_names("skip-2") == set()
    assert status(runs.get("skip-1"))["phase"] == "Running"


# ----- SLA, events, labels ---------------------------------------------------------------------


def test_a_run_unfinished_past_its_sla_is_flagged_with_an_event(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("sla", [block("a")], template(duration="5s"), slaSeconds=1))
    runs.start("sla-1", "sla")
    running = runs.wait("sla-1", "slaMissed", lambda b: status(b).get("slaMissed"))
    assert status(running)["phase"] == "Running"
    run = runs.wait_finished("sla-1")

    assert (status(run)["phase"], status(run)["slaMissed"]) == ("Succeeded", True)
    assert runs.event_reasons("sla-1").count("SLAMissed") == 1


def test_every_transition_of_a_successful_run_is_an_event(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("ev", chain("a", "b")))
    runs.start("ev-1", "ev")
    runs.wait_finished("ev-1")
    runs.wait_event("ev-1", "RunSucceeded")

    reasons = runs.event_reasons("ev-1")
    for reason in ("RunStarted", "BlockStarted", "BlockSucceeded", "RunSucceeded"):
        assert reason in reasons, reasons
    assert reasons.count("BlockStarted") == reasons.count("BlockSucceeded") == 2


def test_every_transition_of_a_failing_run_is_an_event(operator: Operator, runs: Runs) -> None:
    runs.apply(
        pipeline("evf", [block("a", retry={"limit": 1, "backoffSeconds": 1})], template(fail=True))
    )
    runs.start("evf-1", "evf")
    runs.wait_finished("evf-1")
    runs.wait_event("evf-1", "RunFailed")

    reasons = runs.event_reasons("evf-1")
    for reason in ("RunStarted", "BlockStarted", "BlockRetrying", "BlockFailed", "RunFailed"):
        assert reason in reasons, reasons
    warnings = {e["reason"] for e in runs.events("evf-1") if e["type"] == "Warning"}
    assert {"BlockRetrying", "BlockFailed", "RunFailed"} <= warnings


def test_the_phase_label_follows_status_phase_and_selects_runs(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("lbl-ok", [block("a")], template(duration="4s")))
    runs.apply(pipeline("lbl-bad", [block("a")], template(fail=True)))
    runs.start("lbl-ok-1", "lbl-ok")
    runs.start("lbl-bad-1", "lbl-bad")
    runs.wait(
        "lbl-ok-1",
        "label Running with phase Running",
        lambda b: (
            status(b).get("phase") == "Running"
            and b["metadata"].get("labels", {}).get(labels.PHASE) == "Running"
        ),
    )
    for name in ("lbl-ok-1", "lbl-bad-1"):
        runs.wait(
            name,
            "finished with the label equal to the phase",
            lambda b: (
                status(b).get("phase") in ("Succeeded", "Failed")
                and b["metadata"]["labels"].get(labels.PHASE) == status(b)["phase"]
            ),
        )

    def select(selector: str) -> list[str]:
        out = runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-l", selector, "-o", "name")
        return sorted(out.stdout.split())

    assert select(f"{labels.PHASE}=Failed,{labels.PIPELINE}=lbl-bad") == [
        "pipelinerun.runwright.dev/lbl-bad-1"
    ]
    assert select(f"{labels.PHASE}=Succeeded") == ["pipelinerun.runwright.dev/lbl-ok-1"]
    assert select(f"{labels.PHASE}=Failed,{labels.PIPELINE}=lbl-ok") == []


# ----- the Pipeline's status, retention -----------------------------------------------------


def _ready(pl: dict[str, Any]) -> dict[str, Any]:
    conds = (pl.get("status") or {}).get("conditions") or []
    found: dict[str, Any] = next((c for c in conds if c["type"] == "Ready"), {})
    return found


def _with_ready(runs: Runs, name: str) -> dict[str, Any] | None:
    """The Pipeline once it has a Ready condition."""
    pl = runs.get(name, kind="pipeline")
    return pl if _ready(pl) else None


def test_pipeline_status_shows_ready_block_count_active_runs_and_last_run(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("pst", chain("a", "b", "c"), template(duration="1s")))
    pl = runs.cluster.wait_for("the Pipeline Ready", lambda: _with_ready(runs, "pst"))
    assert (_ready(pl)["status"], _ready(pl)["reason"]) == ("True", "Valid")
    assert (pl["status"]["blockCount"], pl["status"]["activeRuns"]) == (3, 0)

    runs.start("pst-1", "pst")
    runs.cluster.wait_for(
        "activeRuns 1",
        lambda: runs.get("pst", kind="pipeline")["status"].get("activeRuns") == 1,
    )
    run = runs.wait_finished("pst-1")
    pl = runs.cluster.wait_for(
        "lastRun recorded",
        lambda: (
            p
            if ((p := runs.get("pst", kind="pipeline"))["status"].get("lastRun") or {}).get("phase")
            == "Succeeded"
            else None
        ),
    )
    assert pl["status"]["activeRuns"] == 0
    assert pl["status"]["lastRun"]["name"] == "pst-1"
    assert pl["status"]["lastRun"]["completedAt"] == status(run)["completedAt"]


def test_a_pipeline_naming_an_unknown_variable_is_not_ready(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("badtpl", [block("a", args=["{{ variables.nope }}"])]))
    pl = runs.cluster.wait_for(
        "the Pipeline's Ready condition", lambda: _with_ready(runs, "badtpl")
    )
    ready = _ready(pl)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidTemplate")
    assert "nope" in ready["message"]


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_run_of_an_invalid_pipeline_fails_with_invalid_pipeline(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("badrun", [block("a", args=["{{ variables.nope }}"])]))
    runs.start("badrun-1", "badrun")
    run = runs.wait_finished("badrun-1")

    assert (status(run)["phase"], status(run)["reason"]) == ("Failed", "InvalidPipeline")
    assert "nope" in status(run)["message"]
    assert runs.job_names("badrun-1") == set()


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_retention_deletes_a_finished_run_after_its_ttl(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("ttl", [block("a")], retention={"succeededSeconds": 2}))
    runs.start("ttl-1", "ttl")
    assert status(runs.wait_finished("ttl-1"))["phase"] == "Succeeded"
    runs.cluster.wait_for("the run deleted", lambda: runs.find("ttl-1") is None)
    # Its Jobs are owned by the run: the garbage collector takes them too.
    runs.cluster.wait_for("its Jobs collected", lambda: not runs.job_names("ttl-1"))
