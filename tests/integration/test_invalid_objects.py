"""Accepted-but-invalid objects (issue 16 item 4): refused at apply, or not Ready, never a
traceback.

On main, 28 of 74 broken manifests were accepted (Ready=True although they could not
run) and the operator logged 7 tracebacks. Here each case of invalid_cases.CASES is
either refused by the API server, its message naming the field, or (what only the
operator can judge: templates, a retry of a running run) gets a False condition naming
the field and a Warning Event; the operator's log must hold no traceback.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .invalid_cases import CASES, Case, pipeline
from .kube import Cluster
from .operator_fixture import Operator, Runs, block, template

pytestmark = pytest.mark.integration

REFUSED = [c for c in CASES if c.refused]
NOT_READY = [c for c in CASES if not c.refused]


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_the_api_server_refuses_it_naming_the_field(cluster: Cluster, ns: str, case: Case) -> None:
    obj = case.make(case.id)
    res = cluster.apply(copy.deepcopy(obj), ns, check=False)
    assert not res.ok, f"the API server accepted an invalid {obj['kind']}: {obj['spec']}"
    assert "no matches for kind" not in res.stderr, res.stderr
    for word in case.words:
        assert word in res.stderr, f"{word!r} not in the refusal: {res.stderr}"


def ready(runs: Runs, kind: str, name: str) -> dict[str, Any] | None:
    body = runs.find(name, kind)
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def test_the_operator_says_not_ready_naming_the_field_and_logs_no_traceback(
    operator: Operator, runs: Runs
) -> None:
    for case in NOT_READY:
        runs.apply(case.make(case.id))
    runs.apply(pipeline("valid"))
    for case in NOT_READY:
        cond = runs.cluster.wait_for(
            f"Pipeline {case.id} Ready False",
            lambda c=case: (r := ready(runs, "pipeline", c.id)) and r["status"] == "False" and r,
        )
        assert cond["reason"] == "InvalidTemplate", cond
        for word in case.words:
            assert word in cond["message"], cond
    # ... and says it with a Warning Event, as `kubectl describe pipeline` shows.
    events = runs.cluster.wait_for(
        "a Warning Event on Pipeline template-repeat",
        lambda: [
            e
            for e in runs.cluster.kubectl(
                "get",
                "events",
                "-n",
                runs.ns,
                "--field-selector",
                "involvedObject.kind=Pipeline,involvedObject.name=template-repeat",
                "-o",
                "json",
            ).json()["items"]
            if e["type"] == "Warning"
        ],
    )
    assert events[0]["reason"] == "InvalidTemplate"
    assert "spec.blocks[0].args[1]" in events[0]["message"]
    # A run of a not-Ready Pipeline fails at once, saying why.
    runs.start("attack-1", "template-repeat")
    run = runs.wait_finished("attack-1")
    assert run["status"]["phase"] == "Failed"
    assert "spec.blocks[0].args[1]" in run["status"]["message"]
    # The operator is still well: a valid Pipeline is Ready beside the invalid ones.
    assert runs.cluster.wait_for(
        "Pipeline valid Ready True",
        lambda: (r := ready(runs, "pipeline", "valid")) and r["status"] == "True",
    )
    assert "Traceback" not in operator.log_path.read_text(errors="replace")


def test_a_retry_naming_an_unknown_block_on_a_running_run_is_refused_with_an_event(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        {
            **pipeline("slow"),
            "spec": {"template": template(duration="300s"), "blocks": [block("clean")]},
        }
    )
    runs.start("slow-1", "slow")
    runs.wait_pod_running("slow-1-clean-1")
    runs.patch("slow-1", {"spec": {"retry": {"id": "1", "mode": "FromBlock", "fromBlock": "clen"}}})

    def refused(body: dict[str, Any]) -> bool:
        conditions = (body.get("status") or {}).get("conditions") or []
        return any(c["type"] == "RetryAccepted" and c["status"] == "False" for c in conditions)

    body = runs.wait("slow-1", "RetryAccepted False", refused)
    cond = next(c for c in body["status"]["conditions"] if c["type"] == "RetryAccepted")
    assert cond["reason"] == "UnknownBlock"
    assert "spec.retry.fromBlock" in cond["message"] and 'did you mean "clean"' in cond["message"]
    assert body["status"]["phase"] == "Running"
    event = runs.wait_event("slow-1", "RetryRejected")
    assert event["type"] == "Warning"
    assert "Traceback" not in operator.log_path.read_text(errors="replace")
