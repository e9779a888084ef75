"""hack/kwok/stages.yaml must use exactly the keys hack/kwokstages.py documents."""

import re
from pathlib import Path
from typing import Any

import yaml

from hack import kwokstages

STAGES = Path(__file__).resolve().parents[2] / "hack" / "kwok" / "stages.yaml"
KEY = re.compile(re.escape(kwokstages.PREFIX) + r"/[A-Za-z0-9._-]+")


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(STAGES.read_text()) if d]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _stage(name: str) -> dict[str, Any]:
    (doc,) = [d for d in _docs() if d["metadata"]["name"] == name]
    return doc


def _expressions(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in stage["spec"]["selector"]["matchExpressions"]}


def test_every_document_is_a_uniquely_named_stage() -> None:
    docs = _docs()
    assert {d["kind"] for d in docs} == {"Stage"}
    assert {d["apiVersion"] for d in docs} == {"kwok.x-k8s.io/v1alpha1"}
    names = [d["metadata"]["name"] for d in docs]
    assert len(names) == len(set(names))


def test_stages_use_exactly_the_documented_keys() -> None:
    used = {k for s in _strings(_docs()) for k in KEY.findall(s)}
    assert used == kwokstages.LABEL_KEYS | kwokstages.ANNOTATION_KEYS


def test_label_keys_are_read_as_labels_and_annotations_as_annotations() -> None:
    text = "\n".join(_strings(_docs()))
    for key in kwokstages.LABEL_KEYS:
        assert f'.metadata.labels["{key}"]' in text
        assert f'.metadata.annotations["{key}"]' not in text
        assert f'index . "{key}"' not in text  # templates index annotations only
    for key in kwokstages.ANNOTATION_KEYS:
        assert f'.metadata.labels["{key}"]' not in text
        assert f'.metadata.annotations["{key}"]' in text or f'index . "{key}"' in text


def test_outcome_label_selects_success_or_failure() -> None:
    label = f'.metadata.labels["{kwokstages.OUTCOME}"]'
    ok = _expressions(_stage("runwright-pod-succeeded"))[label]
    fail = _expressions(_stage("runwright-pod-failed"))[label]
    assert (ok["operator"], ok["values"]) == ("NotIn", [kwokstages.FAIL])
    assert (fail["operator"], fail["values"]) == ("In", [kwokstages.FAIL])


def test_outcomes_wait_for_the_duration_annotation_defaulting_to_immediate() -> None:
    for name in ("runwright-pod-succeeded", "runwright-pod-failed"):
        delay = _stage(name)["spec"]["delay"]
        assert delay["durationMilliseconds"] == 0
        expr = f'.metadata.annotations["{kwokstages.DURATION}"]'
        assert delay["durationFrom"]["expressionFrom"] == expr


def test_terminal_stages_write_the_container_termination_fields() -> None:
    for name in ("runwright-pod-succeeded", "runwright-pod-failed", "runwright-pod-terminate"):
        template = _stage(name)["spec"]["next"]["statusTemplate"]
        for field in ("terminated:", "exitCode:", "reason:", "message:", "finishedAt:"):
            assert field in template, (name, field)
    failed = _stage("runwright-pod-failed")["spec"]["next"]["statusTemplate"]
    assert f'index . "{kwokstages.EXIT_CODE}"' in failed
    terminate = _stage("runwright-pod-terminate")["spec"]["next"]["statusTemplate"]
    assert f"exitCode: {kwokstages.DELETED_EXIT_CODE}" in terminate


def test_deleted_pods_go_away() -> None:
    remove = _stage("runwright-pod-remove")
    assert remove["spec"]["next"]["delete"] is True
    assert _expressions(remove)[".metadata.deletionTimestamp"]["operator"] == "Exists"
