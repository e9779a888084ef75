"""hack/operator_process.py: the one operator launcher, against a stand-in `runwright`.

The stand-in is a small Python program with the operator's outside: it takes the
same flags, answers /healthz and /metrics on --health-port, and (told through its
environment) ignores SIGTERM or exits at once. So the launcher's start, stop, kill and
log handling are checked without a cluster.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from hack.operator_process import OperatorProcess, OperatorStartError
from tests.unit.processes import gone

FAKE = f"""#!{sys.executable}
import http.server, os, signal, sys

args = sys.argv[1:]
print("argv:", " ".join(args), flush=True)
if os.environ.get("FAKE_MODE") == "exit":
    print("no cluster configured", flush=True)
    sys.exit(2)
if os.environ.get("FAKE_MODE") == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
port = int(args[args.index("--health-port") + 1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"runwright_reconcile_duration_seconds_count{{kind=\\"PipelineRun\\"}} 3.0\\n"
        self.send_response(200 if self.path in ("/healthz", "/metrics") else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    path = tmp_path / "runwright"
    path.write_text(FAKE)
    path.chmod(0o755)
    return path


def launcher(fake: Path, tmp_path: Path, mode: str = "") -> OperatorProcess:
    return OperatorProcess(
        tmp_path / "kubeconfig",
        ["ns-a", "ns-b"],
        ["--executor", "local"],
        tmp_path / "logs" / "operator.log",
        env={"FAKE_MODE": mode},
        executable=fake,
    )


def test_start_waits_for_healthz_and_passes_ports_namespaces_and_flags(
    fake: Path, tmp_path: Path
) -> None:
    op = launcher(fake, tmp_path)
    try:
        op.start()
        assert op.running
        assert op.port != op.api_port
        assert 'kind="PipelineRun"' in op.metrics()
        log = op.log_path.read_text()
        assert (
            f"argv: operator --health-port {op.port} --api-port {op.api_port} "
            "-n ns-a -n ns-b --executor local" in log
        )
    finally:
        op.stop()
    assert not op.running


def test_stop_is_sigterm_then_sigkill_when_it_does_not_exit(fake: Path, tmp_path: Path) -> None:
    op = launcher(fake, tmp_path, mode="ignore-term")
    op.start()
    assert op.stop(timeout=0.5) == -signal.SIGKILL
    assert gone(op.pid)


def test_kill_is_sigkill_and_a_restart_appends_to_the_log(fake: Path, tmp_path: Path) -> None:
    op = launcher(fake, tmp_path)
    op.start()
    first_pid, first_port = op.pid, op.port
    try:
        op.restart()
        assert gone(first_pid)
        assert op.pid != first_pid and op.running
        assert op.proc is not None and op.starts == 2
        log = op.log_path.read_text()
        assert "===== start 1:" in log and "===== start 2:" in log
        assert f"--health-port {first_port} " in log  # the first start's lines are kept
    finally:
        op.stop()


def test_a_second_launcher_truncates_the_log_of_an_earlier_one(fake: Path, tmp_path: Path) -> None:
    op = launcher(fake, tmp_path)
    op.start()
    op.stop()
    again = launcher(fake, tmp_path)
    again.start()
    again.stop()
    assert again.log_path.read_text().count("===== start") == 1


def test_an_operator_that_exits_at_once_fails_the_start_with_its_log(
    fake: Path, tmp_path: Path
) -> None:
    op = launcher(fake, tmp_path, mode="exit")
    with pytest.raises(OperatorStartError, match="exited with 2") as failed:
        op.start()
    assert "no cluster configured" in str(failed.value)
    assert not op.running
