"""A Pipeline whose run could outgrow etcd is refused, with the sizes in the message."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from runwright.api.pipeline import MAX_BLOCKS, Pipeline, PipelineSpec
from runwright.checks import check
from runwright.controller.oversize import merged, too_large
from runwright.engine import run_size


def spec(blocks: int, arg_bytes: int = 0, upstream: int = 0) -> PipelineSpec:
    def name(i: int) -> str:
        return f"b{i}".ljust(63, "x")

    raw: dict[str, Any] = {
        "template": {"image": "x:1"},
        "blocks": [
            {
                "name": name(i),
                "command": ["x"],
                "args": ["a" * arg_bytes] if arg_bytes else [],
                "upstream": [name(j) for j in range(max(0, i - upstream), i)],
            }
            for i in range(blocks)
        ],
    }
    return PipelineSpec.model_validate(raw)


def test_the_largest_shape_the_crd_accepted_before_issue_15_still_fits() -> None:
    # 160 blocks x 20 upstreams was the CRD's cap; 1,000 x 50 with 63-character names
    # is a 3.4 MB spec, refused by size (tests/unit/test_bigdag.py).
    assert check(Pipeline(spec=spec(160, arg_bytes=100, upstream=20))) == []


def test_1000_blocks_with_short_names_fit() -> None:
    raw = spec(MAX_BLOCKS, upstream=5).model_dump(by_alias=True)
    for i, block in enumerate(raw["blocks"]):
        block["name"] = f"b{i}"
        block["upstream"] = [f"b{j}" for j in range(max(0, i - 5), i)]
    assert check(Pipeline(spec=PipelineSpec.model_validate(raw))) == []


def test_a_pipeline_with_large_args_is_refused_naming_size_and_limit() -> None:
    problems = check(Pipeline(spec=spec(100, arg_bytes=10_000)))
    assert [p.reason for p in problems] == ["TooLarge"]
    message = str(problems[0])
    worst = run_size.worst_run_bytes(spec(100, arg_bytes=10_000))
    assert f"{worst:,} bytes" in message
    assert f"{run_size.MAX_RUN_BYTES:,}-byte limit" in message


def test_a_write_refused_for_its_size_is_told_from_other_errors() -> None:
    etcd = ApiException(status=500)
    etcd.body = b'{"message": "etcdserver: request is too large"}'
    assert too_large(etcd) == "etcdserver: request is too large"
    assert too_large(ApiException(status=413, reason="Request Entity Too Large")) is not None
    conflict = ApiException(status=409)
    conflict.body = b'{"message": "conflict"}'
    assert too_large(conflict) is None
    assert too_large(ValueError("too large")) is None


def test_the_failing_write_is_merged_into_what_was_written() -> None:
    written = {"phase": "Running", "pipelineSpec": {"blocks": []}, "blocks": {}}
    assert merged(written, {"phase": "Failed", "pipelineSpec": None}) == {
        "phase": "Failed",
        "blocks": {},
    }
