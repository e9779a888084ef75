"""`runwright operator` as a child process: the one launcher of demo, tests and benchmarks.

    from hack.operator_process import OperatorProcess    # tests, benchmarks
    from operator_process import OperatorProcess         # scripts in hack/ (their directory)

    op = OperatorProcess(kubeconfig, ["my-ns"], ["--executor", "local"], log_path)
    op.start()             # free ports, waits until /healthz answers 200
    op.pid                 # for kill -9 fault tests, /proc/<pid>/stat CPU figures
    op.metrics()           # the text of its /metrics
    op.kill(); op.start()  # a crash and a restart
    op.stop()              # SIGTERM, then SIGKILL when it does not exit in time

Each start takes two fresh free ports (--health-port for /healthz and /metrics,
--api-port for the API-trigger endpoint), so operators of parallel tests, the demo
and a benchmark never collide with each other or with a cluster's operator on
8080/8081. The log goes to one file: the first start truncates it, a restart
appends below a `===== start N` line, so the file tells a crash-and-restart story
in order. Starting fails with OperatorStartError, carrying the log's tail, when the
process exits or is not healthy in time; the health check is polled with a deadline.

Why a subprocess (and not kopf in a thread): a real `kill -9` is a real crash, the
flags are parsed as a user's are, and CPU and memory figures are the operator's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: How long a started operator may take to answer /healthz (a loaded 2-core machine).
START_TIMEOUT = 60.0
#: How long SIGTERM has to end the process before SIGKILL.
STOP_TIMEOUT = 20.0


class OperatorStartError(RuntimeError):
    """The operator exited, or was not healthy in time; the message has its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def runwright_executable() -> Path:
    """`runwright` of the running interpreter's environment (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "runwright"
    if beside.exists():
        return beside
    found = shutil.which("runwright")
    return Path(found) if found else ROOT / ".venv" / "bin" / "runwright"


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """(status, body) of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except OSError:  # connection refused, timeouts, HTTP errors (URLError is an OSError)
        return None


class OperatorProcess:
    """One `runwright operator -n NS... ARGS` child process, stopped by its pid."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: Sequence[str],
        args: Sequence[str] = (),
        log_path: Path = ROOT / ".cluster" / "operator.log",
        *,
        env: Mapping[str, str] | None = None,
        executable: Path | None = None,
        identity: str | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = list(namespaces)
        """Watched namespaces; empty watches every namespace (-A)."""
        self.args = list(args)
        self.log_path = log_path
        self.env = dict(env or {})
        """Extra environment of the process (KUBECONFIG is always set)."""
        self.executable = executable or runwright_executable()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        """--health-port of the current start: /healthz and /metrics."""
        self.api_port = 0
        """--api-port of the current start: the API-trigger endpoint."""
        self.starts = 0
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        """--leader-election-identity, kept across restarts as a pod keeps its name: a
        restarted process takes its own Lease back at once; another object's process
        waits for the Lease to expire, as a second replica would."""

    # ----- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(self.executable), "operator", "--health-port", str(self.port)]
        cmd += ["--api-port", str(self.api_port)]
        for ns in self.namespaces:
            cmd += ["-n", ns]
        cmd += self.args
        if not any(a == "--archive" or a.startswith("--archive=") for a in self.args):
            # Tests and benchmarks share this machine: no archive unless one is asked for,
            # rather than every operator writing the user's default file.
            cmd += ["--archive", "none"]
        return [*cmd, "--leader-election-identity", self.identity]

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process on fresh ports and return once /healthz answers 200."""
        if self.running:
            raise RuntimeError(f"the operator already runs (pid {self.pid})")
        self.port, self.api_port = free_port(), free_port()
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = self.command()
        with self.log_path.open("wb" if self.starts == 1 else "ab") as log:
            log.write(f"===== start {self.starts}: {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig)},
                cwd=ROOT,
            )
        self._wait_healthy(self.proc, timeout)

    def _wait_healthy(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if proc.poll() is not None:
                raise OperatorStartError(
                    f"the operator exited with {proc.returncode}; {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            answer = _get(f"{self.url}/healthz")
            if answer is not None and answer[0] == 200:
                return
            if time.monotonic() > deadline:
                self.kill()
                raise OperatorStartError(
                    f"the operator was not healthy within {timeout:.0f}s; {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(delay)  # poll interval
            delay = min(delay * 1.5, 0.5)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (kopf stops its workers, the local executor its processes) and wait;
        SIGKILL when it does not exit within `timeout`. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers, no goodbye; what a crash or an OOM kill looks like."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: the process is frozen, as on a node that stopped answering."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a frozen process runs on (a node that comes back)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def wait_exit(self, timeout: float) -> int:
        """Its exit status, waiting at most `timeout` seconds."""
        if self.proc is None:
            raise RuntimeError("the operator was never started")
        return self.proc.wait(timeout=timeout)

    def restart(self) -> None:
        """A crash (SIGKILL) and a fresh start, on new ports."""
        self.kill()
        self.start()

    # ----- what it is --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the current (or last) start."""
        if self.proc is None:
            raise RuntimeError("the operator was never started")
        return self.proc.pid

    @property
    def url(self) -> str:
        """Base URL of /healthz and /metrics."""
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        """The Prometheus text of its /metrics right now."""
        answer = _get(f"{self.url}/metrics", timeout=10)
        if answer is None or answer[0] != 200:
            raise RuntimeError(f"GET {self.url}/metrics failed: {answer}")
        return answer[1].decode()

    def role(self) -> str | None:
        """`leading` or `standby` from its /readyz; None when it does not answer 200."""
        answer = _get(f"{self.url}/readyz")
        if answer is None or answer[0] != 200:
            return None
        return answer[1].decode().strip()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
