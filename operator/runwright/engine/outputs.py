"""The block output contract, read the same way by every executor.

A block reports results by writing one JSON object to `RUNWRIGHT_OUTPUT_PATH`
(API.md, "The block container contract"). Locally that is a file; in a pod it is
the container's termination message file, which the kubelet caps at 4 KiB. Both
executors parse that text here, so a block that works locally reports the same
outputs (or fails with the same explanation) in a cluster.
"""

from __future__ import annotations

import json
import math

from runwright.engine.dag import did_you_mean

#: A pod's termination message (where a block's output goes in a cluster) holds 4 KiB.
MAX_OUTPUT_BYTES = 4096
#: Lines of a log or termination message kept as the message of a failed attempt.
TAIL_LINES = 10


class OutputError(ValueError):
    """The block's output is not the JSON object the contract asks for."""


def parse_output(text: str) -> tuple[dict[str, str], dict[str, float]]:
    """Outputs and metrics from the output text (empty = nothing reported).

    Raises OutputError naming the problem and its fix: a block that exits 0 but
    reports garbage must fail loudly (InvalidOutput), not pass empty outputs on to
    its downstream blocks.
    """
    if not text.strip():
        return {}, {}
    size = len(text.encode())
    if size > MAX_OUTPUT_BYTES:
        raise OutputError(
            f"{size} bytes is over the {MAX_OUTPUT_BYTES}-byte limit of a pod's termination "
            "message; report small values and write data elsewhere"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputError(
            f'not valid JSON ({exc}); write one object such as {{"outputs": {{"rows": "12"}}}}'
        ) from exc
    if not isinstance(data, dict):
        raise OutputError('must be one JSON object with "outputs" and/or "metrics"')
    for key in data:
        if key not in ("outputs", "metrics"):
            hint = did_you_mean(key, ("outputs", "metrics"))
            raise OutputError(f'unknown key "{key}"{hint}; only "outputs" and "metrics" are read')
    outputs = data.get("outputs", {})
    metrics = data.get("metrics", {})
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        raise OutputError('"outputs" must map names to strings (write numbers as "12")')
    if not isinstance(metrics, dict) or not all(_is_number(v) for v in metrics.values()):
        raise OutputError('"metrics" must map names to numbers')
    return dict(outputs), {k: float(v) for k, v in metrics.items()}


def read_output(text: str) -> tuple[dict[str, str], dict[str, float], str | None]:
    """`parse_output` without the exception: (outputs, metrics, problem or None).

    For callers that turn a bad output into a state rather than unwind (the
    Kubernetes executor builds Observations in a pure function).
    """
    try:
        outputs, metrics = parse_output(text)
    except OutputError as exc:
        return {}, {}, str(exc)
    return outputs, metrics, None


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, right-stripped: what a failure message shows.

    A traceback's useful part is its end, and the run status should stay small.
    """
    kept = text.splitlines()[-lines:]
    return "\n".join(line.rstrip() for line in kept).strip()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
