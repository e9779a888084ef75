"""Two operator replicas under leader election (issue 11), as real processes.

Both watch the test's namespace; the Lease (`runwright-operator`, in that namespace:
outside a pod the first watched one) decides which acts. `kill -9` is a real crash:
the leader renews nothing more, and the standby takes the Lease once it has seen it
unrenewed for its lease duration (15 s), then starts kopf, which lists everything and
rebuilds its budgets. What must hold: every run Succeeded once, no attempt created
twice, no scheduled fire lost or doubled, and the API-trigger endpoint exactly-once
under Forbid through either replica.

Attempts are counted by the `runwright.dev/attempt` label on whichever objects exist
(Jobs and/or pods), so the test does not depend on the executor.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright import labels
from runwright.controller.leader import EXIT_LOST

from .operator_fixture import Operator, Operators, Runs, block, pipeline, status, template

pytestmark = pytest.mark.integration

RUNS = 50
TRIGGERS = 3
#: How long a fire may be late: covers the takeover (about 15-20 s) with room to spare.
STARTING_DEADLINE = 120
WRITE_VERBS = ("create", "patch", "update", "delete")


def wait_role(runs: Runs, op: Operator, role: str, timeout: float = 60) -> None:
    runs.cluster.wait_for(f"operator {op.pid} {role}", lambda: op.role() == role, timeout)


def second_of_minute() -> float:
    now = datetime.now(UTC)
    return now.second + now.microsecond / 1e6


def wait_second(runs: Runs, low: float, high: float) -> None:
    """Wait until the wall clock is between `low` and `high` seconds into a minute: the
    schedule is a wall-clock schedule, so the kill is placed just before a fire."""
    runs.cluster.wait_for(
        f"second {low:g}-{high:g} of a minute",
        lambda: low <= second_of_minute() < high,
        timeout=70,
    )


def attempt_objects(runs: Runs) -> dict[str, list[dict[str, Any]]]:
    """Jobs and pods of the namespace that carry the attempt label, by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in ("jobs", "pods"):
        out = runs.cluster.kubectl("get", kind, "-n", runs.ns, "-l", labels.ATTEMPT, "-o", "json")
        found[kind] = out.json()["items"]
    return found


def writes(op: Operator) -> float:
    """API writes this process has made (runwright_kube_requests_total, write verbs)."""
    total = 0.0
    for line in op.metrics().splitlines():
        if line.startswith("runwright_kube_requests_total{") and any(
            f'verb="{verb}"' in line for verb in WRITE_VERBS
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def trigger_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": "one"}, **spec},
    }


