"""The web Runs view in a real browser (headless Chromium) against the control plane and the operator.

Each test starts its own `runwright server` (tests/integration/web_fixture.py);
pages are read the way a user reads them: rows, phases, drawings, dialogs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from runwright import labels
from runwright.archive import Archive

from .kube import Cluster
from .operator_fixture import Operator, Runs, block, pipeline, pod, template
from .podlogs import namespace_logs, require_pod_logs, wait_logs, write_log
from .web_fixture import Servers, browser, screenshot, servers, wait_until

__all__ = ["browser", "servers"]  # fixtures

pytestmark = pytest.mark.integration


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The module's browser, with no cookie of an earlier test (a login, a CSRF token)."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield browser
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})


def shown(page: Any) -> list[tuple[str, str]]:
    """The list's rows as (run name, phase), top to bottom."""
    rows = page.execute_script(
        "return [...document.querySelectorAll('#runs tbody tr')]"
        ".map(tr => [tr.dataset.key.split('/')[1], tr.dataset.phase])"
    )
    return [(name, phase) for name, phase in rows]


def phase_of(page: Any, name: str) -> str | None:
    return dict(shown(page)).get(name)


def fetch_text(page: Any, url: str) -> str:
    """GET `url` from the page (its cookies and origin), as the page's own script would."""
    text: str = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done);",
        url,
    )
    return text


def pick(page: Any, *names: str) -> None:
    """Tick the rows' boxes; a live update may redraw the table meanwhile, so look again."""
    for name in names:
        selector = f'tr[data-key$="/{name}"] input.pick'

        def picked(selector: str = selector) -> bool:
            if not page.find_element(By.CSS_SELECTOR, selector).is_selected():
                page.find_element(By.CSS_SELECTOR, selector).click()
            return bool(page.find_element(By.CSS_SELECTOR, selector).is_selected())

        wait_until(f"{name} selected", picked)


def confirm(page: Any, button_text: str) -> str:
    """Click an action button, confirm in the dialog, and return the results' text."""
    page.find_element(
        By.XPATH, f'//div[@id="toolbar"]/button[normalize-space()="{button_text}"]'
    ).click()
    wait_until(
        "the confirmation dialog",
        lambda: page.find_element(By.ID, "confirm").get_attribute("open") is not None,
    )
    page.find_element(By.ID, "confirm-yes").click()
    return str(wait_until("action results", lambda: page.find_element(By.ID, "results").text))


def test_a_run_created_with_kubectl_appears_and_finishes_without_a_reload(
    page: Any, operator: Operator, servers: Servers, runs: Runs, ns: str
) -> None:
    runs.apply(
        pipeline("hello", [block("extract"), block("load", "extract")], template(duration="1s"))
    )
    server = servers.local()
    page.get(f"{server.url}/?namespace={ns}")
    wait_until("the live stream", lambda: page.find_element(By.ID, "live").text == "live")
    page.execute_script("window.sameDocument = true")
    runs.start("hello-1", "hello")
    wait_until("hello-1 in the list", lambda: phase_of(page, "hello-1"))
    wait_until("hello-1 Succeeded in the list", lambda: phase_of(page, "hello-1") == "Succeeded")
    assert page.execute_script("return window.sameDocument === true"), "the page was reloaded"
    screenshot(page, "runs-live")


