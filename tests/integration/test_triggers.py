"""Triggers against the real control plane: API.md's Trigger semantics, one test each.

Every test starts its own `runwright operator -n <its namespace>` (see
operator_fixture.py), applies a Pipeline (pods scripted for the kwok node) and a
Trigger, and waits for what API.md says must happen by polling the API server.

Schedules are made deterministic with a past window: `* * * * *` between a
`startTime` and an `endTime` a few minutes ago (whole minutes), with `catchUp`, so
the fires, and therefore the run names `<trigger>-<unix seconds>`, are known in
advance and no test depends on when in the minute it runs. Moving `endTime` one
minute further (still in the past) is "the next fire comes".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright import labels

from .operator_fixture import Operator, Runs, block, pipeline, status, template

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)


# ----- manifests and times ----------------------------------------------------------------


def trigger(name: str, pipeline_name: str, type_: str, **spec: Any) -> dict[str, Any]:
    """A Trigger manifest; `spec` fields are added as they are (camelCase)."""
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": pipeline_name}, "type": type_, **spec},
    }


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def past_minutes(count: int) -> list[datetime]:
    """`count` consecutive whole minutes, the last of them at least two minutes ago."""
    last = datetime.now(UTC).replace(second=0, microsecond=0) - 2 * MINUTE
    return [last - (count - 1 - i) * MINUTE for i in range(count)]


def window(first: datetime, last: datetime, **extra: Any) -> dict[str, Any]:
    """`spec.schedule`: every minute from `first` to `last` (both fire), caught up."""
    return {
        "cron": "* * * * *",
        "startTime": rfc3339(first),
        "endTime": rfc3339(last),
        "catchUp": True,
        **extra,
    }


def fire_name(trigger_name: str, at: datetime) -> str:
    return f"{trigger_name}-{int(at.timestamp())}"


# ----- reading ------------------------------------------------------------------------------


def runs_of(runs: Runs, trigger_name: str) -> dict[str, dict[str, Any]]:
    """The runs labelled with the trigger, by name."""
    out = runs.cluster.kubectl(
        "get", "plr", "-n", runs.ns, "-l", f"{labels.TRIGGER}={trigger_name}", "-o", "json"
    )
    return {r["metadata"]["name"]: r for r in out.json()["items"]}


def all_run_names(runs: Runs) -> set[str]:
    out = runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-o", "name")
    return {line.split("/", 1)[1] for line in out.stdout.split()}


def trigger_status(runs: Runs, name: str) -> dict[str, Any]:
    return status(runs.get(name, kind="trigger"))


def condition(st: Mapping[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = next((c for c in st.get("conditions") or [] if c["type"] == type_), {})
    return found


def wait_trigger(runs: Runs, name: str, what: str, check: Any) -> dict[str, Any]:
    """Poll the trigger's status until check(status) is truthy; return the status."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal last
        last = trigger_status(runs, name)
        return last if check(last) else None

    try:
        result: dict[str, Any] = runs.cluster.wait_for(f"trigger {name}: {what}", probe)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast status: {json.dumps(last, indent=1)}") from None
    return result


def wait_ready(runs: Runs, name: str, ok: str = "True") -> dict[str, Any]:
    return wait_trigger(
        runs, name, f"Ready {ok}", lambda st: condition(st, "Ready").get("status") == ok
    )


def wait_run_names(runs: Runs, trigger_name: str, expected: set[str]) -> dict[str, Any]:
    """Poll until the trigger's runs are exactly `expected`; return them."""
    found: dict[str, Any] = runs.cluster.wait_for(
        f"the runs of {trigger_name} to be {sorted(expected)}",
        lambda: r if set(r := runs_of(runs, trigger_name)) == expected else None,
    )
    return found


def trigger_events(runs: Runs, name: str) -> list[dict[str, Any]]:
    out = runs.cluster.kubectl(
        "get",
        "events",
        "-n",
        runs.ns,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=Trigger",
        "-o",
        "json",
    )
    items: list[dict[str, Any]] = out.json()["items"]
    # The operator's Events are events.k8s.io/v1: a repeat is one Event whose series
    # counts it, read through core/v1 as `series.count` (the core `count` is unset).
    for item in items:
        if item.get("series"):
            item["count"] = item["series"]["count"]
    return items


