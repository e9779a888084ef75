"""The operator's settings: one object, filled from flags (`runwright operator`) or the environment.

`kopf run -m runwright.controller` has no flags of ours, so every setting also has an
environment variable (RUNWRIGHT_MAX_CONCURRENT_BLOCKS, RUNWRIGHT_EXECUTOR, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ExecutorKind = Literal["kubernetes", "local"]


@dataclass
class OperatorConfig:
    """Everything the operator is told at start."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces to watch; empty means all."""
    max_concurrent_blocks: int | None = 20
    """Blocks running at once across every run this operator manages (None: no limit)."""
    executor: ExecutorKind = "kubernetes"
    health_host: str = "0.0.0.0"  # noqa: S104 - the liveness endpoint must be reachable by kubelet
    health_port: int = 8080
    """/healthz and /metrics."""
    api_port: int = 8081
    """The API-trigger endpoint."""
    log_format: Literal["text", "json"] = "text"
    workdir: Path | None = None
    """For the local executor: where block logs and output files go."""
    job_ttl: int | None = 86400
    """ttlSecondsAfterFinished of block Jobs: Kubernetes deletes a finished Job (and its
    pod) this long after it ends (None: never). The run's status has the attempt by then."""
    delete_finished_jobs: bool = False
    """Delete a finished run's Jobs (and pods) as soon as its final status is written."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        """Settings from RUNWRIGHT_* environment variables, defaults elsewhere."""
        env = os.environ
        limit = env.get("RUNWRIGHT_MAX_CONCURRENT_BLOCKS", "20")
        executor = env.get("RUNWRIGHT_EXECUTOR", "kubernetes")
        if executor not in ("kubernetes", "local"):
            raise ValueError(f"RUNWRIGHT_EXECUTOR={executor!r}: use kubernetes or local")
        log_format = env.get("RUNWRIGHT_LOG_FORMAT", "text")
        if log_format not in ("text", "json"):
            raise ValueError(f"RUNWRIGHT_LOG_FORMAT={log_format!r}: use text or json")
        namespaces = [n for n in env.get("RUNWRIGHT_NAMESPACES", "").split(",") if n]
        workdir = env.get("RUNWRIGHT_WORKDIR")
        job_ttl = env.get("RUNWRIGHT_JOB_TTL", "86400")
        return cls(
            namespaces=namespaces,
            max_concurrent_blocks=int(limit) if limit not in ("", "0", "none") else None,
            executor=executor,  # type: ignore[arg-type]
            health_port=int(env.get("RUNWRIGHT_HEALTH_PORT", "8080")),
            api_port=int(env.get("RUNWRIGHT_API_PORT", "8081")),
            log_format=log_format,  # type: ignore[arg-type]
            workdir=Path(workdir) if workdir else None,
            job_ttl=int(job_ttl) if job_ttl not in ("", "none") else None,
            delete_finished_jobs=env.get("RUNWRIGHT_DELETE_FINISHED_JOBS", "") in ("1", "true"),
        )


#: The active configuration; `runwright operator` replaces it before kopf starts.
CONFIG = OperatorConfig.from_env()
