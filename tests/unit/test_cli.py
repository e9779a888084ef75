"""The `runwright` command: validate, run, exit statuses, and messages for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runwright.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
RUNWRIGHT = str(Path(sys.executable).parent / "runwright")

HEADER = "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: etl}\n"
TRIGGER = (
    "apiVersion: runwright.dev/v1alpha1\nkind: Trigger\nmetadata: {name: nightly}\n"
    "spec:\n  pipelineRef: {name: etl}\n"
)

# (id, manifest, words the message must contain). Each is one mistake a user makes.
INVALID: list[tuple[str, str, list[str]]] = [
    (
        "broken-yaml",
        HEADER + "spec:\n  blocks:\n  - name: a\n    command: [python3, -c\n",
        ["bad.yaml:7:", "invalid YAML", "flow sequence"],
    ),
    (
        "wrong-api-version",
        "apiVersion: runwright.dev/v1\nkind: Pipeline\nmetadata: {name: etl}\n"
        "spec: {blocks: [{name: a}]}\n",
        [
            "bad.yaml:1:",
            "apiVersion",
            '"runwright.dev/v1" is not supported',
            "runwright.dev/v1alpha1",
        ],
    ),
    (
        "missing-api-version",
        "kind: Pipeline\nmetadata: {name: etl}\nspec: {blocks: [{name: a}]}\n",
        ["apiVersion: missing", "runwright.dev/v1alpha1"],
    ),
    (
        "wrong-kind",
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipline\nmetadata: {name: etl}\n",
        ["kind:", '"Pipline" is not a Runwright kind', 'did you mean "Pipeline"'],
    ),
    (
        "not-a-mapping",
        "- name: etl\n- name: load\n",
        ["document 1 is a list, not a mapping"],
    ),
    (
        "missing-spec",
        HEADER,
        ["Pipeline etl: spec: is required but missing"],
    ),
    (
        "missing-name",
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {}\n"
        "spec: {blocks: [{name: a}]}\n",
        ["metadata.name: missing", "needs a name"],
    ),
    (
        "unknown-field",
        HEADER + "spec:\n  blocks:\n  - name: a\n  - name: b\n    upstreams: [a]\n",
        [
            "bad.yaml:8:",
            "Pipeline etl: spec.blocks[1].upstreams",
            'unknown field "upstreams" (did you mean "upstream"?)',
        ],
    ),
    (
        "bad-block-name",
        HEADER + "spec:\n  blocks:\n  - name: Extract_Orders\n",
        ["spec.blocks[0].name", '"Extract_Orders" is not a valid name', '"extract-orders"'],
    ),
    (
        "duplicate-block",
        HEADER + "spec:\n  blocks:\n  - name: load\n  - name: load\n",
        ["spec.blocks[1].name", "already the name of spec.blocks[0]", "must be unique"],
    ),
    (
        "unknown-upstream",
        HEADER + "spec:\n  blocks:\n  - name: load\n  - name: export\n    upstream: [lod]\n",
        ["bad.yaml:8:", 'spec.blocks[1].upstream[0]: names "lod", no such block', '"load"?'],
    ),
    (
        "cycle",
        HEADER + "spec:\n  blocks:\n  - name: a\n    upstream: [c]\n  - name: b\n"
        "    upstream: [a]\n  - name: c\n    upstream: [b]\n",
        ["cycle", "a -> b -> c -> a", "remove one of these upstream edges"],
    ),
    (
        "self-upstream",
        HEADER + "spec:\n  blocks:\n  - name: a\n    upstream: [a]\n",
        ["spec.blocks[0].upstream[0]", "cannot be its own upstream"],
    ),
    (
        "unknown-template-variable",
        HEADER + "spec:\n  variables: {env: prod}\n  blocks:\n  - name: a\n"
        '    args: ["{{ variables.evn }}"]\n',
        ["spec.blocks[0].args[0]", "variables.evn is not a variable", 'did you mean "env"'],
    ),
    (
        "template-reads-non-upstream",
        HEADER + "spec:\n  blocks:\n  - name: a\n  - name: b\n"
        '    args: ["{{ blocks.a.outputs.rows }}"]\n',
        ["spec.blocks[1].args[0]", "blocks.a is not upstream of this block", 'add "a"'],
    ),
    (
        "bad-enum",
        HEADER + "spec:\n  concurrency: {onLimit: Later}\n  blocks: [{name: a}]\n",
        ["spec.concurrency.onLimit", '"Later" is not allowed', "Wait, Skip"],
    ),
    (
        "negative-retry-limit",
        HEADER + "spec:\n  blocks:\n  - name: a\n    retry: {limit: -1}\n",
        ["spec.blocks[0].retry.limit", "-1 is out of range", "at least 0"],
    ),
    (
        "unquoted-boolean-value",
        HEADER + "spec:\n  blocks:\n  - name: a\n    env: [{name: DEBUG, value: yes}]\n",
        ["spec.blocks[0].env[0].value", "expected a string, got true", 'quote it: "true"'],
    ),
    (
        "no-blocks",
        HEADER + "spec:\n  blocks: []\n",
        ["spec.blocks", "needs at least 1 item"],
    ),
    (
        "bad-cron",
        TRIGGER + "  type: Schedule\n  schedule: {cron: '61 * * * *'}\n",
        ["Trigger nightly: spec.schedule.cron", '"61 * * * *" is not a valid cron expression'],
    ),
    (
        "six-field-cron",
        TRIGGER + "  type: Schedule\n  schedule: {cron: '0 0 2 * * *'}\n",
        ["spec.schedule.cron", "has 6 fields", "seconds are not supported"],
    ),
    (
        "unknown-timezone",
        TRIGGER + "  type: Schedule\n  schedule: {cron: '@daily', timezone: Europe/Berln}\n",
        ["spec.schedule.timezone", "not an IANA time zone", 'did you mean "Europe/Berlin"'],
    ),
    (
        "trigger-missing-config",
        TRIGGER + "  type: Schedule\n",
        ["Trigger nightly: spec.schedule", "is required when spec.type is Schedule"],
    ),
    (
        "trigger-config-of-another-type",
        TRIGGER + "  type: AlwaysOn\n  once: {}\n",
        ["spec.once", "only allowed when spec.type is Once"],
    ),
    (
        "time-without-zone",
        TRIGGER
        + "  type: Schedule\n  schedule: {cron: '@daily', startTime: '2026-01-01T00:00:00'}\n",
        ["spec.schedule.startTime", "a time needs a zone"],
    ),
    (
        "duplicate-yaml-key",
        HEADER + "spec:\n  blocks:\n  - name: a\n    command: [x]\n    command: [y]\n",
        ["bad.yaml:8:", 'key "command" appears twice'],
    ),
]


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("manifest", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_validate_explains_each_invalid_manifest_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str, words: list[str]
) -> None:
    path = write(tmp_path, manifest)
    assert main(["validate", path]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert out == ""
    assert err.startswith(path), err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"


NOT_TRIGGERS = [c for c in INVALID if "kind: Trigger" not in c[1]]


@pytest.mark.parametrize(
    ("manifest", "words"), [c[1:] for c in NOT_TRIGGERS], ids=[c[0] for c in NOT_TRIGGERS]
)
def test_run_refuses_an_invalid_pipeline_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str, words: list[str]
) -> None:
    path = write(tmp_path, manifest)
    assert main(["run", path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "BlockStarted" not in err
    assert words[-1] in err


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out, _ = capsys.readouterr()
    for path in EXAMPLES:
        assert f"ok: {path}: Pipeline {path.stem}" in out


def test_validate_reports_every_problem_of_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(EXAMPLES[0])
    bad = write(tmp_path, INVALID[9][1] + "---\n" + INVALID[15][1])
    assert main(["validate", good, bad, str(tmp_path / "missing.yaml")]) == 2
    out, err = capsys.readouterr()
    assert f"ok: {good}" in out
    assert "DuplicateBlock" not in err  # reasons are for machines; lines say it in words
    assert "already the name" in err and '"Later" is not allowed' in err
    assert "missing.yaml: no such file" in err


def test_validate_accepts_a_valid_trigger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        TRIGGER + "  type: Schedule\n  schedule: {cron: '0 2 * * *', timezone: Europe/Berlin}\n",
        "trigger.yaml",
    )
    assert main(["validate", path]) == 0
    assert f"ok: {path}: Trigger nightly" in capsys.readouterr().out


def test_run_prints_the_finished_run_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(ROOT / "examples" / "diamond-etl.yaml"), "-o", "json"]) == 0
    out, err = capsys.readouterr()
    run = json.loads(out)
    assert run["kind"] == "PipelineRun"
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["metrics"] == {"itemsProcessed": 4750}
    assert run["metadata"]["name"].startswith("diamond-etl-local-")
    assert "BlockSucceeded export" in err  # not a terminal: one line per event


def test_run_prints_the_finished_run_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples" / "conditional.yaml")
    assert main(["run", path, "-o", "yaml", "--var", "env=dev"]) == 0
    run = yaml.safe_load(capsys.readouterr().out)
    assert run["status"]["variables"]["env"] == "dev"
    assert run["status"]["blocks"]["deploy-prod"]["phase"] == "ConditionFailed"


def test_run_prints_a_summary_table_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(ROOT / "examples" / "flaky-retries.yaml")]) == 0
    out, _ = capsys.readouterr()
    assert "Succeeded" in out and "fetch" in out and "lint" in out and "Failed" in out


def test_run_exits_1_when_the_run_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        HEADER + "spec:\n  blocks:\n  - name: a\n"
        "    command: [python3, -c, \"import sys; print('no rows'); sys.exit(1)\"]\n",
        "fail.yaml",
    )
    assert main(["run", path]) == 1
    out, _ = capsys.readouterr()
    assert "Failed" in out and "no rows" in out


def test_a_malformed_var_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLES[0]), "--var", "env"]) == 2
    assert '--var "env": expected KEY=VALUE' in capsys.readouterr().err


def test_run_variables_may_add_new_names(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples" / "conditional.yaml")
    assert main(["run", path, "--var", "owner=me=too", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"]["variables"]["owner"] == "me=too"


def test_a_file_with_several_pipelines_needs_pipeline_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [(ROOT / "examples" / n).read_text() for n in ("conditional.yaml", "diamond-etl.yaml")]
    path = write(tmp_path, "\n---\n".join(docs), "two.yaml")
    assert main(["run", path]) == 2
    assert "has 2 Pipelines (conditional, diamond-etl); choose one with --pipeline NAME" in (
        capsys.readouterr().err
    )
    assert main(["run", path, "--pipeline", "diamnd-etl"]) == 2
    assert 'did you mean "diamond-etl"' in capsys.readouterr().err
    assert main(["run", path, "--pipeline", "conditional", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["spec"]["pipelineRef"]["name"] == "conditional"


def test_a_file_with_a_trigger_besides_the_pipeline_needs_pipeline_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline_doc = (ROOT / "examples" / "conditional.yaml").read_text()
    trigger_doc = TRIGGER + "  type: Schedule\n  schedule: {cron: '@daily'}\n"
    path = write(tmp_path, pipeline_doc + "\n---\n" + trigger_doc, "mixed.yaml")
    assert main(["run", path]) == 2
    assert "Trigger nightly besides Pipeline conditional" in capsys.readouterr().err
    assert main(["run", path, "--pipeline", "conditional", "-o", "json"]) == 0


def test_a_file_without_pipelines_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TRIGGER + "  type: AlwaysOn\n", "trigger.yaml")
    assert main(["run", path]) == 2
    assert "has no Pipeline to run (it has: Trigger nightly)" in capsys.readouterr().err


def test_a_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_an_empty_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", write(tmp_path, "# nothing\n", "empty.yaml")]) == 2
    assert "no manifests found" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("runwright 0.")


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: runwright" in capsys.readouterr().err


# ----- end to end, through the installed console script ----------------------------


def test_console_script_runs_an_example_and_prints_json() -> None:
    proc = subprocess.run(
        [RUNWRIGHT, "run", "examples/diamond-etl.yaml", "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"]["phase"] == "Succeeded"


def test_console_script_reports_broken_yaml_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: Pipeline\nspec: [\n")
    proc = subprocess.run(
        [RUNWRIGHT, "validate", path], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "invalid YAML" in proc.stderr


def test_console_script_sigint_cancels_the_run_and_exits_3(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "spec:\n  blocks:\n  - name: wait\n"
        "    command: [python3, -c, 'import time; time.sleep(60)']\n"
        "  - name: after\n    upstream: [wait]\n    command: [python3, -c, 'pass']\n",
        "slow.yaml",
    )
    proc = subprocess.Popen(
        [RUNWRIGHT, "run", path, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait for the block to start: no sleeping, no guessing
            if "BlockStarted wait" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    status = json.loads(out)["status"]
    assert status["phase"] == "Cancelled"
    assert status["blocks"]["wait"]["phase"] == "Cancelled"
    assert status["blocks"]["after"]["phase"] == "Cancelled"


def test_make_demo_local_finds_every_example_pipeline() -> None:
    text = (ROOT / "Makefile").read_text()
    target = text[text.index("demo-local:") :].split("\n\n", 1)[0]
    assert "examples/*.yaml" in target
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in EXAMPLES]
    assert kinds == ["Pipeline"] * len(EXAMPLES)
    assert len(EXAMPLES) >= 3