def test_the_standby_takes_over_mid_flight_and_nothing_is_lost_or_done_twice(
    operators: Operators, runs: Runs
) -> None:
    first = operators()
    wait_role(runs, first, "leading")
    second = operators()
    wait_role(runs, second, "standby")
    runs.apply(pipeline("one", [block("only")], template(duration="2s")))

    # Minutely triggers, created well inside a minute so that their creation time is
    # never a fire time.
    wait_second(runs, 3, 40)
    for i in range(TRIGGERS):
        runs.apply(
            trigger_manifest(
                f"tick-{i}",
                type="Schedule",
                schedule={"cron": "* * * * *", "startingDeadlineSeconds": STARTING_DEADLINE},
            )
        )
    # The runs go in late in the minute, and the leader dies with them in flight, a few
    # seconds before the next fire: the fire falls into the takeover.
    wait_second(runs, 44, 50)
    names = [f"fo-{i}" for i in range(RUNS)]
    items = [
        {
            "apiVersion": labels.API_VERSION,
            "kind": "PipelineRun",
            "metadata": {"name": n},
            "spec": {"pipelineRef": {"name": "one"}},
        }
        for n in names
    ]
    runs.cluster.apply({"apiVersion": "v1", "kind": "List", "items": items}, runs.ns)
    runs.cluster.wait_for(
        "10 attempts started",
        lambda: len(attempt_objects(runs)["jobs"] + attempt_objects(runs)["pods"]) >= 10,
        timeout=60,
    )
    wait_second(runs, 50, 57)
    killed_at = datetime.now(UTC)
    started = time.monotonic()
    first.kill()
    wait_role(runs, second, "leading", timeout=90)
    takeover = time.monotonic() - started
    print(f"takeover: the standby leads {takeover:.1f}s after kill -9 of the leader")

    def unfinished() -> list[str]:
        out = runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-o", "json").json()
        return [
            r["metadata"]["name"]
            for r in out["items"]
            if status(r).get("phase") not in ("Succeeded", "Failed", "Cancelled")
        ]

    # Every fire up to the one due during the takeover (the kill came 3-10 s before it,
    # the takeover takes the lease duration) must have its run, that one made late.
    last_fire = (killed_at + timedelta(minutes=1)).replace(second=0, microsecond=0)

    def fired_through_last() -> bool:
        for i in range(TRIGGERS):
            body = runs.get(f"tick-{i}", kind="trigger")
            last = (body.get("status") or {}).get("lastScheduleTime")
            if last is None or datetime.fromisoformat(last) < last_fire:
                return False
        return True

    runs.cluster.wait_for(f"every trigger fired at {last_fire}", fired_through_last, timeout=150)
    runs.cluster.wait_for("every run finished", lambda: not unfinished(), timeout=180)

    bodies = runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-o", "json").json()["items"]
    by_name = {r["metadata"]["name"]: r for r in bodies}
    for name, body in by_name.items():
        assert status(body)["phase"] == "Succeeded", (name, status(body))
    assert set(names) <= set(by_name)

    # No attempt was created twice: one object per (kind, run, block, attempt), each
    # the first attempt (nothing failed), and no uid seen twice.
    objects = attempt_objects(runs)
    for kind, found in objects.items():
        keys = Counter(
            (o["metadata"]["labels"][labels.RUN], o["metadata"]["labels"][labels.BLOCK])
            for o in found
        )
        doubled = {k: n for k, n in keys.items() if n > 1}
        assert not doubled, f"{kind} created twice for an attempt: {doubled}"
        assert {o["metadata"]["labels"][labels.ATTEMPT] for o in found} <= {"1"}
        assert len({o["metadata"]["uid"] for o in found}) == len(found)
        if found:  # the executor's kind (pods, or Jobs and their pods): every run has one
            assert {k[0] for k in keys} == set(by_name), f"{kind}: every run has its attempt"
    assert objects["pods"], "the attempts' pods exist"

    # No fire lost or doubled: per trigger, one run per minute from its creation to the
    # last fire, named after its fire time, whoever created it.
    late = []
    for i in range(TRIGGERS):
        trig = runs.get(f"tick-{i}", kind="trigger")
        created = datetime.fromisoformat(trig["metadata"]["creationTimestamp"])
        expected = []
        at = created.replace(second=0) + timedelta(minutes=1)
        while at <= last_fire:
            expected.append(at)
            at += timedelta(minutes=1)
        mine = [
            r for r in bodies if r["metadata"].get("labels", {}).get(labels.TRIGGER) == f"tick-{i}"
        ]
        fires = Counter(datetime.fromisoformat(r["spec"]["executionDate"]) for r in mine)
        assert fires == Counter(expected), (f"tick-{i}", sorted(fires), expected)
        for r in mine:
            made = datetime.fromisoformat(r["metadata"]["creationTimestamp"])
            fire = datetime.fromisoformat(r["spec"]["executionDate"])
            if killed_at < fire <= killed_at + timedelta(seconds=takeover):
                late.append(f"{r['metadata']['name']}: {(made - fire).total_seconds():.0f}s late")
    print(f"fires due during the takeover, made by the new leader: {late}")


