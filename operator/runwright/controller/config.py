"""The operator's settings: one object, filled from flags (`runwright operator`) or the environment.

`kopf run -m runwright.controller` has no flags of ours, so every setting also has an
environment variable (RUNWRIGHT_MAX_CONCURRENT_BLOCKS, RUNWRIGHT_EXECUTOR, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runwright.executors.pod_security import PodDefaults, parse_quantities

PodSecurity = Literal["restricted", "none"]

#: Requests and limits a block container gets for each resource it names no value of,
#: so block pods are Burstable, not BestEffort (docs/security.md).
DEFAULT_REQUESTS = "cpu=100m,memory=128Mi"
DEFAULT_LIMITS = "memory=512Mi"

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
    resync_period: float | None = 60.0
    """An unfinished run is reconciled at least this often, events or not (None: never)."""
    health_host: str = "0.0.0.0"  # noqa: S104 - the liveness endpoint must be reachable by kubelet
    health_port: int = 8080
    """/healthz and /metrics."""
    api_port: int = 8081
    """The API-trigger endpoint."""
    log_format: Literal["text", "json"] = "text"
    workdir: Path | None = None
    """For the local executor: where block logs and output files go."""
    default_requests: dict[str, str] = field(
        default_factory=lambda: parse_quantities(DEFAULT_REQUESTS, "--default-requests")
    )
    """Block container requests by resource, where the Pipeline sets none."""
    default_limits: dict[str, str] = field(
        default_factory=lambda: parse_quantities(DEFAULT_LIMITS, "--default-limits")
    )
    """Block container limits by resource, where the Pipeline sets none."""
    pod_security: PodSecurity = "restricted"
    """restricted: block pods get the Pod Security "restricted" defaults; none: as written."""

    def pod_defaults(self) -> PodDefaults:
        """What the Job executor adds to every block pod (executors/pod_security.py)."""
        return PodDefaults(
            requests=dict(self.default_requests),
            limits=dict(self.default_limits),
            harden=self.pod_security == "restricted",
        )

    qps: float = 100.0
    """Client-side rate limit of the operator's API requests, per second (0: none)."""
    burst: int = 200
    """Requests the rate limit lets through at once."""
    event_qps: float = 50.0
    """Events' own client-side rate limit, per second (0: none): Events are posted
    behind the reconcile and never take the tokens of the run's writes."""
    event_burst: int = 100
    """Events the Events' rate limit lets through at once."""
    status_delay: float = 1.0
    """Seconds a run's status write may wait when its only news is attempts started
    (engine/status_writes.py): a block ending within it is written once (0: never wait)."""
    archive: str | None = None
    """The run archive's URL (sqlite:///PATH, postgresql+asyncpg://...); None: no archive."""
    archive_log_cap: int = 1 << 20
    """Bytes of each attempt's log the archive keeps (the tail)."""
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
        pod_security = env.get("RUNWRIGHT_POD_SECURITY", "restricted")
        if pod_security not in ("restricted", "none"):
            raise ValueError(f"RUNWRIGHT_POD_SECURITY={pod_security!r}: use restricted or none")
        requests = env.get("RUNWRIGHT_DEFAULT_REQUESTS", DEFAULT_REQUESTS)
        limits = env.get("RUNWRIGHT_DEFAULT_LIMITS", DEFAULT_LIMITS)
        job_ttl = env.get("RUNWRIGHT_JOB_TTL", "86400")
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
            default_requests=parse_quantities(requests, "RUNWRIGHT_DEFAULT_REQUESTS"),
            default_limits=parse_quantities(limits, "RUNWRIGHT_DEFAULT_LIMITS"),
            pod_security=pod_security,  # type: ignore[arg-type]
            qps=float(env.get("RUNWRIGHT_QPS", "100")),
            burst=int(env.get("RUNWRIGHT_BURST", "200")),
            event_qps=float(env.get("RUNWRIGHT_EVENT_QPS", "50")),
            event_burst=int(env.get("RUNWRIGHT_EVENT_BURST", "100")),
            status_delay=float(env.get("RUNWRIGHT_STATUS_DELAY", "1")),
            archive=archive_setting(env.get("RUNWRIGHT_ARCHIVE") or default_archive()),
            archive_log_cap=int(env.get("RUNWRIGHT_ARCHIVE_LOG_BYTES", str(1 << 20))),
            job_ttl=int(job_ttl) if job_ttl not in ("", "none") else None,
            delete_finished_jobs=env.get("RUNWRIGHT_DELETE_FINISHED_JOBS", "") in ("1", "true"),
        )


def default_archive() -> str:
    """The archive a user gets without configuring one: an SQLite file in their data
    directory ($XDG_DATA_HOME, else ~/.local/share), so run history survives the
    PipelineRuns from the first run on. The chart names its own file on a volume."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'runwright' / 'archive.db'}"


def archive_setting(value: str) -> str | None:
    """`--archive` / RUNWRIGHT_ARCHIVE: a database URL, or none (also empty) for no archive."""
    return None if value.strip().lower() in ("", "none") else value.strip()


#: The active configuration; `runwright operator` replaces it before kopf starts.
CONFIG = OperatorConfig.from_env()
