"""Runwright's block SDK: report a block's outputs and metrics the way the operator reads them.

A block reports results by writing one JSON object to the file named by
RUNWRIGHT_OUTPUT_PATH (in a pod, the container's termination message, which holds
at most 4 KiB):

    from runwright_sdk import write_outputs
    write_outputs({"rows": "1200"}, {"itemsProcessed": 1200})

Standard library only, so it drops into any Python image. The rules match
runwright.engine.outputs, which parses what this writes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

#: A pod's termination message (where the output goes in a cluster) holds 4 KiB.
MAX_OUTPUT_BYTES = 4096
OUTPUT_PATH_ENV = "RUNWRIGHT_OUTPUT_PATH"


class OutputError(ValueError):
    """The outputs cannot be reported: wrong types, too large, or nowhere to write."""


def encode_outputs(
    outputs: Mapping[str, str] | None = None, metrics: Mapping[str, float] | None = None
) -> str:
    """The JSON text for outputs and metrics, checked against the contract."""
    outputs = dict(outputs or {})
    metrics = dict(metrics or {})
    for key, value in outputs.items():
        if not isinstance(value, str):
            raise OutputError(
                f'outputs["{key}"] is {type(value).__name__}: outputs are strings '
                f'(write {value!r} as "{value}")'
            )
    for key, number in metrics.items():
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
        ):
            raise OutputError(f'metrics["{key}"] = {number!r}: metrics are finite numbers')
    data: dict[str, object] = {}
    if outputs:
        data["outputs"] = outputs
    if metrics:
        data["metrics"] = metrics
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    size = len(text.encode())
    if size > MAX_OUTPUT_BYTES:
        raise OutputError(
            f"{size} bytes is over the {MAX_OUTPUT_BYTES}-byte limit of a pod's termination "
            "message; report small values and write data elsewhere (object storage, a table)"
        )
    return text


def write_outputs(
    outputs: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write outputs and metrics to RUNWRIGHT_OUTPUT_PATH (or `path`); returns the file."""
    text = encode_outputs(outputs, metrics)
    target = path if path is not None else os.environ.get(OUTPUT_PATH_ENV)
    if not target:
        raise OutputError(
            f"{OUTPUT_PATH_ENV} is not set: run this inside a Runwright block, or pass path="
        )
    file = Path(target)
    file.write_text(text, encoding="utf-8")
    return file
