"""A real PostgreSQL server for tests and benchmarks: Debian's package, started like the control plane.

initdb in a fresh temporary directory, the server on a free port on 127.0.0.1
with its unix socket in that directory, stopped by its pid at the end. As root,
the server runs as an unprivileged user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "runwright"
#: Who runs the server when we are root: Debian's postgres user, else nobody.
UNPRIVILEGED = ("postgres", "nobody")
INSTALL_HINT = (
    "PostgreSQL is not installed: apt-get install postgresql (Debian's package; its "
    "binaries are looked up in /usr/lib/postgresql/*/bin)"
)


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


@dataclass
class PostgresServer:
    """A running server: connect as SUPERUSER (trust auth) on 127.0.0.1:port."""

    bin: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    user: str | None
    settings: tuple[str, ...] = ()
    """The server's -c options, so `start` after `stop` runs the same server again."""

    def url(self, database: str = "postgres") -> str:
        """The asyncpg URL of one database on this server."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql (autocommit: CREATE DATABASE works); returns its output."""
        return subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def stop(self) -> None:
        """Stop the server ("fast" shutdown) and wait; its data stays for `start`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start(self) -> None:
        """Start the stopped server again, same data and port; return once it accepts."""
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                 *self.settings],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.root,
                start_new_session=True,
            )  # fmt: skip
        _ready(self, time.monotonic() + 60)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _ready(server: PostgresServer, deadline: float) -> None:
    """Wait until the server accepts connections (pg_isready), or fail with its log."""
    while True:
        if server.process.poll() is not None:
            log = (server.root / "server.log").read_text(errors="replace")
            raise RuntimeError(f"postgres exited with {server.process.returncode}:\n{log}")
        probe = subprocess.run(
            [str(server.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(server.port)],
            check=False,
        )
        if probe.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("postgres did not accept connections within 60 s")
        time.sleep(0.05)  # readiness probe interval


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL; stop it by pid and delete its files at the end.

    durable=False turns fsync off (tests: nothing to keep); benchmarks pass True
    so write latencies include the flush a production server pays.
    """
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError(INSTALL_HINT)
    user = _run_as()
    # Not under pytest's basetemp: that is private to root, and the server runs as `user`.
    root = Path(tempfile.mkdtemp(prefix="runwright-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        user=user,
        cwd=root,
    )
    port = _free_port()
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}"]
    if not durable:
        settings += [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
    with open(root / "server.log", "wb") as log:
        if user is not None:
            os.chown(root / "server.log", pwd.getpwnam(user).pw_uid, -1)
        process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), *settings],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            cwd=root,
            start_new_session=True,
        )
    server = PostgresServer(
        bin=bin_dir, root=root, port=port, process=process, user=user, settings=tuple(settings)
    )
    try:
        _ready(server, time.monotonic() + 60)
        yield server
    finally:
        server.stop()  # "fast" shutdown: ends sessions, no wait (the current process)
        shutil.rmtree(root, ignore_errors=True)