def post(
    operator: Operator, ns: str, name: str, body: bytes, token: str | None
) -> tuple[int, dict[str, Any]]:
    """POST to the API endpoint; (status code, JSON answer)."""
    url = f"http://127.0.0.1:{operator.api_port}/v1/namespaces/{ns}/triggers/{name}/runs"
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# ----- Schedule -------------------------------------------------------------------------------


def test_catch_up_creates_one_named_run_per_missed_fire(operator: Operator, runs: Runs) -> None:
    fires = past_minutes(3)
    runs.apply(pipeline("sched", [block("a")]))
    runs.apply(trigger("every", "sched", "Schedule", schedule=window(fires[0], fires[-1])))

    expected = {fire_name("every", at) for at in fires}
    made = wait_run_names(runs, "every", expected)
    for at in fires:
        spec = made[fire_name("every", at)]["spec"]
        assert spec["triggeredBy"] == "Schedule"
        assert spec["triggerRef"] == {"name": "every"}
        assert spec["executionDate"] == rfc3339(at)
    st = wait_trigger(runs, "every", "runsCreated 3", lambda s: s.get("runsCreated") == 3)
    assert st["lastScheduleTime"] == rfc3339(fires[-1])
    assert all_run_names(runs) == expected


def test_a_killed_and_restarted_operator_creates_no_fire_twice(
    operator: Operator, runs: Runs
) -> None:
    fires = past_minutes(4)
    runs.apply(pipeline("crash", [block("a")]))
    runs.apply(trigger("tick", "crash", "Schedule", schedule=window(fires[0], fires[2])))
    # Kill as soon as the first run exists: possibly mid-batch, before the status write.
    runs.cluster.wait_for("a first run", lambda: runs_of(runs, "tick"))
    operator.kill()
    before = {n: r["metadata"]["uid"] for n, r in runs_of(runs, "tick").items()}
    operator.start()

    first_three = {fire_name("tick", at) for at in fires[:3]}
    made = wait_run_names(runs, "tick", first_three)
    for name, uid in before.items():
        assert made[name]["metadata"]["uid"] == uid, f"{name} was created again"
    # The restarted operator plans the next fire, and only that one.
    runs.patch("tick", {"spec": {"schedule": {"endTime": rfc3339(fires[3])}}}, kind="trigger")
    expected = first_three | {fire_name("tick", fires[3])}
    made = wait_run_names(runs, "tick", expected)
    for name, uid in before.items():
        assert made[name]["metadata"]["uid"] == uid, f"{name} was created again"
    wait_trigger(runs, "tick", "runsCreated 4", lambda s: s.get("runsCreated") == 4)
    assert all_run_names(runs) == expected


def test_forbid_skips_fires_while_a_run_is_active(operator: Operator, runs: Runs) -> None:
    fires = past_minutes(4)
    runs.apply(pipeline("slow", [block("a")], template(duration="3s")))
    runs.apply(
        trigger(
            "fb",
            "slow",
            "Schedule",
            schedule=window(fires[0], fires[2]),
            concurrencyPolicy="Forbid",
        )
    )
    # Three missed fires: the first runs, the other two come while it is active.
    first = fire_name("fb", fires[0])
    st = wait_trigger(runs, "fb", "firesSkipped 2", lambda s: s.get("firesSkipped") == 2)
    assert st["runsCreated"] == 1
    assert set(runs_of(runs, "fb")) == {first}
    skipped = [e for e in trigger_events(runs, "fb") if e["reason"] == "FireSkipped"]
    assert skipped and all("Forbid" in e["message"] for e in skipped), skipped
    assert sum(e.get("count", 1) for e in skipped) == 2

    # Once it has finished, the next fire runs.
    assert status(runs.wait_finished(first))["phase"] == "Succeeded"
    wait_trigger(runs, "fb", "no active run", lambda s: not s.get("activeRuns"))
    runs.patch("fb", {"spec": {"schedule": {"endTime": rfc3339(fires[3])}}}, kind="trigger")
    wait_run_names(runs, "fb", {first, fire_name("fb", fires[3])})
    assert trigger_status(runs, "fb")["firesSkipped"] == 2


