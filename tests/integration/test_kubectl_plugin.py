"""`kubectl runwright` against the real control plane, driven as a user drives it.

Every test runs the installed `kubectl-runwright` console script as a subprocess with
a kubeconfig (the test cluster's, or a limited user's), against runs the operator (a
subprocess scoped to the test's namespace) really ran on the kwok node. Archived runs
come from an SQLite archive the test fills with `runwright.archive.Archive`, the way
the operator's archiver writes it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright import labels
from runwright.archive import Archive

from .kube import Cluster, Result
from .operator_fixture import Operator, Runs, block, pipeline, pod, status, template
from .podlogs import namespace_logs, require_pod_logs, wait_logs, write_log

pytestmark = pytest.mark.integration

PLUGIN = str(Path(sys.executable).with_name("kubectl-runwright"))
FINISHED = ("Succeeded", "Failed", "Cancelled")


def plugin(kubeconfig: Path, ns: str, *args: str, env: Mapping[str, str] | None = None) -> Result:
    """`kubectl-runwright --kubeconfig K -n NS ARGS` (no terminal: plain output, no prompt)."""
    clean = {
        k: v for k, v in os.environ.items() if k not in ("RUNWRIGHT_DEBUG", "RUNWRIGHT_ARCHIVE")
    }
    proc = subprocess.run(
        [PLUGIN, *args[:1], f"--kubeconfig={kubeconfig}", "-n", ns, *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**clean, **(env or {})},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def wait_all(runs: Runs, names: Sequence[str], *phases: str) -> list[dict[str, Any]]:
    return [runs.wait_phase(name, *phases) for name in names]


def archive_runs(
    url: str, bodies: Sequence[dict[str, Any]], logs: Mapping[tuple[str, str, int], str]
) -> None:
    """Write runs (and their attempts' logs) into the archive as the operator's archiver does."""

    async def fill() -> None:
        archive = await Archive.open(url)
        try:
            for body in bodies:
                await archive.record_run(body)
            for (run, block_name, attempt), text in logs.items():
                uid = next(b["metadata"]["uid"] for b in bodies if b["metadata"]["name"] == run)
                await archive.record_log(uid, block_name, attempt, text)
        finally:
            await archive.close()

    asyncio.run(fill())


# ----- bulk actions -----------------------------------------------------------------------


def test_bulk_retry_of_20_failed_runs_by_selector(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str
) -> None:
    failing = pipeline("flaky", [block("load", **pod(fail=True))], retry={"limit": 0})
    runs.apply(failing)
    runs.apply(pipeline("other", [block("load", **pod(fail=True))], retry={"limit": 0}))
    names = [runs.start(f"flaky-{i}", "flaky") for i in range(20)]
    runs.start("other-1", "other")
    wait_all(runs, [*names, "other-1"], "Failed")
    # The cause is fixed in the Pipeline; the retry runs the Pipeline as it is now.
    runs.apply(pipeline("flaky", [block("load")], retry={"limit": 0}))

    selector = f"{labels.PIPELINE}=flaky,{labels.PHASE}=Failed"
    shown = plugin(cluster.kubeconfig, ns, "retry", "-l", selector, "--dry-run")
    assert shown.ok, shown.stderr
    assert "will retry 20 runs" in shown.stdout and "dry run: nothing changed" in shown.stdout
    assert "other-1" not in shown.stdout
    assert all(not runs.get(n)["spec"].get("retry") for n in names)

    unconfirmed = plugin(cluster.kubeconfig, ns, "retry", "-l", selector)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr

    done = plugin(cluster.kubeconfig, ns, "retry", "-l", selector, "--current-pipeline", "--yes")
    assert done.ok, done.stdout + done.stderr
    no_traceback(done)
    assert sorted(
        line.split()[0] for line in done.stdout.splitlines() if " retried " in line
    ) == sorted(f"pipelinerun/{n}" for n in names)
    assert done.stdout.strip().splitlines()[-1] == "retried 20 of 20"
    for body in wait_all(runs, names, "Succeeded"):
        assert body["spec"]["retry"] == {"id": "1", "mode": "Incomplete", "pipelineSpec": "Current"}
        assert status(body)["retryId"] == "1"
        assert status(body)["blocks"]["load"]["attempt"] == 2
    assert status(runs.get("other-1"))["phase"] == "Failed"
    assert not runs.get("other-1")["spec"].get("retry")


def test_cancel_all_running(operator: Operator, runs: Runs, cluster: Cluster, ns: str) -> None:
    runs.apply(pipeline("slow", [block("wait")], template(duration="600s")))
    runs.apply(pipeline("quick", [block("go")]))
    runs.start("quick-1", "quick")
    runs.wait_phase("quick-1", "Succeeded")
    names = [runs.start(f"slow-{i}", "slow") for i in range(3)]
    wait_all(runs, names, "Running")

    done = plugin(cluster.kubeconfig, ns, "cancel", "--all-running", "--yes")
    assert done.ok, done.stdout + done.stderr
    assert "will cancel 3 runs" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "cancel requested 3 of 3"
    for body in wait_all(runs, names, *FINISHED):
        assert status(body)["phase"] == "Cancelled"
    assert status(runs.get("quick-1"))["phase"] == "Succeeded"
    assert runs.get("quick-1")["spec"].get("cancel") is not True

    again = plugin(cluster.kubeconfig, ns, "cancel", "slow-0")
    assert again.ok and "skipped: already Cancelled" in again.stdout


# ----- export -----------------------------------------------------------------------------


def expected_row(body: dict[str, Any]) -> list[str]:
    """The seed's runs table row of a run, read off its body independently of the plugin."""
    st = status(body)
    metrics = st.get("metrics") or {}

    def number(key: str) -> str:
        value = metrics.get(key)
        if value is None:
            return ""
        return str(int(value)) if float(value).is_integer() else str(value)

    return [
        body["metadata"]["name"],
        body["spec"]["pipelineRef"]["name"],
        st["phase"],
        st.get("reason", ""),
        st.get("startedAt", ""),
        st.get("completedAt", ""),
        str(st["durationSeconds"]) if st.get("durationSeconds") is not None else "",
        number("itemsProcessed"),
        number("cost"),
        number("tokens"),
        body["spec"].get("triggeredBy", "Manual"),
        st.get("message", "") if st["phase"] == "Failed" else "",
    ]


def test_export_csv_parses_back_to_exactly_the_expected_rows(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    report = json.dumps({"metrics": {"itemsProcessed": 120, "cost": 0.25, "tokens": 900}})
    runs.apply(pipeline("etl", [block("load", **pod(message=report))]))
    runs.apply(
        pipeline("broken", [block("load", **pod(fail=True, exit_code=3))], retry={"limit": 0})
    )
    names = [
        runs.start("etl-1", "etl"),
        runs.start("etl-2", "etl"),
        runs.start("broken-1", "broken"),
    ]
    bodies = wait_all(runs, names, *FINISHED)
    # One more run, archived and then deleted: only the archive has it now.
    runs.start("etl-old", "etl")
    old = runs.wait_phase("etl-old", "Succeeded")
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    archive_runs(url, [old, *bodies], {})
    cluster.kubectl("delete", "pipelinerun", "etl-old", "-n", ns)

    out = tmp_path / "runs.csv"
    done = plugin(cluster.kubeconfig, ns, "export", "--archive", url, "--file", str(out))
    assert done.ok, done.stderr
    assert "4 runs written" in done.stderr
    table = list(csv.reader(io.StringIO(out.read_text())))
    assert table[0] == [
        "id", "pipeline", "phase", "reason", "started", "completed", "duration",
        "items processed", "cost", "tokens", "triggered by", "error message",
    ]  # fmt: skip
    expected = [expected_row(b) for b in [old, *bodies]]
    assert sorted(table[1:]) == sorted(expected)
    assert {tuple(r[:3]) for r in table[1:]} >= {
        ("etl-1", "etl", "Succeeded"),
        ("broken-1", "broken", "Failed"),
    }
    assert next(r for r in table if r[0] == "etl-1")[7:10] == ["120", "0.25", "900"]

    failed_only = plugin(cluster.kubeconfig, ns, "export", "--phase", "Failed", "-o", "json")
    assert [r["name"] for r in json.loads(failed_only.stdout)] == ["broken-1"]

    listed = plugin(cluster.kubeconfig, ns, "list", "--archived", "--archive", url)
    assert listed.ok, listed.stderr
    assert "etl-old (archived)" in listed.stdout
    assert "4 runs: Failed 1, Succeeded 3" in listed.stdout


# ----- get and timeline -------------------------------------------------------------------


def test_get_and_timeline_on_a_retried_partly_failed_diamond(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str
) -> None:
    runs.apply(
        pipeline(
            "diamond",
            [
                block("a"),
                block("b", "a", **pod(duration="1s")),
                block("c", "a", **pod(fail=True, exit_code=7, message="disk full")),
                block("d", "b", "c"),
            ],
            retry={"limit": 1, "backoffSeconds": 1},
            failFast=False,
        )
    )
    runs.start("dia-1", "diamond")
    runs.wait_phase("dia-1", "Failed")
    retried = plugin(cluster.kubeconfig, ns, "retry", "dia-1", "--from", "c")
    assert retried.ok, retried.stdout + retried.stderr
    body = runs.wait(
        "dia-1",
        "the retry handled and finished",
        lambda b: status(b).get("retryId") == "1" and status(b).get("phase") in FINISHED,
    )
    assert status(body)["phase"] == "Failed"

    got = plugin(cluster.kubeconfig, ns, "get", "dia-1", "-o", "json")
    assert got.ok, got.stderr
    story = json.loads(got.stdout)
    assert [b["name"] for b in story["blocks"]] == ["a", "b", "c", "d"]
    phases = {b["name"]: b["phase"] for b in story["blocks"]}
    assert phases == {"a": "Succeeded", "b": "Succeeded", "c": "Failed", "d": "UpstreamFailed"}
    c_attempts = next(b for b in story["blocks"] if b["name"] == "c")["attempts"]
    assert [a["attempt"] for a in c_attempts] == [1, 2, 3, 4]
    assert all(a["phase"] == "Failed" and a["exit_code"] == 7 for a in c_attempts)
    reasons = [e["reason"] for e in story["events"]]
    assert reasons.index("RunFailed") > reasons.index("BlockStarted")
    times = [e["time"] for e in story["events"]]
    assert times == sorted(times)

    screen = plugin(cluster.kubeconfig, ns, "get", "dia-1")
    assert screen.ok, screen.stderr
    for text in ("Failed", "diamond", "#4", "disk full", "UpstreamFailed", "Events", "RunFailed"):
        assert text in screen.stdout, text

    timeline = plugin(cluster.kubeconfig, ns, "timeline", "dia-1", "-o", "json")
    assert timeline.ok, timeline.stderr
    lanes = {lane["name"]: lane for lane in json.loads(timeline.stdout)["blocks"]}
    assert list(lanes) == ["a", "b", "c", "d"]
    c_kinds = [s["kind"] for s in lanes["c"]["segments"]]
    assert c_kinds.count("attempt") == 4
    assert "retrying" in c_kinds
    assert lanes["d"]["segments"] == []
    drawn = plugin(cluster.kubeconfig, ns, "timeline", "dia-1")
    assert drawn.ok and "█" in drawn.stdout and "in parallel" in drawn.stdout


# ----- a user who may only read -----------------------------------------------------------


def read_only_kubeconfig(cluster: Cluster, ns: str, path: Path) -> Path:
    """A ServiceAccount allowed get/list/watch on runs (and Events) only, as a kubeconfig."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "run-viewer"},
        "rules": [
            {
                "apiGroups": [labels.GROUP],
                "resources": ["pipelineruns"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]},
        ],
    }
    cluster.kubectl("create", "serviceaccount", "viewer", "-n", ns)
    cluster.apply(role, ns)
    cluster.kubectl(
        "create",
        "rolebinding",
        "viewer",
        "--role=run-viewer",
        f"--serviceaccount={ns}:viewer",
        "-n",
        ns,
    )
    token = cluster.kubectl("create", "token", "viewer", "-n", ns, "--duration=1h").stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    (server,) = config["clusters"]
    config["users"] = [{"name": "viewer", "user": {"token": token}}]
    config["contexts"] = [
        {
            "name": "viewer",
            "context": {"cluster": server["name"], "user": "viewer", "namespace": ns},
        }
    ]
    config["current-context"] = "viewer"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def test_read_only_user_sees_runs_and_gets_a_clear_refusal_on_retry(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    runs.apply(pipeline("flaky", [block("load", **pod(fail=True))], retry={"limit": 0}))
    runs.start("flaky-1", "flaky")
    runs.wait_phase("flaky-1", "Failed")
    viewer = read_only_kubeconfig(cluster, ns, tmp_path / "viewer-kubeconfig")

    listed = plugin(viewer, ns, "list")
    assert listed.ok, listed.stderr
    assert "flaky-1" in listed.stdout and "Failed" in listed.stdout

    refused = plugin(viewer, ns, "retry", "flaky-1")
    no_traceback(refused)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert f"system:serviceaccount:{ns}:viewer may not patch pipelineruns" in refused.stdout
    assert "ask a cluster admin" in refused.stdout
    assert not runs.get("flaky-1")["spec"].get("retry")

    bulk = plugin(viewer, ns, "cancel", "--all-failed", "--yes")
    no_traceback(bulk)
    assert "nothing to cancel" in bulk.stdout  # failed runs are finished: nothing to cancel


# ----- logs -------------------------------------------------------------------------------


def test_logs_after_the_run_is_deleted_come_from_the_archive(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    runs.apply(
        pipeline(
            "etl",
            [block("extract"), block("load", "extract", **pod(fail=True))],
            retry={"limit": 1, "backoffSeconds": 1},
        )
    )
    runs.start("etl-1", "etl")
    body = runs.wait_phase("etl-1", "Failed")
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    archive_runs(
        url,
        [body],
        {
            ("etl-1", "extract", 1): "reading orders\n1200 rows\n",
            ("etl-1", "load", 1): "connecting\nerror: disk full\n",
            ("etl-1", "load", 2): "connecting\nerror: disk still full\n",
        },
    )
    cluster.kubectl("delete", "pipelinerun", "etl-1", "-n", ns)
    runs.cluster.wait_for("etl-1 deleted", lambda: runs.find("etl-1") is None)

    every = plugin(cluster.kubeconfig, ns, "logs", "etl-1", "--archive", url)
    assert every.ok, every.stderr
    assert every.stdout.splitlines() == [
        "[extract/1] reading orders",
        "[extract/1] 1200 rows",
        "[load/1] connecting",
        "[load/1] error: disk full",
        "[load/2] connecting",
        "[load/2] error: disk still full",
    ]
    latest = plugin(
        cluster.kubeconfig,
        ns,
        "logs",
        "etl-1",
        "load",
        "--tail",
        "1",
        env={"RUNWRIGHT_ARCHIVE": url},
    )
    assert latest.stdout.splitlines() == ["[load/2] error: disk still full"]
    first = plugin(
        cluster.kubeconfig, ns, "logs", "etl-1", "load", "--attempt", "1", "--archive", url
    )
    assert first.stdout.splitlines() == ["[load/1] connecting", "[load/1] error: disk full"]
    missing = plugin(cluster.kubeconfig, ns, "logs", "etl-1", "nope", "--archive", url)
    assert missing.returncode == 4 and "no log of block nope" in missing.stderr

    archived_get = plugin(cluster.kubeconfig, ns, "get", "etl-1", "--archive", url)
    assert archived_get.ok, archived_get.stderr
    assert "etl-1 (archived)" in archived_get.stdout and "Failed" in archived_get.stdout
    gone = plugin(cluster.kubeconfig, ns, "get", "etl-1")
    assert gone.returncode == 4 and "no archive to look in" in gone.stderr


def test_logs_of_a_live_pod_come_from_the_api_server(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    """kwok serves the running block's log from a file (tests/integration/podlogs.py):
    the plugin prints exactly those lines, prefixed with block/attempt."""
    require_pod_logs(cluster)
    lines = ["reading 3 files", "file 1 of 3", "file 2 of 3"]
    runs.apply(pipeline("slow", [block("wait")], template(duration="600s")))
    with namespace_logs(cluster, ns, write_log(tmp_path / "wait.log", lines)):
        runs.start("slow-1", "slow")
        runs.wait_block("slow-1", "wait", "Running")
        selector = f"{labels.RUN}=slow-1,{labels.BLOCK}=wait,{labels.ATTEMPT}=1"

        def running_pod() -> dict[str, Any] | None:
            # The block is Running once its pod (or Job) is created; the pod follows.
            found = cluster.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").json()
            running = [p for p in found["items"] if p["status"].get("phase") == "Running"]
            return running[0] if running else None

        pod_body = cluster.wait_for("the attempt's pod Running", running_pod)
        wait_logs(cluster, ns, pod_body["metadata"]["name"], "".join(f"{x}\n" for x in lines))
        shown = plugin(cluster.kubeconfig, ns, "logs", "slow-1", "wait")
    no_traceback(shown)
    assert shown.ok, shown.stderr
    assert shown.stdout.splitlines() == [f"[wait/1] {line}" for line in lines]
    # A log that is nowhere, with no archive configured: the message says where to look.
    nowhere = plugin(cluster.kubeconfig, ns, "logs", "slow-1", "nope")
    no_traceback(nowhere)
    assert nowhere.returncode == 4
    assert "no archive to look in: pass --archive URL or set RUNWRIGHT_ARCHIVE" in nowhere.stderr


# ----- rerun, watch, delete, triggers -----------------------------------------------------


def test_rerun_watch_and_delete_keeping_the_newest(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str
) -> None:
    runs.apply(pipeline("quick", [block("go")], template(duration="1s")))
    runs.start("quick-1", "quick", variables={"date": "2026-11-21"})
    runs.wait_phase("quick-1", "Succeeded")

    rerun = plugin(cluster.kubeconfig, ns, "rerun", "quick-1")
    assert rerun.ok, rerun.stdout + rerun.stderr
    (line,) = [x for x in rerun.stdout.splitlines() if x.startswith("pipelinerun/quick-1 rerun")]
    new = line.split("as pipelinerun/")[1].rstrip(")")
    watched = plugin(cluster.kubeconfig, ns, "watch", new, "--interval", "0.5")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert watched.stdout.strip().splitlines()[-1].split()[1:3] == [f"{ns}/{new}", "Succeeded"]
    body = runs.get(new)
    assert body["spec"]["rerunOf"]["name"] == "quick-1"
    assert body["spec"]["triggeredBy"] == "Rerun"
    assert status(body)["variables"]["date"] == "2026-11-21"

    runs.start("quick-2", "quick")
    selected = plugin(cluster.kubeconfig, ns, "watch", "--pipeline", "quick", "--interval", "0.5")
    assert selected.returncode == 0, selected.stdout + selected.stderr

    dry = plugin(
        cluster.kubeconfig, ns, "delete", "--pipeline", "quick", "--keep", "1", "--dry-run"
    )
    assert dry.ok and "will delete 2 runs" in dry.stdout, dry.stdout
    assert "among the 1 newest runs of pipeline quick (--keep)" in dry.stdout
    done = plugin(cluster.kubeconfig, ns, "delete", "--pipeline", "quick", "--keep", "1", "--yes")
    assert done.ok, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "deleted 2 of 2, 1 skipped"
    left = plugin(cluster.kubeconfig, ns, "list", "-o", "name")
    assert left.stdout.splitlines() == ["pipelinerun.runwright.dev/quick-2"]


def test_trigger_run_suspend_resume_and_next(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str
) -> None:
    runs.apply(pipeline("quick", [block("go")], variables={"region": "eu", "env": "dev"}))
    runs.apply(
        {
            "apiVersion": labels.API_VERSION,
            "kind": "Trigger",
            "metadata": {"name": "nightly"},
            "spec": {
                "pipelineRef": {"name": "quick"},
                "type": "Schedule",
                "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
                "variables": {"env": "prod"},
            },
        }
    )
    upcoming = plugin(cluster.kubeconfig, ns, "trigger", "next", "nightly", "-n", "3")
    assert upcoming.ok, upcoming.stderr
    lines = upcoming.stdout.splitlines()
    assert lines[0] == "trigger/nightly: cron '0 2 * * *' in Europe/Berlin"
    assert len(lines) == 4
    assert all(" 02:00 CE" in line and line.endswith(":00:00Z") for line in lines[1:])
    as_json = json.loads(
        plugin(cluster.kubeconfig, ns, "trigger", "next", "nightly", "-o", "json").stdout
    )
    assert len(as_json["fires"]) == 5 and as_json["timezone"] == "Europe/Berlin"

    assert plugin(cluster.kubeconfig, ns, "trigger", "suspend", "nightly").ok
    assert runs.get("nightly", kind="trigger")["spec"]["suspend"] is True
    assert plugin(cluster.kubeconfig, ns, "trigger", "resume", "nightly").ok
    assert runs.get("nightly", kind="trigger")["spec"]["suspend"] is False

    made = plugin(cluster.kubeconfig, ns, "trigger", "run", "nightly", "--var", "region=us")
    assert made.ok, made.stderr
    name = made.stdout.split()[0].removeprefix("pipelinerun/")
    body = runs.wait_phase(name, "Succeeded")
    assert body["spec"]["triggerRef"] == {"name": "nightly"}
    assert body["spec"]["triggeredBy"] == "Manual"
    assert status(body)["variables"] == {"region": "us", "env": "prod"}
    listed = plugin(cluster.kubeconfig, ns, "list", "--trigger", "nightly", "-o", "wide")
    assert name in listed.stdout and "TOKENS" in listed.stdout

    missing = plugin(cluster.kubeconfig, ns, "trigger", "run", "nope")
    assert missing.returncode == 4, missing.stderr
    assert f"get trigger {ns}/nope: not found" in missing.stderr


# ----- watch is a Kubernetes watch; list's first page from the Table --------------------------


def bare_run(cluster: Cluster, ns: str, name: str, pipeline_name: str = "p") -> None:
    """A PipelineRun no operator acts on: its status is what the test writes."""
    body = {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name, "labels": {labels.PIPELINE: pipeline_name}},
        "spec": {"pipelineRef": {"name": pipeline_name}},
    }
    cluster.apply(body, ns)


def set_status(cluster: Cluster, ns: str, name: str, **fields: Any) -> None:
    patch = json.dumps({"status": fields})
    cluster.kubectl(
        "patch", "pipelinerun", name, "-n", ns, "--subresource=status", "--type=merge", "-p", patch
    )


def watching(cluster: Cluster, ns: str, *args: str) -> subprocess.Popen[str]:
    """`kubectl-runwright watch ARGS` running, its output a pipe (a line per phase change)."""
    return subprocess.Popen(
        [PLUGIN, "watch", *args, f"--kubeconfig={cluster.kubeconfig}", "-n", ns],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_watch_prints_every_phase_once_in_order_and_exits_with_the_run_s_status(
    cluster: Cluster, ns: str
) -> None:
    """The phases are written back to back once the watch has listed the run: a command
    that read the run every few seconds would miss the ones in between."""
    bare_run(cluster, ns, "w-1")
    proc = watching(cluster, ns, "w-1")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the listed state: the watch starts from its version
        assert first.split()[1:3] == [f"{ns}/w-1", "Pending"], first + proc.stderr.read()
        for phase in ("Queued", "Running", "Failed"):
            set_status(cluster, ns, "w-1", phase=phase, progress="0/1")
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    phases = [line.split()[2] for line in [first, *rest.splitlines()]]
    assert phases == ["Pending", "Queued", "Running", "Failed"], rest + err
    assert proc.returncode == 1  # Failed: the local run's status


def test_watch_selection_ends_when_every_selected_run_finished(cluster: Cluster, ns: str) -> None:
    bare_run(cluster, ns, "s-1", "sel")
    bare_run(cluster, ns, "s-2", "sel")
    bare_run(cluster, ns, "other", "else")
    set_status(cluster, ns, "other", phase="Running")
    proc = watching(cluster, ns, "--pipeline", "sel")
    try:
        assert proc.stdout is not None
        listed = [proc.stdout.readline(), proc.stdout.readline()]
        set_status(cluster, ns, "s-1", phase="Succeeded")
        set_status(cluster, ns, "s-2", phase="Running")
        set_status(cluster, ns, "s-2", phase="Cancelled")
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    seen = [line.split()[1:3] for line in [*listed, *rest.splitlines()]]
    assert sorted(seen[:2]) == [[f"{ns}/s-1", "Pending"], [f"{ns}/s-2", "Pending"]], err
    assert seen[2:] == [
        [f"{ns}/s-1", "Succeeded"],
        [f"{ns}/s-2", "Running"],
        [f"{ns}/s-2", "Cancelled"],
    ], rest + err
    assert proc.returncode == 3  # one was Cancelled


def test_a_watch_from_an_expired_version_lists_again(cluster: Cluster, ns: str) -> None:
    """410 Gone (a resourceVersion older than the server keeps) is answered by a new list."""
    from runwright.cli.plugin import follow
    from runwright.cli.plugin.client import Cluster as PluginCluster
    from runwright.cli.plugin.client import Target

    bare_run(cluster, ns, "old-1")

    async def first_change() -> follow.Change:
        target = Target(str(cluster.kubeconfig), None, ns, False)
        async with await PluginCluster.connect(target) as plugin_cluster:
            stream = follow.changes(plugin_cluster, version="1")
            try:
                return await anext(stream)
            finally:
                await stream.aclose()

    change = asyncio.run(first_change())
    assert change.relisted
    assert [b["metadata"]["name"] for b in change.runs] == ["old-1"]


def test_list_first_page_is_the_full_order_s_first_rows(cluster: Cluster, ns: str) -> None:
    """The Table path (ages as bounds, then GETs) gives exactly the rows and order of a
    full read, for the default sort, its reverse, phase and a filter the Table cannot
    check (--by)."""
    for i in range(12):
        bare_run(cluster, ns, f"r-{i:02d}", f"p{i % 3}")
        set_status(
            cluster,
            ns,
            f"r-{i:02d}",
            phase=("Failed", "Succeeded", "Running")[i % 3],
            startedAt=f"2026-11-{20 + i % 5:02d}T{i:02d}:00:00Z",
        )
    cases = [
        [],
        ["--reverse"],
        ["--sort", "phase"],
        ["--sort", "pipeline", "--phase", "Failed"],
        ["--by", "Manual"],
    ]
    for case in cases:
        page = plugin(cluster.kubeconfig, ns, "list", "--limit", "5", "-o", "name", *case)
        every = plugin(cluster.kubeconfig, ns, "list", "--limit", "0", "-o", "name", *case)
        assert page.ok and every.ok, page.stderr + every.stderr
        assert page.stdout.splitlines() == every.stdout.splitlines()[:5], case
        assert len(page.stdout.splitlines()) == min(5, len(every.stdout.splitlines()))


def test_list_sorts_by_duration_items_and_cost_over_the_table_s_wide_columns(
    cluster: Cluster, ns: str
) -> None:
    """The measures are printer columns `kubectl get` shows only with -o wide; `list`
    orders its first page by them: the exact order (ties by name, runs without the value
    last), and the same rows as a full read."""
    # name: (durationSeconds, itemsProcessed, cost); None: the run has no such value.
    runs: dict[str, tuple[int | None, int | None, float | None]] = {
        "m-a": (30, 5, 0.5),
        "m-b": (90, 50, 0.25),
        "m-c": (30, None, 0.5),
        "m-d": (None, 7, None),  # still running: no duration yet
        "m-e": (5, None, None),
        "m-f": (600, 1, 3.0),
    }
    for name, (seconds, items, cost) in runs.items():
        bare_run(cluster, ns, name)
        metrics = {k: v for k, v in (("itemsProcessed", items), ("cost", cost)) if v is not None}
        fields: dict[str, Any] = {"phase": "Running", "startedAt": "2026-11-20T10:00:00Z"}
        if seconds is not None:
            fields |= {"phase": "Succeeded", "durationSeconds": seconds}
            fields["completedAt"] = f"2026-11-20T10:{seconds // 60:02d}:{seconds % 60:02d}Z"
        set_status(cluster, ns, name, metrics=metrics, **fields)
    wide = cluster.kubectl("get", "pipelineruns", "-n", ns, "-o", "wide").stdout.splitlines()[0]
    narrow = cluster.kubectl("get", "pipelineruns", "-n", ns).stdout.splitlines()[0]
    for column in ("DURATION SECONDS", "ITEMS", "COST"):
        assert column in wide and column not in narrow, column
    expected = {
        ("duration",): ["m-f", "m-b", "m-c", "m-a", "m-e", "m-d"],
        ("duration", "--reverse"): ["m-e", "m-a", "m-c", "m-b", "m-f", "m-d"],
        ("items",): ["m-b", "m-d", "m-a", "m-f", "m-c", "m-e"],
        ("cost",): ["m-f", "m-c", "m-a", "m-b", "m-d", "m-e"],
    }
    for (sort, *rest), order in expected.items():
        args = ["--sort", sort, *rest, "-o", "name"]
        page = plugin(cluster.kubeconfig, ns, "list", "--limit", "4", *args)
        every = plugin(cluster.kubeconfig, ns, "list", "--limit", "0", *args)
        assert page.ok and every.ok, page.stderr + every.stderr
        names = [line.rsplit("/", 1)[-1] for line in every.stdout.splitlines()]
        assert names == order, (sort, rest)
        assert page.stdout.splitlines() == every.stdout.splitlines()[:4], (sort, rest)
