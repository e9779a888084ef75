"""Following a running block's log, live, against the control plane, the operator and kwok.

kwok serves the attempt's pod log from a file the test writes (tests/integration/
podlogs.py) and, asked with follow=true, streams each line appended to that file
(it never ends the stream itself: the server ends it when the pod finishes). The
block's pod runs for ten minutes unless the test says otherwise: it finishes when
the test sets its duration annotation to 0s (kwok re-plans the pod's stage then).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from hack import kwokstages

from .kube import Cluster
from .operator_fixture import Operator, Runs, block, pipeline, template
from .podlogs import cri_lines, namespace_logs, require_pod_logs, wait_logs, write_log
from .test_web_events import Frame, read_frames
from .web_fixture import PAGE_TIMEOUT, Servers, browser, screenshot, servers

__all__ = ["browser", "servers"]  # fixtures

pytestmark = pytest.mark.integration


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The module's browser, with no cookie of an earlier test."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield browser
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})


def append(path: Path, line: str) -> None:
    """One more line in the CRI log file kwok serves (as a running container would write)."""
    with path.open("a") as log:
        log.write(cri_lines([line]))


def running_pod(runs: Runs, run: str) -> str:
    """The name of the run's block pod once it is Running."""

    def probe() -> str | None:
        found = [p for p in runs.pods(run) if p["status"].get("phase") == "Running"]
        return str(found[0]["metadata"]["name"]) if found else None

    return str(runs.cluster.wait_for(f"a Running pod of {run}", probe))


def finish(cluster: Cluster, ns: str, pod: str) -> None:
    """End the pod now: Succeeded, exit 0 (kwok's stage reads the duration annotation)."""
    cluster.kubectl("annotate", "pod", pod, "-n", ns, "--overwrite", f"{kwokstages.DURATION}=0s")


def start_long_block(runs: Runs, run: str, first_line: str) -> str:
    """A one-block run whose pod stays Running (ten minutes); kwok serves its first line."""
    runs.apply(pipeline("slow", [block("work")], template(duration="600s")))
    runs.start(run, "slow")
    pod = running_pod(runs, run)
    wait_logs(runs.cluster, runs.ns, pod, f"{first_line}\n")
    return pod


def lines_in(frames: list[Frame]) -> list[str]:
    return [
        line for f in frames if f.get("event") == "lines" for line in json.loads(f["data"])["lines"]
    ]


def test_the_follow_stream_sends_appended_lines_and_ends_when_the_pod_finishes(
    operator: Operator, servers: Servers, runs: Runs, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(runs.cluster)
    first, second = f"step 1 {uuid.uuid4().hex}", f"step 2 {uuid.uuid4().hex}"
    path = write_log(tmp_path / "work.log", [first])
    with namespace_logs(runs.cluster, ns, path):
        pod = start_long_block(runs, "slow-1", first)
        server = servers.local()
        url = f"{server.url}/api/runs/{ns}/slow-1/log/follow?block=work&attempt=1"
        acted: set[str] = set()

        def until(frames: list[Frame]) -> bool:
            shown = lines_in(frames)
            if first in shown and "appended" not in acted:
                acted.add("appended")
                append(path, second)  # written while the stream is open
            if second in shown and "finished" not in acted:
                acted.add("finished")
                finish(runs.cluster, ns, pod)
            return any(f.get("event") == "end" for f in frames)

        frames = read_frames(url, until)
    assert frames[0] == {"event": "start", "data": json.dumps({"pod": pod}, separators=(",", ":"))}
    assert lines_in(frames) == [first, second]
    assert json.loads(frames[-1]["data"]) == {
        "phase": "Succeeded",
        "reason": "finished",
        "message": "",
    }
    assert runs.wait_finished("slow-1")["status"]["phase"] == "Succeeded"


def test_the_run_page_follows_a_running_blocks_log_and_stops_when_it_finishes(
    page: Any, operator: Operator, servers: Servers, runs: Runs, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(runs.cluster)
    first = f"rows read: 100 {uuid.uuid4().hex}"
    second = f"rows read: 200 {uuid.uuid4().hex}"
    last = f"rows written: 200 {uuid.uuid4().hex}"
    path = write_log(tmp_path / "work.log", [first])
    wait = WebDriverWait(page, PAGE_TIMEOUT, ignored_exceptions=(StaleElementReferenceException,))

    def log_lines(driver: Any) -> list[str]:
        return str(driver.find_element(By.ID, "log").text).splitlines()

    def log_state(driver: Any) -> str:
        return str(driver.find_element(By.ID, "log-state").get_attribute("data-state"))

    with namespace_logs(runs.cluster, ns, path):
        pod = start_long_block(runs, "slow-1", first)
        server = servers.local()
        page.get(f"{server.url}/runs/{ns}/slow-1")
        # The seed's timeline: clicking an attempt's bar shows its details (here: its log).
        bar = '#timeline rect.bar[data-block="work"][data-attempt="1"]'
        page.execute_script("window.sameDocument = true")

        def click_bar(driver: Any) -> bool:
            driver.find_element(By.CSS_SELECTOR, bar).click()
            return True

        # A live update may redraw the timeline between finding the bar and clicking it.
        wait.until(click_bar, "the attempt's bar in the timeline")
        field = 'dd[data-field="{}"]'
        assert page.find_element(By.CSS_SELECTOR, field.format("Duration")).text.endswith(
            "(elapsed)"
        ), "a running run's duration is the time elapsed"
        assert page.find_element(By.CSS_SELECTOR, field.format("Pipeline")).text == (
            "slow (generation 1)"
        )
        wait.until(
            lambda d: log_state(d) == "following" and first in log_lines(d),
            "the log followed, with the file's first line",
        )
        append(path, second)
        wait.until(lambda d: second in log_lines(d), "the appended line, without a reload")
        assert log_lines(page) == [first, second]
        screenshot(page, "run-log-follow")

        append(path, last)
        finish(runs.cluster, ns, pod)
        wait.until(lambda d: log_state(d) == "finished", "the view to stop following")
        assert page.find_element(By.ID, "log-state").text == "pod Succeeded: not following"
        wait.until(lambda d: last in log_lines(d), "the final log, read once")
        assert log_lines(page) == [first, second, last]
        wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, field.format("Phase")).text == "Succeeded",
            "the run's final phase in the overview",
        )
        context = json.loads(page.find_element(By.ID, "context").get_attribute("textContent"))
        assert (context["run"], context["phase"]) == (f"{ns}/slow-1", "Succeeded")
        assert context["blocks"]["work"]["attempts"] == 1
        attempt_row = 'tr[data-block="work"][data-attempt="1"] td:nth-child(3)'
        wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, attempt_row).text == "Succeeded",
            "the attempt Succeeded in the attempts table",
        )
        assert page.execute_script("return window.sameDocument === true"), "the page reloaded"
        screenshot(page, "run-log-finished")
