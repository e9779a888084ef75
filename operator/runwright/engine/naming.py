"""Deterministic names: the same attempt or fire always gets the same name, so a repeat is a 409."""

from __future__ import annotations

import hashlib

from runwright.api.common import MAX_NAME

#: Hex digits of the hash in a shortened Job name (attempt) and run name (trigger fire).
#: They differ for history's sake: changing either would rename in-flight work.
ATTEMPT_DIGEST = 10
RUN_DIGEST = 8


def shorten(prefix: str, suffix: str, digest_length: int) -> str:
    """`<prefix>-<suffix>`, shortened with a hash of the whole when over 63 characters.

    63 is the limit of a name used as a label value (the Job controller copies a Job
    name into its pods' `job-name` label; runs are selected by name too). The suffix
    (an attempt number, a fire time, an upstream run) tells names apart, so it is kept
    whole when it fits and the prefix is cut; the hash keeps two long names that share
    a prefix apart.
    """
    full = f"{prefix}-{suffix}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:digest_length]
    tail = f"-{digest}-{suffix}"
    if len(tail) > MAX_NAME - 1:
        tail = f"-{digest}"
    return prefix[: MAX_NAME - len(tail)].rstrip("-.") + tail


def attempt_name(run: str, block: str, attempt: int) -> str:
    """`<run>-<block>-<attempt>`: the Job (or process) name of one attempt of a block."""
    return shorten(f"{run}-{block}", str(attempt), ATTEMPT_DIGEST)


def run_name(trigger: str, suffix: str) -> str:
    """`<trigger>-<suffix>`: the name of the run a trigger creates for one fire."""
    return shorten(trigger, suffix, RUN_DIGEST)


__all__ = ["MAX_NAME", "attempt_name", "run_name", "shorten"]
