"""`runwright server` as a real subprocess, and headless Chromium driven through Selenium.

The server is started per test (its flags are the test's), stopped by its pid, and
healthy once /healthz answers. Chromium is Debian's (`/usr/bin/chromium` with
`/usr/bin/chromedriver`), started once per module by Selenium's chromedriver
service, headless; `--no-sandbox` only when running as root (Chromium refuses to
start its sandbox as root). Screenshots go to docs/images/ (the README shows two)
and to .cluster/web/ for the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hack.operator_process import free_port, runwright_executable

from .kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".cluster" / "web"
README_IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("RUNWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RUNWRIGHT_CHROMEDRIVER", "/usr/bin/chromedriver")
START_TIMEOUT = 60.0
#: How long a page may take to show what a test waits for (a loaded 2-core machine).
PAGE_TIMEOUT = 60.0


class Server:
    """One `runwright server` process."""

    def __init__(self, args: Sequence[str], log_path: Path) -> None:
        self.port = free_port()
        self.args = [str(runwright_executable()), "server", "--port", str(self.port), *args]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"runwright server exited: {self.log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"runwright server not healthy after {START_TIMEOUT:.0f}s")
            time.sleep(0.2)  # poll interval

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Servers:
    """Starts servers for one test and stops every one at its end."""

    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.cluster = cluster
        self.ns = ns
        self.started: list[Server] = []

    def local(self, *args: str) -> Server:
        """A server acting as the test kubeconfig's identity (`--kubeconfig`)."""
        return self._start("--kubeconfig", str(self.cluster.kubeconfig), *args)

    def for_users(self, *args: str) -> Server:
        """A server whose users log in with their own tokens."""
        return self._start("--cluster-kubeconfig", str(self.cluster.kubeconfig), *args)

    def _start(self, *args: str) -> Server:
        server = Server(args, SHOTS / f"{self.ns}-server-{len(self.started) + 1}.log")
        self.started.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(cluster: Cluster, ns: str) -> Iterator[Servers]:
    factory = Servers(cluster, ns)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver (started and stopped by Selenium's service)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = (
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--window-size=1500,1000",
        "--disable-dev-shm-usage",
        "--disable-gpu",
    ):
        options.add_argument(flag)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox cannot run as root
    service = Service(CHROMEDRIVER, log_output=str(SHOTS / "chromedriver.log"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver (by its pid) and the browser


def wait_until(what: str, check: Callable[[], Any], timeout: float = PAGE_TIMEOUT) -> Any:
    """Poll `check` (a look at the page) until truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as exc:  # the page may be mid-render: try again
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})"
            )
        time.sleep(0.2)  # poll interval


def screenshot(driver: Any, name: str, *, readme: bool = False) -> Path:
    """Save the page as PNG in .cluster/web/; the README's also in docs/images/ when
    RUNWRIGHT_UPDATE_SCREENSHOTS=1 (a test run must not leave the work tree modified)."""
    if readme and os.environ.get("RUNWRIGHT_UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(README_IMAGES / f"{name}.png"))
    folder = SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
