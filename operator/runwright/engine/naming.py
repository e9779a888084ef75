"""Deterministic names: the same attempt always gets the same Job name, so a repeat is a 409."""

from __future__ import annotations

import hashlib

MAX_NAME = 63


def attempt_name(run: str, block: str, attempt: int) -> str:
    """`<run>-<block>-<attempt>`, shortened with a hash when over 63 characters.

    63 is the limit of a label value (the Job controller copies the Job name into
    its pods' `job-name` label), so every Job name must fit it.
    """
    full = f"{run}-{block}-{attempt}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    tail = f"-{digest}-{attempt}"
    head = full[: MAX_NAME - len(tail)].rstrip("-.")
    return head + tail
