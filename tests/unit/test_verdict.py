"""The one attempt verdict shared by the Kubernetes and local executors."""

from __future__ import annotations

from runwright import labels
from runwright.api.pipeline import EnvVar
from runwright.engine.plan import AttemptState, StartBlock
from runwright.engine.verdict import Ending, judge
from runwright.executors.contract import attempt_environment


def test_exit_zero_with_valid_output_succeeds_with_its_outputs_and_metrics() -> None:
    verdict = judge(
        Ending.EXITED, exit_code=0, output='{"outputs": {"n": "3"}, "metrics": {"rows": 3}}'
    )
    assert verdict.state == AttemptState.SUCCEEDED
    assert (verdict.outputs, verdict.metrics) == ({"n": "3"}, {"rows": 3.0})


def test_exit_zero_with_empty_output_succeeds_with_no_outputs() -> None:
    verdict = judge(Ending.EXITED, exit_code=0, output="")
    assert (verdict.state, verdict.outputs) == (AttemptState.SUCCEEDED, {})


def test_exit_zero_with_output_breaking_the_contract_fails_as_invalid_output() -> None:
    verdict = judge(Ending.EXITED, exit_code=0, output="not json", tail="log")
    assert (verdict.state, verdict.reason) == (AttemptState.FAILED, "InvalidOutput")
    assert verdict.message.startswith(f"{labels.ENV_OUTPUT_PATH}: ")


def test_unreadable_output_of_a_success_is_still_a_success_that_says_so() -> None:
    verdict = judge(Ending.EXITED, exit_code=0, output=None)
    assert verdict.state == AttemptState.SUCCEEDED
    assert "outputs" in verdict.message


def test_a_nonzero_exit_fails_with_the_log_tail_else_the_code() -> None:
    with_tail = judge(Ending.EXITED, exit_code=3, output="", tail="boom")
    bare = judge(Ending.EXITED, exit_code=3, output="")
    assert (with_tail.state, with_tail.reason, with_tail.message) == (
        AttemptState.FAILED,
        "Error",
        "boom",
    )
    assert bare.message == "exited with code 3"


def test_a_platform_failure_keeps_its_reason_and_never_succeeds_even_with_code_zero() -> None:
    verdict = judge(Ending.FAILED, exit_code=0, output="{}", reason="OOMKilled", detail="d")
    assert (verdict.state, verdict.reason, verdict.message) == (
        AttemptState.FAILED,
        "OOMKilled",
        "d",
    )


def test_a_deadline_is_a_timeout_whatever_the_exit_code() -> None:
    verdict = judge(Ending.DEADLINE, exit_code=0, output="{}")
    assert (verdict.state, verdict.reason) == (AttemptState.FAILED, "Timeout")


def test_stopped_and_killed_differ_only_in_their_reason() -> None:
    stopped = judge(Ending.STOPPED, exit_code=143, output="", detail="killed by SIGTERM")
    killed = judge(Ending.KILLED, exit_code=137, output="", detail="killed by SIGKILL")
    assert (stopped.reason, stopped.message) == ("Stopped", "killed by SIGTERM")
    assert (killed.reason, killed.message) == ("Killed", "killed by SIGKILL")


def _start(env: list[EnvVar]) -> StartBlock:
    return StartBlock(
        block="b",
        attempt=1,
        name="r-b-1",
        image=None,
        command=["x"],
        args=[],
        env=env,
        contract={"RUNWRIGHT_BLOCK": "b"},
        timeout_seconds=None,
        ready_at=None,
    )


def test_the_contract_environment_cannot_be_overridden_by_the_block() -> None:
    env = attempt_environment(
        _start(
            [
                EnvVar(name="RUNWRIGHT_BLOCK", value="lie"),
                EnvVar(name=labels.ENV_OUTPUT_PATH, value="/elsewhere"),
                EnvVar(name="MINE", value="1"),
            ]
        ),
        "/out",
    )
    assert [(v.name, v.value) for v in env] == [
        ("RUNWRIGHT_BLOCK", "b"),
        (labels.ENV_OUTPUT_PATH, "/out"),
        ("MINE", "1"),
    ]