def test_replace_cancels_the_active_run_and_starts_the_new_one(
    operator: Operator, runs: Runs
) -> None:
    fires = past_minutes(2)
    runs.apply(pipeline("rep", [block("a")], template(duration="1h")))
    runs.apply(
        trigger(
            "rp",
            "rep",
            "Schedule",
            schedule=window(fires[0], fires[0] + timedelta(seconds=30)),
            concurrencyPolicy="Replace",
        )
    )
    old, new = (fire_name("rp", at) for at in fires)
    runs.wait_phase(old, "Running")
    # The new run takes the Pipeline as it is now (pods that succeed at once).
    runs.apply(pipeline("rep", [block("a")]))
    runs.patch("rp", {"spec": {"schedule": {"endTime": rfc3339(fires[1])}}}, kind="trigger")

    cancelled = runs.wait_finished(old)
    assert status(cancelled)["phase"] == "Cancelled", status(cancelled)
    assert status(runs.wait_finished(new))["phase"] == "Succeeded"
    assert set(runs_of(runs, "rp")) == {old, new}
    reasons = [e["reason"] for e in trigger_events(runs, "rp")]
    assert "RunReplaced" in reasons, reasons


def test_history_limit_keeps_the_newest_successful_runs(operator: Operator, runs: Runs) -> None:
    fires = past_minutes(4)
    # One run at a time, oldest executionDate first: they finish in fire order.
    runs.apply(
        pipeline("hist", [block("a")], concurrency={"pipelineRunLimit": 1, "onLimit": "Wait"})
    )
    runs.apply(
        trigger(
            "hl",
            "hist",
            "Schedule",
            schedule=window(fires[0], fires[-1]),
            successfulRunsHistoryLimit=2,
        )
    )
    newest = {fire_name("hl", at) for at in fires[2:]}
    kept = runs.cluster.wait_for(
        "only the two newest runs, both Succeeded",
        lambda: (
            r
            if set(r := runs_of(runs, "hl")) == newest
            and all(status(x).get("phase") == "Succeeded" for x in r.values())
            else None
        ),
    )
    assert len(kept) == 2
    assert trigger_status(runs, "hl")["runsCreated"] == 4


# ----- Once, suspend, Ready -------------------------------------------------------------------


def test_once_fires_one_run_then_is_completed(operator: Operator, runs: Runs) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    runs.apply(pipeline("one", [block("a")]))
    runs.apply(trigger("once", "one", "Once", once={"at": rfc3339(at)}))

    st = wait_trigger(
        runs, "once", "Completed True", lambda s: condition(s, "Completed").get("status") == "True"
    )
    name = fire_name("once", at)
    assert st["runsCreated"] == 1
    assert st["lastScheduleTime"] == rfc3339(at)
    run = runs.wait_finished(name)
    assert status(run)["phase"] == "Succeeded"
    assert run["spec"]["triggeredBy"] == "Once"
    assert set(runs_of(runs, "once")) == {name}


def test_a_suspended_trigger_creates_no_runs_until_resumed(operator: Operator, runs: Runs) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    runs.apply(pipeline("sus", [block("a")]))
    runs.apply(trigger("paused", "sus", "Once", once={"at": rfc3339(at)}, suspend=True))
    # The operator has planned this generation (Ready) and made nothing.
    generation = runs.get("paused", kind="trigger")["metadata"]["generation"]
    wait_trigger(
        runs,
        "paused",
        "planned while suspended",
        lambda s: (
            condition(s, "Ready").get("status") == "True"
            and s.get("observedGeneration") == generation
        ),
    )
    assert runs_of(runs, "paused") == {}
    assert trigger_status(runs, "paused").get("runsCreated", 0) == 0

    runs.patch("paused", {"spec": {"suspend": False}}, kind="trigger")
    wait_run_names(runs, "paused", {fire_name("paused", at)})


def test_a_trigger_of_a_missing_pipeline_is_not_ready_until_it_exists(
    operator: Operator, runs: Runs
) -> None:
    fires = past_minutes(2)
    runs.apply(trigger("early", "later", "Schedule", schedule=window(fires[0], fires[-1])))
    st = wait_ready(runs, "early", "False")
    ready = condition(st, "Ready")
    assert ready["reason"] == "MissingPipeline"
    assert "spec.pipelineRef.name" in ready["message"] and "later" in ready["message"]
    assert runs_of(runs, "early") == {}

    runs.apply(pipeline("later", [block("a")]))
    wait_ready(runs, "early")
    # The fires missed while it was not Ready run by the usual (catchUp) rules.
    wait_run_names(runs, "early", {fire_name("early", at) for at in fires})


