"""Blocks as local processes: the executor behind `runwright run`.

It does for a process what the Kubernetes executor does for a Job: start an attempt
under a deterministic name (a repeat is a no-op, like a 409), report what it sees of
each block's latest attempt as an `Observation`, and stop an attempt for good. Each
attempt runs in its own session, so stopping it kills every process it started, as
deleting a pod would. Everything is asyncio and never blocks the loop, so the same
class can run inside the kopf operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runwright.engine import outputs

# Re-exported: the output contract used to live here and callers import it from here.
from runwright.engine.outputs import MAX_OUTPUT_BYTES as MAX_OUTPUT_BYTES
from runwright.engine.outputs import TAIL_LINES as TAIL_LINES
from runwright.engine.outputs import OutputError as OutputError
from runwright.engine.outputs import parse_output as parse_output
from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.engine.verdict import Ending, judge
from runwright.executors.contract import attempt_environment

#: Exit codes a shell would report for a command it cannot find / cannot execute.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126

Warn = Callable[[str], None]


@dataclass
class _Attempt:
    """One process and everything observed of it."""

    block: str
    attempt: int
    name: str
    log_path: Path
    output_path: Path
    started_at: datetime
    process: asyncio.subprocess.Process | None = None
    waiter: asyncio.Task[None] | None = None
    state: AttemptState = AttemptState.RUNNING
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    stopping: bool = False

    def observation(self) -> Observation:
        return Observation(
            attempt=self.attempt,
            state=self.state,
            started_at=self.started_at,
            finished_at=self.finished_at,
            exit_code=self.exit_code,
            reason=self.reason,
            message=self.message,
            outputs=dict(self.outputs),
            metrics=dict(self.metrics),
        )


class LocalExecutor:
    """Runs block attempts as local process groups and reports on them.

    `observe()` consumes the change notification and `wait()` sleeps until the next
    one (an attempt finished or failed to start), so a driver never polls.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        grace_seconds: float = 3.0,
        warn: Warn | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        # A directory we made is ours to remove on close; one we were given is the
        # caller's (`runwright run` keeps its logs for the user).
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="runwright-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.grace_seconds = grace_seconds
        self._warn = warn or (lambda _message: None)
        self._attempts: dict[str, _Attempt] = {}
        self._latest: dict[str, _Attempt] = {}
        self._changed = asyncio.Event()
        # Called with every change too: the operator wakes the run's worker with it.
        self._on_change = on_change or (lambda: None)

    # ----- the executor interface -------------------------------------------------------

    async def start(self, action: StartBlock) -> None:
        """Start one attempt; starting an attempt name that exists already does nothing."""
        if action.name in self._attempts:
            return
        attempt = _Attempt(
            block=action.key,
            attempt=action.attempt,
            name=action.name,
            log_path=self.workdir / f"{action.name}.log",
            output_path=self.workdir / f"{action.name}.output.json",
            started_at=_now(),
        )
        self._attempts[action.name] = attempt
        current = self._latest.get(action.key)
        if current is None or current.attempt <= action.attempt:
            self._latest[action.key] = attempt
        argv = [*action.command, *action.args]
        if not action.command:
            self._fail_to_start(
                attempt,
                EXIT_NOT_FOUND,
                "NoCommand",
                "the block has no command; local mode runs spec.blocks[].command (it cannot "
                "use the image's entrypoint), so add one",
            )
            return
        env = self._environment(action, attempt.output_path)
        log_fd = _prepare_files(attempt.log_path, attempt.output_path)
        try:
            attempt.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            self._fail_to_start(
                attempt, EXIT_NOT_FOUND, "CommandNotFound", f"command not found: {argv[0]}"
            )
            return
        except PermissionError:
            self._fail_to_start(
                attempt,
                EXIT_NOT_EXECUTABLE,
                "CommandNotExecutable",
                f"command not executable (permission denied): {argv[0]}",
            )
            return
        except OSError as exc:
            self._fail_to_start(attempt, EXIT_NOT_EXECUTABLE, "StartError", f"{argv[0]}: {exc}")
            return
        finally:
            os.close(log_fd)
        attempt.waiter = asyncio.create_task(self._wait_for_exit(attempt))

    def observe(self) -> dict[str, Observation]:
        """The latest attempt of each block that has one; clears the change notification."""
        self._changed.clear()
        return {block: a.observation() for block, a in self._latest.items()}

    async def wait(self) -> None:
        """Sleep until something changed since the last `observe()`."""
        await self._changed.wait()

    @property
    def idle(self) -> bool:
        """True when no attempt runs and nothing changed since the last `observe()`."""
        running = any(a.state == AttemptState.RUNNING for a in self._attempts.values())
        return not running and not self._changed.is_set()

    @property
    def changed(self) -> asyncio.Event:
        """Set when an attempt finished (or failed to start) since the last `observe()`."""
        return self._changed

    async def stop(self, name: str) -> None:
        """Kill the attempt's whole process group: SIGTERM, then SIGKILL after the grace.

        Idempotent: stopping an unknown or finished attempt does nothing.
        """
        attempt = self._attempts.get(name)
        if attempt is None or attempt.process is None or attempt.state != AttemptState.RUNNING:
            return
        process = attempt.process
        attempt.stopping = True
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), self.grace_seconds)
        # Children that ignored SIGTERM (or outlived their parent) go too.
        _signal_group(process.pid, signal.SIGKILL)
        if attempt.waiter is not None:
            await asyncio.shield(attempt.waiter)

    async def close(self) -> None:
        """Kill every attempt still running; the executor is not used afterwards.

        A temporary directory the executor made itself (no `workdir` given) is removed
        too, so no run leaves one behind; a given `workdir` is kept.
        """
        running = [a.name for a in self._attempts.values() if a.state == AttemptState.RUNNING]
        await asyncio.gather(*(self.stop(name) for name in running))
        if self._own_workdir:
            await asyncio.to_thread(shutil.rmtree, self.workdir, True)

    def log_path(self, name: str) -> Path | None:
        """Where the attempt's stdout and stderr went, if it was started."""
        attempt = self._attempts.get(name)
        return attempt.log_path if attempt is not None else None

    # ----- internals ----------------------------------------------------------------------

    def _environment(self, action: StartBlock, output_path: Path) -> dict[str, str]:
        env = dict(os.environ)
        for var in attempt_environment(action, str(output_path)):
            if var.value_from is not None:
                self._warn(
                    f"{action.block}: env {var.name} uses valueFrom, which needs a cluster; "
                    "it is not set in local mode"
                )
                continue
            env[var.name] = var.value or ""
        return env

    def _fail_to_start(self, attempt: _Attempt, code: int, reason: str, message: str) -> None:
        attempt.state = AttemptState.FAILED
        attempt.finished_at = _now()
        attempt.exit_code = code
        attempt.reason = reason
        attempt.message = message
        self._changed.set()
        self._on_change()

    async def _wait_for_exit(self, attempt: _Attempt) -> None:
        assert attempt.process is not None
        returncode = await attempt.process.wait()
        # The block is over when its main process is; leftovers would outlive a pod.
        _signal_group(attempt.process.pid, signal.SIGKILL)
        finished = _now()
        output_text, tail = await asyncio.to_thread(
            _read_results, attempt.output_path, attempt.log_path
        )
        attempt.exit_code = returncode if returncode >= 0 else 128 - returncode
        attempt.finished_at = finished
        if returncode >= 0:
            ending, detail = Ending.EXITED, ""
        else:
            ending = Ending.STOPPED if attempt.stopping else Ending.KILLED
            detail = f"killed by {signal.Signals(-returncode).name}"
        verdict = judge(ending, exit_code=returncode, output=output_text, tail=tail, detail=detail)
        attempt.state = verdict.state
        attempt.reason = verdict.reason
        attempt.message = verdict.message
        attempt.outputs, attempt.metrics = verdict.outputs, verdict.metrics
        self._changed.set()
        self._on_change()


def _now() -> datetime:
    return datetime.now(UTC)


def _prepare_files(log_path: Path, output_path: Path) -> int:
    """A fresh empty output file (as a pod's termination message file) and the log's fd."""
    output_path.write_bytes(b"")
    return os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def _read_results(output_path: Path, log_path: Path) -> tuple[str, str]:
    """The output file's text and the last lines of the log (run in a thread)."""
    try:
        with output_path.open("rb") as handle:
            output = handle.read(MAX_OUTPUT_BYTES + 1).decode(errors="replace")
    except OSError:
        output = ""
    try:
        with log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 16384, 0))
            log = handle.read().decode(errors="replace")
    except OSError:
        log = ""
    return output, outputs.tail(log, TAIL_LINES)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The process is its own session and group leader (start_new_session), so its pid
    # is the group id, even after it has exited while children live on.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
