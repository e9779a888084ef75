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


#: Between a block name and an item index in an item's observation key. Block names are
#: DNS-1123 labels, so it never occurs in one.
ITEM_SEPARATOR = "/"


def item_key(block: str, index: int) -> str:
    """`<block>/<index>`: how the engine and the executors key one item of a fan-out."""
    return f"{block}{ITEM_SEPARATOR}{index}"


def split_key(key: str) -> tuple[str, int | None]:
    """(block, item index) of an observation key; the index is None for a plain block."""
    block, sep, index = key.partition(ITEM_SEPARATOR)
    return (block, int(index)) if sep and index.isdigit() else (key, None)


def item_attempt_name(run: str, block: str, index: int, attempt: int) -> str:
    """`<run>-<block>-<index>-<attempt>`: the pod, Job or process of one item's attempt.

    A plain block named `<block>-<index>` would share these names, so `engine.fanout`
    refuses a Pipeline that has both.
    """
    return shorten(f"{run}-{block}", f"{index}-{attempt}", ATTEMPT_DIGEST)


def key_attempt_name(run: str, key: str, attempt: int) -> str:
    """The attempt name for an observation key (a plain block's or an item's)."""
    block, index = split_key(key)
    if index is None:
        return attempt_name(run, block, attempt)
    return item_attempt_name(run, block, index, attempt)


def run_name(trigger: str, suffix: str) -> str:
    """`<trigger>-<suffix>`: the name of the run a trigger creates for one fire."""
    return shorten(trigger, suffix, RUN_DIGEST)


__all__ = [
    "MAX_NAME",
    "attempt_name",
    "item_attempt_name",
    "item_key",
    "key_attempt_name",
    "run_name",
    "shorten",
    "split_key",
]