def test_an_api_trigger_without_its_secret_is_not_ready_until_it_exists(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("apip", [block("a")]))
    ref = {"name": "absent-token", "key": "token"}
    runs.apply(trigger("noauth", "apip", "API", api={"tokenSecretRef": ref}))
    ready = condition(wait_ready(runs, "noauth", "False"), "Ready")
    assert ready["reason"] == "MissingSecret"
    assert "spec.api.tokenSecretRef" in ready["message"] and "absent-token" in ready["message"]

    runs.cluster.kubectl(
        "create", "secret", "generic", "absent-token", "-n", runs.ns, "--from-literal=token=t"
    )
    wait_ready(runs, "noauth")


# ----- Event ----------------------------------------------------------------------------------


def test_an_event_trigger_runs_downstream_after_a_listed_phase_only(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("up", [block("a")], template(fail=True)))
    runs.apply(pipeline("down", [block("b")]))
    runs.apply(
        trigger(
            "chain",
            "down",
            "Event",
            event={"pipelineRef": {"name": "up"}, "phases": ["Succeeded"]},
        )
    )
    wait_ready(runs, "chain")
    runs.start("up-1", "up")
    assert status(runs.wait_finished("up-1"))["phase"] == "Failed"
    runs.apply(pipeline("up", [block("a")]))
    runs.start("up-2", "up")
    assert status(runs.wait_finished("up-2"))["phase"] == "Succeeded"

    down = runs.wait_finished("chain-up-2")
    assert status(down)["phase"] == "Succeeded"
    assert down["spec"]["triggeredBy"] == "Event"
    assert down["spec"]["variables"]["upstreamRun"] == "up-2"
    assert status(down)["variables"]["upstreamRun"] == "up-2"
    # up-1 finished first and was handled by the same or an earlier plan: Failed is not listed.
    assert set(runs_of(runs, "chain")) == {"chain-up-2"}


# ----- API --------------------------------------------------------------------------------------


def test_the_api_endpoint_creates_a_run_and_refuses_bad_requests(
    operator: Operator, runs: Runs, ns: str
) -> None:
    runs.apply(pipeline("apirun", [block("a")], variables={"env": "dev", "who": "pipeline"}))
    runs.cluster.kubectl(
        "create", "secret", "generic", "hook-token", "-n", ns, "--from-literal=token=s3cret"
    )
    runs.apply(
        trigger(
            "hook",
            "apirun",
            "API",
            api={"tokenSecretRef": {"name": "hook-token", "key": "token"}},
            variables={"who": "trigger", "region": "eu"},
        )
    )
    wait_ready(runs, "hook")

    body = json.dumps({"variables": {"who": "api", "date": "2026-11-21"}}).encode()
    code, answer = post(operator, ns, "hook", body, "s3cret")
    assert code == 201, answer
    name = answer["name"]
    run = runs.wait_finished(name)
    assert status(run)["phase"] == "Succeeded"
    assert run["spec"]["triggeredBy"] == "API"
    assert run["spec"]["variables"] == {"who": "api", "region": "eu", "date": "2026-11-21"}
    assert status(run)["variables"] == {
        "env": "dev",
        "who": "api",
        "region": "eu",
        "date": "2026-11-21",
    }

    before = all_run_names(runs)
    assert before == {name}
    refused = {
        "wrong token": (post(operator, ns, "hook", body, "wrong"), 401),
        "no token": (post(operator, ns, "hook", body, None), 401),
        "huge body": (post(operator, ns, "hook", b" " * (65 * 1024), "s3cret"), 413),
        "bad JSON": (post(operator, ns, "hook", b'{"variables": ', "s3cret"), 400),
    }
    for what, ((code, answer), wanted) in refused.items():
        assert code == wanted, (what, code, answer)
        assert answer.get("error"), (what, answer)
    assert all_run_names(runs) == before
