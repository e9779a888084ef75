"""The operator's settings: one object, filled from flags (`runwright operator`) or the environment.

`kopf run -m runwright.controller` has no flags of ours, so every setting also has an
environment variable (RUNWRIGHT_MAX_CONCURRENT_BLOCKS, RUNWRIGHT_EXECUTOR, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ExecutorKind = Literal["pod", "job", "local"]

#: `--executor kubernetes` (and RUNWRIGHT_EXECUTOR=kubernetes) from before the Pod
#: executor: still accepted, meaning `job`, with a warning.
DEPRECATED_EXECUTORS: dict[str, ExecutorKind] = {"kubernetes": "job"}
EXECUTORS: tuple[str, ...] = ("pod", "job", "local", *DEPRECATED_EXECUTORS)


def executor_kind(value: str) -> ExecutorKind:
    """An --executor value as the operator uses it (a deprecated alias mapped to its kind).

    Raises ValueError naming the choices for anything else.
    """
    if value in DEPRECATED_EXECUTORS:
        return DEPRECATED_EXECUTORS[value]
    if value not in ("pod", "job", "local"):
        raise ValueError(f"executor {value!r}: use pod (the default), job or local")
    return value  # type: ignore[return-value]


@dataclass
class OperatorConfig:
    """Everything the operator is told at start."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces to watch; empty means all."""
    max_concurrent_blocks: int | None = 20
    """Blocks running at once across every run this operator manages (None: no limit)."""
    executor: ExecutorKind = "pod"
    """pod: the operator creates block pods; job: a Job per attempt; local: processes.
    A Pipeline's spec.executor (Pod or Job) overrides pod/job for its runs."""
    deprecated_executor: str | None = None
    """The deprecated --executor name given (e.g. kubernetes), warned about at start."""
    pod_pending_timeout: float = 600.0
    """Pod executor: an attempt's pod still Pending after this many seconds fails."""
    health_host: str = "0.0.0.0"  # noqa: S104 - the liveness endpoint must be reachable by kubelet
    health_port: int = 8080
    """/healthz and /metrics."""
    api_port: int = 8081
    """The API-trigger endpoint."""
    log_format: Literal["text", "json"] = "text"
    workdir: Path | None = None
    """For the local executor: where block logs and output files go."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        """Settings from RUNWRIGHT_* environment variables, defaults elsewhere."""
        env = os.environ
        limit = env.get("RUNWRIGHT_MAX_CONCURRENT_BLOCKS", "20")
        executor_name = env.get("RUNWRIGHT_EXECUTOR", "pod")
        try:
            executor = executor_kind(executor_name)
        except ValueError as exc:
            raise ValueError(f"RUNWRIGHT_EXECUTOR: {exc}") from None
        pending = float(env.get("RUNWRIGHT_POD_PENDING_TIMEOUT", "600"))
        log_format = env.get("RUNWRIGHT_LOG_FORMAT", "text")
        if log_format not in ("text", "json"):
            raise ValueError(f"RUNWRIGHT_LOG_FORMAT={log_format!r}: use text or json")
        namespaces = [n for n in env.get("RUNWRIGHT_NAMESPACES", "").split(",") if n]
        workdir = env.get("RUNWRIGHT_WORKDIR")
        return cls(
            namespaces=namespaces,
            max_concurrent_blocks=int(limit) if limit not in ("", "0", "none") else None,
            executor=executor,
            deprecated_executor=executor_name if executor_name in DEPRECATED_EXECUTORS else None,
            pod_pending_timeout=pending,
            health_port=int(env.get("RUNWRIGHT_HEALTH_PORT", "8080")),
            api_port=int(env.get("RUNWRIGHT_API_PORT", "8081")),
            log_format=log_format,  # type: ignore[arg-type]
            workdir=Path(workdir) if workdir else None,
        )


#: The active configuration; `runwright operator` replaces it before kopf starts.
CONFIG = OperatorConfig.from_env()