def test_two_operators_against_the_same_namespace_never_both_act(
    operators: Operators, runs: Runs
) -> None:
    """Started at the same instant by mistake: the Lease lets exactly one act."""
    started: list[Operator] = []
    lock = threading.Lock()

    def start() -> None:
        op = operators()
        with lock:
            started.append(op)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = started
    runs.cluster.wait_for(
        "one leader", lambda: sorted([a.role() or "", b.role() or ""]) == ["leading", "standby"]
    )
    runs.apply(pipeline("one", [block("only")], template(duration="1s")))
    for i in range(5):
        runs.start(f"both-{i}", "one")
    for i in range(5):
        assert runs.wait_finished(f"both-{i}")["status"]["phase"] == "Succeeded"
    leader, standby = (a, b) if a.role() == "leading" else (b, a)
    assert writes(leader) > 0
    assert writes(standby) == 0, "the standby wrote to the API server"
    assert "runwright_leader 0.0" in standby.metrics()
    assert "runwright_leader 1.0" in leader.metrics()


def post(op: Operator, ns: str, trigger: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{op.api_port}/v1/namespaces/{ns}/triggers/{trigger}/runs",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_the_api_endpoint_through_the_standby_is_exactly_once_under_forbid(
    operators: Operators, runs: Runs
) -> None:
    leader = operators()
    wait_role(runs, leader, "leading")
    standby = operators()
    wait_role(runs, standby, "standby")
    # A block that runs long keeps the first run active while the calls race.
    runs.apply(pipeline("one", [block("only")], template(duration="60s")))
    runs.cluster.kubectl(
        "create", "secret", "generic", "hook-token", "-n", runs.ns, "--from-literal=token=s3cret"
    )
    runs.apply(
        trigger_manifest(
            "hook",
            type="API",
            concurrencyPolicy="Forbid",
            api={"tokenSecretRef": {"name": "hook-token", "key": "token"}},
        )
    )

    # A wrong token is a 401 once a replica knows the trigger (404 before), creating
    # nothing: the leader knows it from its watch, the standby from the API server.
    def knows(op: Operator) -> bool:
        return post(op, runs.ns, "hook", "wrong")[0] == 401

    runs.cluster.wait_for("the leader knows the trigger", lambda: knows(leader))
    runs.cluster.wait_for("the standby knows the trigger", lambda: knows(standby))
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def call(op: Operator) -> None:
        barrier.wait()
        answer = post(op, runs.ns, "hook", "s3cret")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=call, args=(op,)) for op in (leader, standby)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(code for code, _ in answers)
    assert statuses == [201, 409], answers
    hook_runs = runs.cluster.kubectl(
        "get", "plr", "-n", runs.ns, "-l", f"{labels.TRIGGER}=hook", "-o", "name"
    ).stdout.split()
    assert len(hook_runs) == 1, hook_runs
    # The run is active: the standby refuses a third call too, with the run's name.
    code, body = post(standby, runs.ns, "hook", "s3cret")
    assert code == 409 and hook_runs[0].split("/")[-1] in body["error"], body


def test_a_frozen_leader_that_comes_back_exits_without_acting(
    operators: Operators, runs: Runs
) -> None:
    """A node lost and back: the leader is frozen (SIGSTOP) past its lease, the standby
    takes over, and the old leader, resumed, must stop before its next write."""
    first = operators()
    wait_role(runs, first, "leading")
    second = operators()
    wait_role(runs, second, "standby")
    runs.apply(pipeline("one", [block("only")], template(duration="1s")))
    runs.start("before", "one")
    assert runs.wait_finished("before")["status"]["phase"] == "Succeeded"
    first.pause()
    try:
        wait_role(runs, second, "leading", timeout=90)
        runs.start("during", "one")  # work for both, if the old leader acted
        assert runs.wait_finished("during")["status"]["phase"] == "Succeeded"
    finally:
        first.resume()
    assert first.wait_exit(timeout=60) == EXIT_LOST
    assert "leader election lost" in first.log_path.read_text(errors="replace")
    assert second.role() == "leading"
    runs.start("after", "one")
    assert runs.wait_finished("after")["status"]["phase"] == "Succeeded"