def test_filter_sort_export_and_the_run_page_show_the_right_runs(
    page: Any, operator: Operator, servers: Servers, runs: Runs, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(runs.cluster)
    runs.apply(
        pipeline(
            "ok",
            [block("extract"), block("transform", "extract"), block("load", "transform")],
            template(duration="1s"),
        )
    )
    runs.apply(
        pipeline(
            "bad",
            [block("extract"), block("load", "extract", **pod(fail=True))],
            template(),
            retry={"limit": 0},
        )
    )
    for name, pipe in (("ok-1", "ok"), ("bad-1", "bad"), ("ok-2", "ok")):
        runs.start(name, pipe)
    for name in ("ok-1", "bad-1", "ok-2"):
        runs.wait_finished(name)
    server = servers.local()
    page.get(f"{server.url}/?namespace={ns}")
    wait_until(
        "three finished runs",
        lambda: (
            sorted(shown(page))
            == [("bad-1", "Failed"), ("ok-1", "Succeeded"), ("ok-2", "Succeeded")]
        ),
    )

    Select(page.find_element(By.ID, "f-phase")).select_by_visible_text("Failed")
    wait_until("only the failed run", lambda: shown(page) == [("bad-1", "Failed")])
    Select(page.find_element(By.ID, "f-phase")).select_by_visible_text("any")
    wait_until("all three again", lambda: len(shown(page)) == 3)

    page.find_element(By.CSS_SELECTOR, 'th[data-sort="name"]').click()
    wait_until("names descending", lambda: [n for n, _ in shown(page)] == ["ok-2", "ok-1", "bad-1"])
    page.find_element(By.CSS_SELECTOR, 'th[data-sort="name"]').click()
    wait_until("names ascending", lambda: [n for n, _ in shown(page)] == ["bad-1", "ok-1", "ok-2"])
    screenshot(page, "runs", readme=True)

    exported = list(
        csv.DictReader(
            io.StringIO(
                fetch_text(page, page.find_element(By.ID, "export-csv").get_attribute("href"))
            )
        )
    )
    assert [(r["id"], r["pipeline"], r["phase"]) for r in exported] == [
        ("bad-1", "bad", "Failed"),
        ("ok-1", "ok", "Succeeded"),
        ("ok-2", "ok", "Succeeded"),
    ]
    assert exported[0]["error message"] == runs.get("bad-1")["status"]["message"]
    pick(page, "ok-2")
    wait_until(
        "the export of the selection",
        lambda: "selected=" in page.find_element(By.ID, "export-csv").get_attribute("href"),
    )
    selected = list(
        csv.DictReader(
            io.StringIO(
                fetch_text(page, page.find_element(By.ID, "export-csv").get_attribute("href"))
            )
        )
    )
    assert [r["id"] for r in selected] == ["ok-2"]

    page.get(f"{server.url}/runs/{ns}/ok-1")
    nodes = wait_until(
        "the DAG with three succeeded blocks",
        lambda: (
            (
                found := page.execute_script(
                    "return [...document.querySelectorAll('#dag g.node')].map(g => [g.dataset.block, g.dataset.phase])"
                )
            )
            and len(found) == 3
            and found
        ),
    )
    assert sorted(map(tuple, nodes)) == [
        ("extract", "Succeeded"),
        ("load", "Succeeded"),
        ("transform", "Succeeded"),
    ]
    bars = page.execute_script(
        "return [...document.querySelectorAll('#timeline rect.bar')].map(r => r.dataset.block)"
    )
    assert bars == ["extract", "transform", "load"], "one bar per attempt, in start order"
    screenshot(page, "run", readme=True)

    page.get(f"{server.url}/runs/{ns}/bad-1")
    wait_until(
        "the failed block in the DAG",
        lambda: (
            page.find_element(By.CSS_SELECTOR, '#dag g.node[data-block="load"]').get_attribute(
                "data-phase"
            )
            == "Failed"
        ),
    )
    # kwok serves the block's log from a file (tests/integration/podlogs.py): the panel
    # must show exactly those lines, read through the API server as the user.
    lines = [f"loading partition {i}" for i in range(3)] + ["load failed: disk full"]
    with namespace_logs(runs.cluster, ns, write_log(tmp_path / "load.log", lines)):
        (load_pod,) = [
            p["metadata"]["name"]
            for p in runs.pods("bad-1")
            if p["metadata"]["labels"].get(labels.BLOCK) == "load"
        ]
        wait_logs(runs.cluster, ns, load_pod, "".join(f"{line}\n" for line in lines))
        page.find_element(By.CSS_SELECTOR, 'button.show-log[data-block="load"]').click()
        log = wait_until(
            "the block's log lines in the panel",
            lambda: (
                "load failed: disk full" in (text := page.find_element(By.ID, "log").text) and text
            ),
        )
    assert "load" in page.find_element(By.ID, "log-title").text
    assert [line for line in log.splitlines() if line.strip()][-4:] == lines, log
    events = page.execute_script(
        "return [...document.querySelectorAll('#events tbody tr')].map(tr => tr.children[2].textContent)"
    )
    assert "RunFailed" in events and events.index("BlockFailed") < events.index("RunFailed")
    screenshot(page, "run-failed")


def test_a_bulk_retry_of_the_selected_failed_runs_takes_effect(
    page: Any, operator: Operator, servers: Servers, runs: Runs, ns: str
) -> None:
    runs.apply(
        pipeline(
            "bad",
            [block("extract"), block("load", "extract", **pod(fail=True))],
            template(),
            retry={"limit": 0},
        )
    )
    runs.apply(pipeline("ok", [block("extract")], template()))
    for name, pipe in (("bad-1", "bad"), ("bad-2", "bad"), ("ok-1", "ok")):
        runs.start(name, pipe)
    for name in ("bad-1", "bad-2", "ok-1"):
        runs.wait_finished(name)
    server = servers.local()
    page.get(f"{server.url}/?namespace={ns}")
    wait_until("the three runs", lambda: len(shown(page)) == 3)
    pick(page, "bad-1", "bad-2")
    results = confirm(page, "Retry incomplete")
    assert results.count("retry 1 requested (Incomplete)") == 2, results
    for name in ("bad-1", "bad-2"):
        retried = runs.wait(
            name,
            "retried once, failed again",
            lambda run: (
                run.get("status", {}).get("retryId") == "1"
                and run["status"].get("phase") == "Failed"
                and run["status"]["blocks"]["load"]["attempt"] == 2
            ),
        )
        assert retried["spec"]["retry"] == {
            "id": "1",
            "mode": "Incomplete",
            "pipelineSpec": "Frozen",
        }
    assert "retry" not in runs.get("ok-1")["spec"]
    screenshot(page, "runs-retried")


def _run(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
        "spec": {"pipelineRef": {"name": "absent"}, "triggeredBy": "Manual"},
        "status": {
            "phase": "Succeeded",
            "startedAt": "2026-11-01T00:00:00Z",
            "completedAt": "2026-11-01T00:01:00Z",
            "durationSeconds": 60,
            "blocks": {},
        },
    }


async def _archive(url: str, *bodies: dict[str, Any]) -> None:
    archive = await Archive.open(url)
    try:
        for body in bodies:
            await archive.record_run(body)
    finally:
        await archive.close()


def test_a_user_sees_only_runs_rbac_lets_them_list_and_a_refused_action_says_why(
    page: Any, cluster: Cluster, servers: Servers, ns: str, tmp_path: Path
) -> None:
    other = f"{ns}-other"
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.kubectl("create", "serviceaccount", "viewer", "-n", ns)
        cluster.kubectl(
            "create",
            "role",
            "view-runs",
            "-n",
            ns,
            "--verb=get,list,watch",
            "--resource=pipelineruns.runwright.dev,events",
        )
        cluster.kubectl(
            "create",
            "rolebinding",
            "viewer",
            "-n",
            ns,
            "--role=view-runs",
            f"--serviceaccount={ns}:viewer",
        )
        token = cluster.kubectl("create", "token", "viewer", "-n", ns).stdout.strip()
        for name, where in (("mine-1", ns), ("theirs-1", other)):
            body = _run(name, where)
            cluster.apply(
                {
                    "apiVersion": body["apiVersion"],
                    "kind": body["kind"],
                    "metadata": {"name": name},
                    "spec": body["spec"],
                },
                where,
            )
        url = f"sqlite:///{tmp_path / 'archive.db'}"
        asyncio.run(_archive(url, _run("mine-old", ns), _run("theirs-old", other)))
        server = servers.for_users("-n", ns, "-n", other, "--archive", url)

        page.get(f"{server.url}/")
        wait_until("the login page", lambda: page.find_element(By.ID, "token"))
        page.find_element(By.ID, "token").send_keys(token)
        page.find_element(By.ID, "login-submit").click()
        wait_until(
            "the runs the viewer may list",
            lambda: sorted(n for n, _ in shown(page)) == ["mine-1", "mine-old"],
        )
        # Looked up afresh on each try: a live update may redraw the row in between.
        wait_until(
            "the archived run marked as such",
            lambda: (
                page.find_element(By.CSS_SELECTOR, 'tr[data-key$="/mine-old"]').get_attribute(
                    "class"
                )
                == "archived"
            ),
        )
        assert other in page.find_element(By.ID, "denied").text
        cookie = page.get_cookie("runwright_token")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

        pick(page, "mine-1")
        results = confirm(page, "Cancel")
        assert "Kubernetes refused (permission denied)" in results, results
        assert 'cannot patch resource "pipelineruns"' in results, results
        assert runs_spec(cluster, ns, "mine-1").get("cancel") is None
        screenshot(page, "runs-refused")
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def runs_spec(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = cluster.get("pipelinerun", name, ns)["spec"]
    return spec


def test_the_pipelines_page_shows_next_fires_suspends_and_runs_a_trigger_now(
    page: Any, cluster: Cluster, servers: Servers, runs: Runs, ns: str
) -> None:
    runs.apply(pipeline("etl", [block("extract"), block("load", "extract")], template()))
    runs.apply(
        {
            "apiVersion": labels.API_VERSION,
            "kind": "Trigger",
            "metadata": {"name": "nightly"},
            "spec": {
                "pipelineRef": {"name": "etl"},
                "type": "Schedule",
                "schedule": {"cron": "0 2 * * *"},
                "variables": {"env": "prod", "region": "eu"},
            },
        }
    )
    server = servers.local()
    page.get(f"{server.url}/pipelines?namespace={ns}")
    fires = wait_until(
        "five upcoming fires",
        lambda: (
            (items := page.find_elements(By.CSS_SELECTOR, f'tr[data-key="{ns}/nightly"] .fires li'))
            and len(items) == 5
            and items
        ),
    )
    assert all(item.text.endswith("02:00:00 UTC") for item in fires)
    wait_until(
        "the pipeline's DAG",
        lambda: (
            len(page.find_elements(By.CSS_SELECTOR, f'section[data-key="{ns}/etl"] g.node')) == 2
        ),
    )

    page.find_element(By.CSS_SELECTOR, f'button.suspend[data-trigger="{ns}/nightly"]').click()
    wait_until(
        "the confirmation",
        lambda: page.find_element(By.ID, "confirm").get_attribute("open") is not None,
    )
    page.find_element(By.ID, "confirm-yes").click()
    wait_until(
        "the trigger suspended",
        lambda: cluster.get("trigger", "nightly", ns)["spec"].get("suspend") is True,
    )
    wait_until(
        "a Resume button",
        lambda: (
            page.find_element(By.CSS_SELECTOR, f'button.suspend[data-trigger="{ns}/nightly"]').text
            == "Resume"
        ),
    )

    page.find_element(By.CSS_SELECTOR, f'button.run-now[data-trigger="{ns}/nightly"]').click()
    wait_until(
        "the confirmation",
        lambda: page.find_element(By.ID, "confirm").get_attribute("open") is not None,
    )
    page.find_element(By.ID, "confirm-block").send_keys("env=staging")
    page.find_element(By.ID, "confirm-yes").click()
    message = wait_until(
        "the run created",
        lambda: (
            "run created" in page.find_element(By.ID, "results").text
            and page.find_element(By.ID, "results").text
        ),
    )
    name = message.rsplit(": ", 1)[1].strip()
    run = cluster.get("pipelinerun", name, ns)
    assert run["spec"]["triggerRef"] == {"name": "nightly"}
    assert run["spec"]["variables"] == {"env": "staging", "region": "eu"}
    screenshot(page, "pipelines")


def test_a_fan_out_block_shows_its_items_on_the_run_page(
    page: Any, operator: Operator, servers: Servers, runs: Runs, ns: str
) -> None:
    """A forEach block has no attempt of its own: the page shows it as one bar and one
    row that says what its items did, with no single log to open."""
    runs.apply(
        pipeline(
            "fan",
            [
                block("list"),
                block("each", "list", forEach={"items": '["a", "b", "c"]'}),
                block("after", "each"),
            ],
        )
    )
    runs.start("fan-1", "fan")
    runs.wait_finished("fan-1")
    server = servers.local()
    page.get(f"{server.url}/runs/{ns}/fan-1")
    rows = wait_until(
        "the attempts table with the fan-out's row",
        lambda: (
            (
                found := page.execute_script(
                    "return [...document.querySelectorAll('#attempts tbody tr')]"
                    ".map(tr => [...tr.children].slice(0, 4).map(td => td.textContent))"
                )
            )
            and any(r[0] == "each" for r in found)
            and found
        ),
    )
    assert ["each", "items", "Succeeded", "3 items: 3 succeeded"] in rows, rows
    assert not page.find_elements(By.CSS_SELECTOR, 'button.show-log[data-block="each"]')
    bars = page.execute_script(
        "return [...document.querySelectorAll('#timeline rect.bar')].map(r => r.dataset.block)"
    )
    assert sorted(bars) == ["after", "each", "list"], bars
    screenshot(page, "run-fan-out")
